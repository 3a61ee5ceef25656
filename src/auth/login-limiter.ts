/**
 * Brute-force protection: failed logins counted per account and per client address in
 * sliding windows, in memory. Once an account (or an address) has `failures` failed logins
 * within `windowMs`, every further login for it is refused, right password or not, until the
 * oldest of those failures leaves the window. Successful logins are neither counted nor slowed.
 * Each table keeps at most `maxEntries` keys, dropping the least recently failed first.
 */

export interface LimitSettings {
  /** Failed logins allowed within the window. */
  failures: number;
  windowMs: number;
}

export interface LoginLimiterSettings {
  account: LimitSettings;
  address: LimitSettings;
  /** Most accounts, and most addresses, remembered at once. */
  maxEntries: number;
  /** The clock (milliseconds); tests pass their own. */
  now?: (() => number) | undefined;
}

export const DEFAULT_LOGIN_LIMITS: Omit<LoginLimiterSettings, 'now'> = {
  account: { failures: 10, windowMs: 5 * 60_000 },
  address: { failures: 30, windowMs: 5 * 60_000 },
  maxEntries: 10_000,
};

/** Failure times per key, oldest first, at most `failures` of them; a Map kept in least-recently-failed order. */
class FailureWindows {
  readonly #limit: LimitSettings;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, number[]>();

  constructor(limit: LimitSettings, maxEntries: number) {
    this.#limit = limit;
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Milliseconds until `key` may log in again; 0 when it may now. */
  waitMs(key: string, now: number): number {
    const times = this.#entries.get(key);
    if (!times) return 0;
    const live = this.#prune(key, times, now);
    if (live.length < this.#limit.failures) return 0;
    return live[0]! + this.#limit.windowMs - now;
  }

  record(key: string, now: number): void {
    const times = this.#prune(key, this.#entries.get(key) ?? [], now);
    times.push(now);
    // Only the newest `failures` matter: the block lasts until the oldest of them expires.
    if (times.length > this.#limit.failures) times.splice(0, times.length - this.#limit.failures);
    this.#entries.delete(key);
    this.#entries.set(key, times);
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  #prune(key: string, times: number[], now: number): number[] {
    let expired = 0;
    while (expired < times.length && times[expired]! + this.#limit.windowMs <= now) expired++;
    if (expired > 0) times.splice(0, expired);
    if (times.length === 0) this.#entries.delete(key);
    return times;
  }
}

export type LoginCheck = { limited: false } | { limited: true; retryAfterSeconds: number; by: 'account' | 'address' };

export class LoginLimiter {
  readonly #accounts: FailureWindows;
  readonly #addresses: FailureWindows;
  readonly #now: () => number;

  constructor(settings: LoginLimiterSettings = DEFAULT_LOGIN_LIMITS) {
    for (const [name, limit] of [['account', settings.account], ['address', settings.address]] as const) {
      if (!(limit.failures >= 1) || !(limit.windowMs > 0)) throw new Error(`login limit per ${name}: failures must be at least 1 and the window positive`);
    }
    this.#accounts = new FailureWindows(settings.account, settings.maxEntries);
    this.#addresses = new FailureWindows(settings.address, settings.maxEntries);
    this.#now = settings.now ?? Date.now;
  }

  /** Whether a login for `account` from `address` (undefined: unknown) is refused for now. */
  check(account: string, address: string | undefined): LoginCheck {
    const now = this.#now();
    const byAccount = this.#accounts.waitMs(account, now);
    const byAddress = address === undefined ? 0 : this.#addresses.waitMs(address, now);
    const wait = Math.max(byAccount, byAddress);
    if (wait <= 0) return { limited: false };
    return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)), by: byAccount >= byAddress ? 'account' : 'address' };
  }

  /** Counts a failed login against the account and the address. */
  failed(account: string, address: string | undefined): void {
    const now = this.#now();
    this.#accounts.record(account, now);
    if (address !== undefined) this.#addresses.record(address, now);
  }

  /** How many accounts and addresses are remembered (bounded by `maxEntries` each). */
  get size(): { accounts: number; addresses: number } {
    return { accounts: this.#accounts.size, addresses: this.#addresses.size };
  }
}
