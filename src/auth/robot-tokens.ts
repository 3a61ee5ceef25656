import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isValidName } from '../registry/index.ts';
import type { AuthLog } from './htpasswd.ts';
import { ALL_ACTIONS, type Action, type Authenticator, type Credentials, type Identity, type RepositoryScope } from './types.ts';

/**
 * CI / robot tokens: long random secrets made by `berth token create`, each granting exactly
 * its scopes (`repository:NAME:ACTIONS`). A token reads `berth_<id>_<secret>`: `id` is 16 hex
 * characters, public, and finds the row with one indexed query; `secret` is 32 random bytes in
 * base64url. Only the sha256 of the whole token text is stored, compared in constant time.
 */
export const ROBOT_TOKEN_PREFIX = 'berth_';
const TOKEN_PATTERN = /^berth_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9._-]{0,62})$/;

/** A robot token as the authenticator reads it from the store (times in epoch ms). */
export interface StoredRobotToken {
  readonly id: string;
  readonly name: string;
  /** Hex sha256 of the token text. */
  readonly secretHash: string;
  readonly scopes: readonly string[];
  readonly expiresAt: number | null;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

/** What the authenticator needs from the metadata store (`MetadataStore` has it). */
export interface RobotTokenStore {
  findRobotToken(id: string): Promise<StoredRobotToken | undefined>;
  touchRobotToken(id: string, now: number): Promise<void>;
}

/** A scope, name or expiry `berth token create` cannot use; the message says why. */
export class RobotTokenError extends Error {
  /** Exit code for the command line: 2 for unusable input (default), 1 for nothing found. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'RobotTokenError';
    this.exitCode = exitCode;
  }
}

export interface NewRobotToken {
  id: string;
  /** The token text, shown once and never stored. */
  token: string;
  secretHash: string;
}

/** A fresh token: a random public id and 32 random secret bytes. */
export function generateRobotToken(): NewRobotToken {
  const id = randomBytes(8).toString('hex');
  const token = `${ROBOT_TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
  return { id, token, secretHash: hashRobotToken(token) };
}

export function hashRobotToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The id of a well-formed token text, or undefined when the text is not a robot token. */
export function robotTokenId(text: string): string | undefined {
  return TOKEN_PATTERN.exec(text)?.[1];
}

/** Why a token name is unusable, or undefined when it is fine. */
export function robotTokenNameProblem(name: string): string | undefined {
  if (!NAME_PATTERN.test(name)) return `token name "${name.slice(0, 80)}" must be 1 to 63 characters a-z 0-9 . _ -, starting with a letter or digit`;
  if (/^[0-9a-f]{16}$/.test(name)) return `token name "${name}" looks like a token id (16 hex characters); choose another`;
  return undefined;
}

/**
 * Parses `repository:NAME:ACTIONS` (actions comma-separated: pull, push, delete, `*` for all)
 * with the registry's name grammar, so `repository:../x:push` or `repository:Team/App:pull`
 * never become grants. Throws a RobotTokenError that says what is wrong.
 */
export function parseRobotScope(text: string): RepositoryScope {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first < 0 || last === first) throw new RobotTokenError(`scope "${text.slice(0, 300)}" is not of the form repository:NAME:ACTIONS (e.g. repository:team/app:pull,push)`);
  const type = text.slice(0, first);
  if (type !== 'repository') throw new RobotTokenError(`scope "${text.slice(0, 300)}": only repository scopes can be granted, not "${type.slice(0, 80)}"`);
  const repository = text.slice(first + 1, last);
  if (!isValidName(repository)) {
    throw new RobotTokenError(
      `scope "${text.slice(0, 300)}": "${repository.slice(0, 255)}" is not a repository name (lowercase components of a-z 0-9 separated by /, joined within a component by ., _, __ or -; no patterns, no ..)`,
    );
  }
  const actions = new Set<Action>();
  for (const action of text.slice(last + 1).split(',')) {
    if (action === '*') for (const each of ALL_ACTIONS) actions.add(each);
    else if ((ALL_ACTIONS as readonly string[]).includes(action)) actions.add(action as Action);
    else throw new RobotTokenError(`scope "${text.slice(0, 300)}": "${action.slice(0, 80)}" is not an action (pull, push, delete, *)`);
  }
  return { repository, actions: ALL_ACTIONS.filter((action) => actions.has(action)) };
}

/** Parses every scope and merges the actions of scopes on the same repository (first appearance order). */
export function parseRobotScopes(texts: readonly string[]): RepositoryScope[] {
  const merged = new Map<string, Set<Action>>();
  for (const text of texts) {
    const scope = parseRobotScope(text);
    const actions = merged.get(scope.repository) ?? new Set<Action>();
    for (const action of scope.actions) actions.add(action);
    merged.set(scope.repository, actions);
  }
  return [...merged].map(([repository, actions]) => ({ repository, actions: ALL_ACTIONS.filter((action) => actions.has(action)) }));
}

export function formatRobotScope(scope: RepositoryScope): string {
  return `repository:${scope.repository}:${scope.actions.join(',')}`;
}

/** Compared against when the id is unknown, so both paths do the same work. */
const UNKNOWN = Buffer.alloc(32);

export interface RobotTokenAuthenticatorOptions {
  store: RobotTokenStore;
  log?: AuthLog | undefined;
  /** A use is written to the store at most this often per token; default 60 s. */
  touchIntervalMs?: number;
}

/**
 * Basic credentials whose password is a robot token (the username is not checked: any, the
 * token's name included, is accepted). The identity is `robot:<name>` and carries the
 * token's scopes as its `grants`, which replace the access rules for it. Every check reads
 * the row, so a revocation is seen by the next request; revoked and expired tokens prove
 * nothing (401).
 */
export class RobotTokenAuthenticator implements Authenticator {
  readonly name = 'robot-token';
  readonly #store: RobotTokenStore;
  readonly #log: AuthLog | undefined;
  readonly #touchIntervalMs: number;
  /** When this process last wrote a use of each token, so concurrent requests write once. */
  readonly #touched = new Map<string, number>();

  constructor(options: RobotTokenAuthenticatorOptions) {
    this.#store = options.store;
    this.#log = options.log;
    this.#touchIntervalMs = options.touchIntervalMs ?? 60_000;
  }

  async authenticate(credentials: Credentials): Promise<Identity | undefined> {
    if (credentials.kind !== 'basic') return undefined;
    const id = robotTokenId(credentials.password);
    if (id === undefined) return undefined;
    const stored = await this.#store.findRobotToken(id);
    const presented = createHash('sha256').update(credentials.password, 'utf8').digest();
    const expected = stored && /^[0-9a-f]{64}$/.test(stored.secretHash) ? Buffer.from(stored.secretHash, 'hex') : UNKNOWN;
    const matches = timingSafeEqual(presented, expected);
    if (!stored || !matches) return undefined;
    const now = Date.now();
    if (stored.revokedAt !== null || (stored.expiresAt !== null && stored.expiresAt <= now)) return undefined;
    const grants: RepositoryScope[] = [];
    for (const scope of stored.scopes) {
      try {
        grants.push(parseRobotScope(scope));
      } catch {
        // A stored scope outside today's grammar grants nothing.
      }
    }
    await this.#recordUse(stored, now);
    return { name: `robot:${stored.name}`, groups: [], source: this.name, grants };
  }

  async #recordUse(stored: StoredRobotToken, now: number): Promise<void> {
    const last = Math.max(stored.lastUsedAt ?? -Infinity, this.#touched.get(stored.id) ?? -Infinity);
    if (now - last < this.#touchIntervalMs) return;
    if (this.#touched.size > 10_000) this.#touched.clear();
    this.#touched.set(stored.id, now);
    try {
      await this.#store.touchRobotToken(stored.id, now);
    } catch (error) {
      // Never fails the request: the token is valid, only its last-used time is late.
      this.#log?.error({ tokenId: stored.id, err: (error as Error).message }, 'cannot record the use of a robot token');
    }
  }
}
