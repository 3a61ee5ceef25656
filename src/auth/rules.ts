import { addressMatcher } from './network.ts';
import { compileRepositoryPattern, type RepositoryMatcher } from './patterns.ts';
import { ALL_ACTIONS, type AccessPolicy, type Action, type Identity } from './types.ts';

/** An access rule as configured (`access.rules`). */
export interface AccessRule {
  repositories: readonly string[];
  /** `user:NAME`, `group:NAME`, `anonymous`, `authenticated`. */
  subjects: readonly string[];
  /** `pull`, `push`, `delete` or `*`. */
  actions: readonly string[];
  /** Client networks (CIDRs) the rule is limited to; absent: any address. */
  from?: readonly string[] | undefined;
}

/** What applies when authentication is on and no rules are given: as distribution with htpasswd. */
export const DEFAULT_RULES: readonly AccessRule[] = [{ repositories: ['**'], subjects: ['authenticated'], actions: ['pull', 'push'] }];

type SubjectMatcher = (identity: Identity | undefined) => boolean;

interface CompiledRule {
  repositories: RepositoryMatcher[];
  subjects: SubjectMatcher[];
  actions: ReadonlySet<Action>;
  /** Whether the client's address is one the rule applies from (always true without `from`). */
  from: (address: string | undefined) => boolean;
  /** True when this rule covers every repository (`**`). */
  everywhere: boolean;
}

/** Why a subject is unusable, or undefined when it is fine. */
export function subjectProblem(subject: string): string | undefined {
  if (subject === 'anonymous' || subject === 'authenticated') return undefined;
  const match = /^(user|group):(.+)$/.exec(subject);
  if (!match) return `"${subject}" is not a subject (user:NAME, group:NAME, anonymous, authenticated)`;
  return undefined;
}

export function actionProblem(action: string): string | undefined {
  return action === '*' || (ALL_ACTIONS as readonly string[]).includes(action) ? undefined : `"${action}" is not an action (pull, push, delete, *)`;
}

function compileSubject(subject: string): SubjectMatcher {
  const problem = subjectProblem(subject);
  if (problem) throw new Error(problem);
  if (subject === 'anonymous') return (identity) => identity === undefined;
  if (subject === 'authenticated') return (identity) => identity !== undefined;
  const name = subject.slice(subject.indexOf(':') + 1);
  if (subject.startsWith('user:')) return (identity) => identity?.name === name;
  return (identity) => identity?.groups.includes(name) ?? false;
}

function compileActions(actions: readonly string[]): ReadonlySet<Action> {
  const result = new Set<Action>();
  for (const action of actions) {
    const problem = actionProblem(action);
    if (problem) throw new Error(problem);
    if (action === '*') for (const each of ALL_ACTIONS) result.add(each);
    else result.add(action as Action);
  }
  return result;
}

const NOTHING: ReadonlySet<Action> = new Set();

/**
 * Access from rules: the actions an identity has on a repository are the union of the
 * actions of every rule whose repository patterns and subjects both match. Nothing matches:
 * no access. With `personalNamespace`, every user has every action on `<user>/*`.
 */
export class RuleAccessPolicy implements AccessPolicy {
  readonly #rules: CompiledRule[];
  readonly #personalNamespace: boolean;

  constructor(rules: readonly AccessRule[], options: { personalNamespace?: boolean } = {}) {
    this.#rules = rules.map((rule) => ({
      repositories: rule.repositories.map(compileRepositoryPattern),
      subjects: rule.subjects.map(compileSubject),
      actions: compileActions(rule.actions),
      from: rule.from ? addressMatcher(rule.from) : () => true,
      everywhere: rule.repositories.includes('**'),
    }));
    this.#personalNamespace = options.personalNamespace ?? false;
  }

  actionsOn(identity: Identity | undefined, repository: string, address?: string): ReadonlySet<Action> {
    if (identity && this.#personalNamespace && isPersonal(identity, repository)) return new Set(ALL_ACTIONS);
    let granted: Set<Action> | undefined;
    for (const rule of this.#rules) {
      if (!rule.subjects.some((matches) => matches(identity))) continue;
      if (!rule.from(address)) continue;
      if (!rule.repositories.some((matches) => matches(repository))) continue;
      granted ??= new Set();
      for (const action of rule.actions) granted.add(action);
      if (granted.size === ALL_ACTIONS.length) break;
    }
    return granted ?? NOTHING;
  }

  pullableRepositories(identity: Identity | undefined, address?: string): ((repository: string) => boolean) | undefined {
    const everywhere = this.#rules.some((rule) => rule.everywhere && rule.actions.has('pull') && rule.subjects.some((matches) => matches(identity)) && rule.from(address));
    if (everywhere) return undefined;
    return (repository) => this.actionsOn(identity, repository, address).has('pull');
  }
}

function isPersonal(identity: Identity, repository: string): boolean {
  const slash = repository.indexOf('/');
  return slash > 0 && repository.slice(0, slash) === identity.name && !repository.includes('/', slash + 1);
}
