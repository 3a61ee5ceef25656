import { readFile, stat } from 'node:fs/promises';
import { hash as bcryptHash, verify as bcryptVerify } from '@node-rs/bcrypt';
import { RememberedLogins } from './remembered.ts';
import type { Authenticator, Credentials, Identity } from './types.ts';

/** Where problems with a reloaded file are reported (a pino logger fits). */
export interface AuthLog {
  error(details: object, message: string): void;
  info(details: object, message: string): void;
}

/** An htpasswd file Berth cannot use; `problems` name the line and the user, never the hash. */
export class HtpasswdError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`htpasswd file ${file} cannot be used:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'HtpasswdError';
    this.problems = problems;
  }
}

/** A bcrypt hash as `htpasswd -B` writes it (`$2y$`), or as other tools do (`$2a$`, `$2b$`). */
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** What a refused hash looks like, to say which kind it is. */
function describeHash(value: string): string {
  if (value.startsWith('$apr1$')) return 'an MD5 ($apr1$) hash, as plain `htpasswd` writes';
  if (value.startsWith('{SHA}')) return 'a SHA-1 ({SHA}) hash, as `htpasswd -s` writes';
  if (value.startsWith('$1$')) return 'an MD5-crypt ($1$) hash';
  if (value.startsWith('$5$') || value.startsWith('$6$')) return 'a SHA-crypt hash';
  if (/^\$2[a-z]?\$/.test(value)) return 'a malformed bcrypt hash';
  if (/^[./A-Za-z0-9]{13}$/.test(value)) return 'a DES crypt hash, as `htpasswd -d` writes, or a plain-text password';
  return 'a plain-text password or an unknown hash kind';
}

/**
 * Parses an htpasswd file: `user:hash` per line, blank lines and `#` comments allowed. Only
 * bcrypt hashes are accepted; every other kind is refused with the line number and user.
 */
export function parseHtpasswd(text: string, file = 'htpasswd'): Map<string, string> {
  const users = new Map<string, string>();
  const problems: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const where = `line ${index + 1}`;
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      problems.push(`${where}: not of the form user:hash`);
      return;
    }
    const user = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!BCRYPT.test(value)) {
      problems.push(`${where} (user "${user}"): ${describeHash(value)} is not accepted; only bcrypt (htpasswd -B) hashes are`);
      return;
    }
    if (users.has(user)) {
      problems.push(`${where} (user "${user}"): the user is listed twice`);
      return;
    }
    users.set(user, value);
  });
  if (problems.length > 0) throw new HtpasswdError(file, problems);
  return users;
}

function mostCommon(values: number[]): number | undefined {
  const counts = new Map<number, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function costOf(hash: string): number {
  return Number(BCRYPT.exec(hash)?.[1] ?? 10);
}

interface Loaded {
  users: Map<string, string>;
  /** Verified for unknown users, so they cost what known users cost. */
  dummy: string;
  /** mtime, size and inode of the file these users came from. */
  version: string;
}

export interface HtpasswdOptions {
  path: string;
  log?: AuthLog | undefined;
  /** How long after a check the file is checked again for changes; default 1 s. */
  recheckMs?: number;
  /** How long a verified password is remembered; default 5 minutes, 0 turns it off. */
  rememberMs?: number;
  /** Checks a password against a bcrypt hash; replaceable so tests can count the calls. */
  verify?: (password: string, hash: string) => Promise<boolean>;
}

/**
 * Users from an htpasswd file. The file is read at open (any problem stops the start) and
 * checked for changes at most once per `recheckMs` when credentials arrive; a changed file
 * that cannot be used is logged and the previous users stay.
 */
export class HtpasswdAuthenticator implements Authenticator {
  readonly name = 'htpasswd';
  readonly path: string;
  readonly #log: AuthLog | undefined;
  readonly #recheckMs: number;
  readonly #verify: (password: string, hash: string) => Promise<boolean>;
  readonly #remembered: RememberedLogins;
  #loaded: Loaded;
  #nextCheck = 0;
  #checking: Promise<void> | undefined;

  private constructor(options: HtpasswdOptions, loaded: Loaded) {
    this.path = options.path;
    this.#log = options.log;
    this.#recheckMs = options.recheckMs ?? 1000;
    this.#verify = options.verify ?? bcryptVerify;
    this.#remembered = new RememberedLogins(options.rememberMs ?? 5 * 60_000);
    this.#loaded = loaded;
    this.#nextCheck = Date.now() + this.#recheckMs;
  }

  static async open(options: HtpasswdOptions): Promise<HtpasswdAuthenticator> {
    const loaded = await load(options.path, await versionOf(options.path));
    return new HtpasswdAuthenticator(options, loaded);
  }

  /** Number of users currently loaded. */
  get size(): number {
    return this.#loaded.users.size;
  }

  async authenticate(credentials: Credentials): Promise<Identity | undefined> {
    if (credentials.kind !== 'basic') return undefined;
    await this.#refresh();
    const { users, dummy } = this.#loaded;
    const stored = users.get(credentials.username);
    const identity = { name: credentials.username, groups: [], source: this.name };
    if (stored !== undefined && this.#remembered.has(credentials.username, credentials.password, stored)) return identity;
    // Unknown users get the same bcrypt work as known ones, so timing does not tell them apart.
    const valid = await this.#verify(credentials.password, stored ?? dummy);
    if (!valid || stored === undefined) return undefined;
    this.#remembered.add(credentials.username, credentials.password, stored, true);
    return identity;
  }

  async exists(name: string): Promise<boolean> {
    await this.#refresh();
    return this.#loaded.users.has(name);
  }

  /** Rereads the file if it changed since the last look (at most once per recheck interval). */
  async #refresh(): Promise<void> {
    if (Date.now() < this.#nextCheck) return;
    this.#checking ??= (async () => {
      try {
        const version = await versionOf(this.path);
        if (version === this.#loaded.version) return;
        this.#loaded = await load(this.path, version);
        this.#log?.info({ file: this.path, users: this.#loaded.users.size }, 'htpasswd file reloaded');
      } catch (error) {
        // Remember the broken version, so it is reported once rather than on every request.
        this.#loaded = { ...this.#loaded, version: await versionOf(this.path).catch(() => 'missing') };
        this.#log?.error({ file: this.path, problems: (error as HtpasswdError).problems ?? [(error as Error).message] }, 'htpasswd file changed but cannot be used; keeping the previous users');
      } finally {
        this.#nextCheck = Date.now() + this.#recheckMs;
        this.#checking = undefined;
      }
    })();
    await this.#checking;
  }
}

async function versionOf(file: string): Promise<string> {
  const info = await stat(file, { bigint: true });
  return `${info.mtimeNs}:${info.size}:${info.ino}`;
}

async function load(file: string, version: string): Promise<Loaded> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new HtpasswdError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  const users = parseHtpasswd(text, file);
  const cost = mostCommon([...users.values()].map(costOf)) ?? 10;
  const dummy = await bcryptHash('berth-dummy-password-for-unknown-users', { cost, version: '2y' });
  return { users, dummy, version };
}
