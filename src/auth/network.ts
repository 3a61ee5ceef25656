import { BlockList, isIP } from 'node:net';

/**
 * Client addresses and CIDR lists (`http.allow`, `http.trustedproxies`, a rule's `from`),
 * matched with node:net's BlockList. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, as a
 * dual-stack socket reports IPv4 peers) are taken as the IPv4 address they carry.
 */

/** Why a CIDR (`10.0.0.0/8`, `fd00::/8`) or bare address is unusable; undefined when fine. */
export function cidrProblem(text: string): string | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return `"${text}" is not an IP address or CIDR (examples: 10.0.0.0/8, 192.168.1.5, fd00::/8, ::1)`;
  if (slash === -1) return undefined;
  const prefix = text.slice(slash + 1);
  const max = version === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${text}": the prefix length must be 0 to ${max}`;
  return undefined;
}

/** A client address as logged, limited and matched: IPv4-mapped IPv6 becomes plain IPv4. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped && isIP(mapped[1]!) === 4) return mapped[1]!;
  return address;
}

/** A test for addresses in any of the CIDRs; throws on an unusable one. An unreadable address matches nothing. */
export function addressMatcher(cidrs: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const problem = cidrProblem(cidr);
    if (problem) throw new Error(problem);
    const slash = cidr.indexOf('/');
    const given = slash === -1 ? cidr : cidr.slice(0, slash);
    const address = normalizeAddress(given);
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    let prefix = slash === -1 ? (family === 'ipv4' ? 32 : 128) : Number(cidr.slice(slash + 1));
    // An IPv4-mapped network (`::ffff:10.0.0.0/104`): its IPv4 part, the prefix less 96.
    if (slash !== -1 && address !== given) prefix = Math.max(0, prefix - 96);
    list.addSubnet(address, prefix, family);
  }
  return (address) => {
    if (address === undefined) return false;
    const normalized = normalizeAddress(address);
    const version = isIP(normalized);
    if (version === 0) return false;
    return list.check(normalized, version === 4 ? 'ipv4' : 'ipv6');
  };
}

export interface ClientNetworkSettings {
  /** Only these may connect at all; undefined or empty: everyone. */
  allow?: readonly string[] | undefined;
  /** Direct peers whose `X-Forwarded-For` is believed. */
  trustedproxies?: readonly string[] | undefined;
}

/**
 * Who a request comes from and whether it may come at all. The client is the socket peer,
 * unless that peer is a trusted proxy: then `X-Forwarded-For` is walked from the right, past
 * every trusted proxy, and the first address that is not one is the client. Anything a client
 * wrote further left is never believed.
 */
export class ClientNetwork {
  readonly #allowed: ((address: string | undefined) => boolean) | undefined;
  readonly #trusted: ((address: string | undefined) => boolean) | undefined;

  constructor(settings: ClientNetworkSettings = {}) {
    this.#allowed = settings.allow && settings.allow.length > 0 ? addressMatcher(settings.allow) : undefined;
    this.#trusted = settings.trustedproxies && settings.trustedproxies.length > 0 ? addressMatcher(settings.trustedproxies) : undefined;
  }

  /** True when an allowlist or trusted proxies are configured; otherwise the client is always the socket peer. */
  get configured(): boolean {
    return this.#allowed !== undefined || this.#trusted !== undefined;
  }

  /** The client's address, from the socket peer and `X-Forwarded-For` (one header or several). */
  clientAddress(peer: string | undefined, forwardedFor: string | readonly string[] | undefined): string | undefined {
    let client = peer === undefined ? undefined : normalizeAddress(peer);
    if (!this.#trusted || forwardedFor === undefined || !this.#trusted(client)) return client;
    const hops = (typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(','))
      .split(',')
      .map((hop) => hop.trim())
      .filter((hop) => hop !== '');
    for (let index = hops.length - 1; index >= 0; index--) {
      const hop = hops[index]!;
      // An unreadable entry ends the walk: the last believable address is the client.
      if (isIP(hop) === 0) return client;
      client = normalizeAddress(hop);
      if (!this.#trusted(client)) return client;
    }
    return client;
  }

  /** False when an allowlist is configured and the address is outside it (or unknown). */
  allows(address: string | undefined): boolean {
    return this.#allowed ? this.#allowed(address) : true;
  }
}
