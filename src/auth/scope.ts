import { isValidName } from '../registry/index.ts';
import { ALL_ACTIONS, type Action } from './types.ts';

/**
 * A Docker token scope (`repository:NAME:ACTIONS` or `registry:catalog:*`), parsed. Scopes
 * name what a token is asked for and what it grants (its `access` claim has the same shape).
 */
export type TokenScope =
  | { readonly type: 'repository'; readonly name: string; readonly actions: readonly Action[] }
  | { readonly type: 'registry'; readonly name: 'catalog'; readonly actions: readonly ['*'] };

/** One entry of a token's `access` claim, as written into the JWT. */
export interface AccessClaim {
  type: string;
  name: string;
  actions: string[];
}

export const CATALOG_SCOPE: TokenScope = { type: 'registry', name: 'catalog', actions: ['*'] };

/** Longest scope string considered; longer ones are dropped unread. */
const MAX_SCOPE_LENGTH = 512;

/**
 * Parses one scope. Answers undefined for anything outside the grammar: an unknown resource
 * type, a resource class (`repository(plugin):…`), a name that is not a valid repository
 * name (path tricks such as `../x`, upper case, a `host:port` prefix: Berth names carry no
 * registry host), unknown actions, or no actions at all. `*` stands for pull, push and
 * delete; duplicate actions collapse, in the order pull, push, delete.
 */
export function parseScope(scope: string): TokenScope | undefined {
  if (scope.length === 0 || scope.length > MAX_SCOPE_LENGTH) return undefined;
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const actionList = scope.slice(last + 1).split(',');
  if (type === 'registry') {
    return name === 'catalog' && actionList.length === 1 && actionList[0] === '*' ? CATALOG_SCOPE : undefined;
  }
  if (type !== 'repository' || !isValidName(name)) return undefined;
  const actions = new Set<Action>();
  for (const action of actionList) {
    if (action === '*') for (const each of ALL_ACTIONS) actions.add(each);
    else if ((ALL_ACTIONS as readonly string[]).includes(action)) actions.add(action as Action);
    else return undefined;
  }
  return { type: 'repository', name, actions: ALL_ACTIONS.filter((action) => actions.has(action)) };
}

/**
 * Parses many scopes (each `scope` parameter may hold several separated by spaces, as
 * OAuth2 writes them), drops those outside the grammar and merges the actions of scopes
 * on the same repository. The order of first appearance is kept.
 */
export function parseScopes(values: Iterable<string>): TokenScope[] {
  const merged = new Map<string, TokenScope>();
  for (const value of values) {
    for (const text of value.split(' ')) {
      const scope = parseScope(text);
      if (!scope) continue;
      const key = `${scope.type}:${scope.name}`;
      const existing = merged.get(key);
      if (!existing || scope.type === 'registry') {
        merged.set(key, scope);
        continue;
      }
      const actions = new Set([...existing.actions, ...scope.actions] as Action[]);
      merged.set(key, { type: 'repository', name: scope.name, actions: ALL_ACTIONS.filter((action) => actions.has(action)) });
    }
    if (merged.size > 100) break;
  }
  return [...merged.values()];
}

export function formatScope(scope: TokenScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/**
 * Reads a verified token's `access` claim back into scopes; entries outside the grammar
 * grant nothing. Undefined when the claim is not a list of access entries at all.
 */
export function scopesOfClaim(claim: unknown): TokenScope[] | undefined {
  if (!Array.isArray(claim)) return undefined;
  const scopes: TokenScope[] = [];
  for (const entry of claim as unknown[]) {
    if (typeof entry !== 'object' || entry === null) return undefined;
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions) || !actions.every((a) => typeof a === 'string')) return undefined;
    if (actions.length === 0) continue;
    const scope = parseScope(`${type}:${name}:${(actions as string[]).join(',')}`);
    if (scope) scopes.push(scope);
  }
  return scopes;
}

/** The actions a set of granted scopes gives on a repository. */
export function grantedActions(grants: readonly TokenScope[], repository: string): ReadonlySet<Action> {
  const actions = new Set<Action>();
  for (const grant of grants) if (grant.type === 'repository' && grant.name === repository) for (const action of grant.actions) actions.add(action);
  return actions;
}

export function grantsCatalog(grants: readonly TokenScope[]): boolean {
  return grants.some((grant) => grant.type === 'registry');
}
