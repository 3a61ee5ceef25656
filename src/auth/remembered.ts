import { createHmac, randomBytes } from 'node:crypto';

/**
 * Successful logins, remembered so that a client sending Basic credentials on every request
 * (docker and podman in Basic mode: a pull is dozens of requests) pays the expensive check
 * (bcrypt, ~50 ms of CPU; an LDAP bind and group search) once, not on each. Keys are an
 * HMAC, under a key that lives only in this process, of the user, the password and a
 * `binding` (the stored hash, the directory's URL): nothing reversible is kept, and a changed
 * or removed hash simply misses. Failures are never remembered, so guessing stays slow.
 * Each entry may carry a value (the groups an LDAP login found).
 */
export class RememberedLogins<T = true> {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, { expiresAt: number; value: T }>();
  readonly #ttlMs: number;
  static readonly maxEntries = 10_000;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  #keyOf(username: string, password: string, binding: string): string {
    return createHmac('sha256', this.#key).update(username).update('\0').update(password).update('\0').update(binding).digest('base64');
  }

  /** The value remembered with a login still in its time, or undefined. */
  get(username: string, password: string, binding: string): T | undefined {
    if (this.#ttlMs <= 0) return undefined;
    const key = this.#keyOf(username, password, binding);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > Date.now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  has(username: string, password: string, binding: string): boolean {
    return this.get(username, password, binding) !== undefined;
  }

  add(username: string, password: string, binding: string, value: T): void {
    if (this.#ttlMs <= 0) return;
    if (this.#entries.size >= RememberedLogins.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(this.#keyOf(username, password, binding), { expiresAt: Date.now() + this.#ttlMs, value });
  }
}
