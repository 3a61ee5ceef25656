import { hash as bcryptHash, verify as bcryptVerify } from '@node-rs/bcrypt';
import type { AuthLog } from './htpasswd.ts';
import { RememberedLogins } from './remembered.ts';
import type { Authenticator, Credentials, Identity } from './types.ts';

/**
 * Users stored in the metadata database (`berth user add|passwd|del|list|groups`): a bcrypt
 * hash per user and group memberships that become `group:NAME` subjects in access rules.
 * Every login reads the user's row (one indexed query), so a deleted or changed user is
 * refused from the next request; only the bcrypt check is remembered, bound to the hash.
 */

/** Cost of the bcrypt hashes `berth user add` and `berth user passwd` write. */
export const USER_BCRYPT_COST = 10;
const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** A user as the authenticator reads it from the store. */
export interface StoredUser {
  readonly name: string;
  readonly passwordHash: string;
  readonly groups: readonly string[];
  readonly disabled: boolean;
}

/** What the authenticator needs from the metadata store (`MetadataStore` has it). */
export interface UserStore {
  findUser(name: string): Promise<StoredUser | undefined>;
}

/** Why a user or group name is unusable, or undefined when it is fine. */
export function userNameProblem(name: string, what = 'user name'): string | undefined {
  if (!NAME_PATTERN.test(name)) return `${what} "${name.slice(0, 80)}" must be 1 to 64 characters a-z 0-9 . _ -, starting with a letter or digit`;
  return undefined;
}

/** A bcrypt hash of a new password, at the cost new hashes get. */
export function hashUserPassword(password: string, cost = USER_BCRYPT_COST): Promise<string> {
  return bcryptHash(password, { cost, version: '2b' });
}

export interface DatabaseUsersOptions {
  store: UserStore;
  log?: AuthLog | undefined;
  /** How long a verified password is remembered (bound to the stored hash); default 5 minutes, 0 turns it off. */
  rememberMs?: number;
  /** Checks a password against a bcrypt hash; replaceable so tests can count the calls. */
  verify?: (password: string, hash: string) => Promise<boolean>;
}

export class DatabaseUserAuthenticator implements Authenticator {
  readonly name = 'users';
  readonly #store: UserStore;
  readonly #log: AuthLog | undefined;
  readonly #verify: (password: string, hash: string) => Promise<boolean>;
  readonly #remembered: RememberedLogins;
  #dummy: Promise<string> | undefined;

  constructor(options: DatabaseUsersOptions) {
    this.#store = options.store;
    this.#log = options.log;
    this.#verify = options.verify ?? bcryptVerify;
    this.#remembered = new RememberedLogins(options.rememberMs ?? 5 * 60_000);
  }

  async authenticate(credentials: Credentials): Promise<Identity | undefined> {
    if (credentials.kind !== 'basic') return undefined;
    const { username, password } = credentials;
    const user = NAME_PATTERN.test(username) ? await this.#store.findUser(username) : undefined;
    const usable = user !== undefined && !user.disabled ? user : undefined;
    if (usable && this.#remembered.has(username, password, usable.passwordHash)) return identityOf(usable);
    // Unknown and disabled users get the same bcrypt work as known ones, so timing does not tell them apart.
    const hash = usable?.passwordHash ?? (await this.#dummyHash());
    let valid: boolean;
    try {
      valid = await this.#verify(password, hash);
    } catch (error) {
      this.#log?.error({ user: username, error: (error as Error).message }, 'stored password hash of a database user cannot be checked');
      return undefined;
    }
    if (!valid || !usable) return undefined;
    this.#remembered.add(username, password, usable.passwordHash, true);
    return identityOf(usable);
  }

  async exists(name: string): Promise<boolean> {
    if (!NAME_PATTERN.test(name)) return false;
    const user = await this.#store.findUser(name);
    return user !== undefined && !user.disabled;
  }

  #dummyHash(): Promise<string> {
    this.#dummy ??= hashUserPassword('berth-dummy-password-for-unknown-users');
    return this.#dummy;
  }
}

function identityOf(user: StoredUser): Identity {
  return { name: user.name, groups: [...user.groups], source: 'users' };
}
