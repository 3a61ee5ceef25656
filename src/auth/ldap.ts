import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, InvalidCredentialsError, NoSuchObjectError, type Entry } from 'ldapts';
import type { AuthLog } from './htpasswd.ts';
import { RememberedLogins } from './remembered.ts';
import type { Authenticator, Credentials, Identity } from './types.ts';

/** The `auth.ldap` configuration section (durations in milliseconds). */
export interface LdapSettings {
  /** Realm of the Basic challenge when LDAP is the only password authenticator. */
  realm: string;
  /** `ldap://host:port` or `ldaps://host:port`. */
  url: string;
  /**
   * Without `searchbase`: the user's DN, with `{username}` where the (escaped) user name goes.
   * With `searchbase`: the DN of the service account the search binds as (absent: anonymous).
   */
  binddn?: string | undefined;
  /** Password of the service account (`binddn` with `searchbase`). */
  bindpassword?: string | undefined;
  /** Search-then-bind: where users are searched, with `searchfilter`. */
  searchbase?: string | undefined;
  /** Filter finding the one user entry; `{username}` is replaced by the escaped user name. */
  searchfilter: string;
  /** Attribute of the user entry naming its groups (`memberOf`): DNs (their first RDN's value) or plain names. */
  groupattribute?: string | undefined;
  /** Where groups are searched with `groupsearchfilter` (`{dn}`: the user's DN, `{username}`). */
  groupsearchbase?: string | undefined;
  groupsearchfilter: string;
  /** Attribute of a group entry found by the group search that is its name (`cn`). */
  groupnameattribute: string;
  /** Upgrade `ldap://` connections with StartTLS before anything is sent. */
  starttls: boolean;
  tls?: { ca?: string | undefined; insecureskipverify: boolean } | undefined;
  /** Connect and operation timeout. */
  timeout: number;
  /** How long a verified login (and its groups) is remembered; 0: never. */
  remember: number;
}

/** A user name Berth will put into a DN or a filter at all (after escaping). */
function usableUsername(username: string): boolean {
  // eslint-disable-next-line no-control-regex
  return username.length > 0 && username.length <= 256 && !/[\u0000-\u001f\u007f]/.test(username);
}

/** Escapes a value for use as an attribute value in a DN string (RFC 4514 section 2.4). */
export function escapeDnValue(value: string): string {
  let escaped = '';
  for (let index = 0; index < value.length; index++) {
    const char = value[index]!;
    if (char === '\0') escaped += '\\00';
    else if ('"+,;<>\\='.includes(char)) escaped += `\\${char}`;
    else if ((index === 0 && (char === ' ' || char === '#')) || (index === value.length - 1 && char === ' ')) escaped += `\\${char}`;
    else escaped += char;
  }
  return escaped;
}

/** Escapes a value for use inside a search filter's assertion value (RFC 4515 section 3). */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (char) => `\\${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The value of a DN's first RDN (`cn=devs,ou=groups,…` → `devs`), unescaped; undefined when it is not a DN. */
export function firstRdnValue(dn: string): string | undefined {
  const equals = dn.indexOf('=');
  if (equals <= 0) return undefined;
  const bytes: number[] = [];
  for (let index = equals + 1; index < dn.length; index++) {
    const char = dn[index]!;
    if (char === ',' || char === '+') break;
    if (char === '\\' && index + 1 < dn.length) {
      const hex = dn.slice(index + 1, index + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        index += 2;
      } else {
        bytes.push(...Buffer.from(dn[index + 1]!));
        index += 1;
      }
      continue;
    }
    bytes.push(...Buffer.from(char));
  }
  return Buffer.from(bytes).toString('utf8').trim() || undefined;
}

function valuesOf(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((name) => name.toLowerCase() === attribute.toLowerCase());
  if (key === undefined) return [];
  const raw = entry[key]!;
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((value) => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value)));
}

/** Substitutes `{name}` placeholders with already-escaped values. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(username|dn)\}/g, (whole, name: string) => values[name] ?? whole);
}

/**
 * Users of an LDAP directory, checked by binding as them: either to a DN made from a
 * template, or to the DN a search (as a service account, or anonymously) finds for the user
 * name. Groups come from an attribute of the user entry (`memberOf`) and/or a group search;
 * they become `group:NAME` subjects of the access rules. The user name is escaped for DNs
 * (RFC 4514) and filters (RFC 4515); empty passwords are refused before any bind, since LDAP
 * treats a simple bind without a password as an anonymous one that succeeds. A directory that
 * fails or does not answer within the timeout proves nothing: the login is refused (401).
 */
export class LdapAuthenticator implements Authenticator {
  readonly name = 'ldap';
  readonly #settings: LdapSettings;
  readonly #log: AuthLog | undefined;
  readonly #tls: ConnectionOptions;
  readonly #remembered: RememberedLogins<readonly string[]>;

  private constructor(settings: LdapSettings, tlsOptions: ConnectionOptions, log: AuthLog | undefined) {
    this.#settings = settings;
    this.#tls = tlsOptions;
    this.#log = log;
    this.#remembered = new RememberedLogins(settings.remember);
  }

  /** Checks the settings and reads the CA file; does not contact the directory (it may be down at start). */
  static async open(settings: LdapSettings, log?: AuthLog): Promise<LdapAuthenticator> {
    const url = new URL(settings.url);
    if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') throw new Error(`auth.ldap.url must be ldap:// or ldaps://, not ${settings.url}`);
    if (settings.starttls && url.protocol === 'ldaps:') throw new Error('auth.ldap.starttls applies to ldap:// URLs; ldaps:// is TLS already');
    if (settings.searchbase === undefined && !settings.binddn?.includes('{username}')) {
      throw new Error('auth.ldap needs binddn with {username} (a DN template) or searchbase (search-then-bind)');
    }
    if (settings.searchbase !== undefined && settings.binddn?.includes('{username}')) {
      throw new Error('auth.ldap: with searchbase, binddn is the service account the search binds as and cannot contain {username}');
    }
    if (settings.binddn !== undefined && settings.searchbase !== undefined && !settings.bindpassword) {
      throw new Error('auth.ldap: binddn (the service account) needs bindpassword');
    }
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const tlsOptions: ConnectionOptions = { rejectUnauthorized: !(settings.tls?.insecureskipverify ?? false), host: hostname };
    if (isIP(hostname) === 0) tlsOptions.servername = hostname;
    if (settings.tls?.ca) tlsOptions.ca = await readFile(settings.tls.ca, 'utf8');
    return new LdapAuthenticator(settings, tlsOptions, log);
  }

  async authenticate(credentials: Credentials): Promise<Identity | undefined> {
    if (credentials.kind !== 'basic') return undefined;
    const { username, password } = credentials;
    // An empty password would be an unauthenticated bind (RFC 4513 5.1.2), which succeeds.
    if (password === '' || !usableUsername(username)) return undefined;
    const remembered = this.#remembered.get(username, password, this.#settings.url);
    if (remembered) return { name: username, groups: remembered, source: this.name };
    const groups = await this.#withClient('login', async (client) => this.#login(client, username, password));
    if (groups === undefined) return undefined;
    this.#remembered.add(username, password, this.#settings.url, groups);
    return { name: username, groups, source: this.name };
  }

  /** Whether the directory still has the user (refresh tokens ask); false when it cannot tell. */
  async exists(name: string): Promise<boolean> {
    if (!usableUsername(name)) return false;
    const found = await this.#withClient('lookup', async (client) => {
      const dn = await this.#findUser(client, name, []);
      return dn !== undefined;
    });
    return found ?? false;
  }

  /** Runs `work` on a fresh connection; any failure but wrong credentials is logged; both answer undefined. */
  async #withClient<T>(what: string, work: (client: Client) => Promise<T | undefined>): Promise<T | undefined> {
    // ldapts speaks TLS from the start whenever tlsOptions are given, so only for ldaps://.
    const secure = this.#settings.url.startsWith('ldaps:');
    const client = new Client({ url: this.#settings.url, timeout: this.#settings.timeout, connectTimeout: this.#settings.timeout, ...(secure ? { tlsOptions: this.#tls } : {}) });
    try {
      if (this.#settings.starttls) await client.startTLS(this.#tls);
      return await work(client);
    } catch (error) {
      if (error instanceof InvalidCredentialsError) return undefined;
      this.#log?.error({ url: this.#settings.url, error: (error as Error).message }, `LDAP ${what} failed; refusing the credentials`);
      return undefined;
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** The user's DN (bound as the service account, when there is one), with the requested attributes; undefined when not exactly one. */
  async #findUser(client: Client, username: string, attributes: string[]): Promise<{ dn: string; entry: Entry | undefined } | undefined> {
    const settings = this.#settings;
    if (settings.searchbase === undefined) {
      const dn = fill(settings.binddn!, { username: escapeDnValue(username) });
      try {
        const { searchEntries } = await client.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes: attributes.length ? attributes : ['1.1'] });
        return searchEntries.length === 1 ? { dn, entry: searchEntries[0] } : undefined;
      } catch (error) {
        if (error instanceof NoSuchObjectError) return undefined;
        throw error;
      }
    }
    if (settings.binddn !== undefined) await client.bind(settings.binddn, settings.bindpassword);
    const filter = fill(settings.searchfilter, { username: escapeFilterValue(username) });
    const { searchEntries } = await client.search(settings.searchbase, { scope: 'sub', filter, attributes: attributes.length ? attributes : ['1.1'], sizeLimit: 2 });
    if (searchEntries.length !== 1) {
      if (searchEntries.length > 1) this.#log?.error({ url: settings.url, filter }, 'LDAP user search found more than one entry; refusing the login');
      return undefined;
    }
    return { dn: searchEntries[0]!.dn, entry: searchEntries[0] };
  }

  /** Binds as the user; answers their groups, or undefined when the user is unknown. Throws on wrong passwords. */
  async #login(client: Client, username: string, password: string): Promise<readonly string[] | undefined> {
    const settings = this.#settings;
    const attributes = settings.groupattribute ? [settings.groupattribute] : [];
    let userDn: string;
    let entry: Entry | undefined;
    if (settings.searchbase === undefined) {
      userDn = fill(settings.binddn!, { username: escapeDnValue(username) });
      await client.bind(userDn, password);
      if (attributes.length > 0) entry = (await this.#findUser(client, username, attributes))?.entry;
    } else {
      const found = await this.#findUser(client, username, attributes);
      if (!found) return undefined;
      userDn = found.dn;
      entry = found.entry;
      await client.bind(userDn, password);
      // Groups are read with the service account's rights, as the user was found.
      if (settings.binddn !== undefined && settings.groupsearchbase !== undefined) await client.bind(settings.binddn, settings.bindpassword);
    }
    const groups = new Set<string>();
    if (settings.groupattribute && entry) {
      for (const value of valuesOf(entry, settings.groupattribute)) groups.add(value.includes('=') ? (firstRdnValue(value) ?? value) : value);
    }
    if (settings.groupsearchbase !== undefined) {
      const filter = fill(settings.groupsearchfilter, { dn: escapeFilterValue(userDn), username: escapeFilterValue(username) });
      const { searchEntries } = await client.search(settings.groupsearchbase, { scope: 'sub', filter, attributes: [settings.groupnameattribute] });
      for (const group of searchEntries) for (const name of valuesOf(group, settings.groupnameattribute)) groups.add(name);
    }
    return [...groups].sort();
  }
}
