import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './clients.ts';
import { freePort, pollUntil } from './process.ts';
import { makeTempDir } from './server.ts';
import { hasCommand, requirement } from './services.ts';

/**
 * A private OpenLDAP slapd for one test file: its own temporary directory, a generated
 * slapd.conf (core, cosine, inetorgperson and nis schemas; an mdb database for
 * dc=example,dc=org with the memberof overlay), 127.0.0.1 and a free port. Never the
 * machine's own slapd.
 */

export const LDAP_SUFFIX = 'dc=example,dc=org';
export const LDAP_ADMIN_DN = `cn=admin,${LDAP_SUFFIX}`;
export const LDAP_ADMIN_PASSWORD = 'admin-secret';
const schemaDir = '/etc/ldap/schema';
const moduleDir = '/usr/lib/ldap';

/** `skip` option for node:test: slapd and the ldap-utils clients must be installed (Debian's slapd, ldap-utils). */
export function needsSlapd(): string | false {
  const available = hasCommand('slapd') && hasCommand('ldapadd') && hasCommand('ldapsearch') && existsSync(path.join(schemaDir, 'nis.schema')) && existsSync(path.join(moduleDir, 'back_mdb.so'));
  return requirement(available, 'slapd and ldap-utils are not installed (Debian packages slapd, ldap-utils)');
}

export interface LdapUser {
  uid: string;
  password: string;
  /** Names of the groupOfNames entries (cn=NAME,ou=groups) the user is a member of. */
  groups?: string[];
}

export interface Slapd {
  /** `ldap://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** Adds entries given as LDIF, bound as the admin. */
  add(ldif: string): Promise<void>;
  /** Freezes slapd (SIGSTOP): connections are accepted by the kernel but nothing answers. */
  pause(): void;
  resume(): void;
  /** Stops slapd (SIGTERM) and waits for it to exit; the directory stays until close(). */
  stop(): Promise<void>;
  /** Stops slapd and removes its directory. */
  close(): Promise<void>;
}

function slapdConf(dir: string): string {
  return [
    ...['core', 'cosine', 'inetorgperson', 'nis'].map((schema) => `include ${schemaDir}/${schema}.schema`),
    `pidfile ${path.join(dir, 'slapd.pid')}`,
    `modulepath ${moduleDir}`,
    'moduleload back_mdb',
    'moduleload memberof',
    // As some directories do: a simple bind with a DN and no password is an anonymous bind that
    // succeeds (RFC 4513 5.1.2), so tests show that Berth never sends one.
    'allow bind_anon_dn',
    'database mdb',
    `suffix "${LDAP_SUFFIX}"`,
    `rootdn "${LDAP_ADMIN_DN}"`,
    `rootpw ${LDAP_ADMIN_PASSWORD}`,
    `directory ${path.join(dir, 'data')}`,
    'maxsize 16777216',
    'index objectClass eq',
    'overlay memberof',
    'access to attrs=userPassword by anonymous auth by * none',
    'access to * by * read',
    '',
  ].join('\n');
}

/** A user name as an RDN value in LDIF (commas and the like escaped, RFC 4514). */
function rdnValue(value: string): string {
  return value.replace(/["+,;<>\\=]/g, (char) => `\\${char}`);
}

/** The base entries and, for each user, uid=NAME,ou=people with a password and the groups named. */
export function usersLdif(users: readonly LdapUser[]): string {
  const entries = [
    `dn: ${LDAP_SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example`,
    `dn: ou=people,${LDAP_SUFFIX}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=groups,${LDAP_SUFFIX}\nobjectClass: organizationalUnit\nou: groups`,
  ];
  for (const user of users) {
    entries.push(`dn: uid=${rdnValue(user.uid)},ou=people,${LDAP_SUFFIX}\nobjectClass: inetOrgPerson\nuid: ${user.uid}\ncn: ${user.uid}\nsn: ${user.uid}\nuserPassword: ${user.password}`);
  }
  const groups = new Map<string, string[]>();
  for (const user of users) for (const group of user.groups ?? []) groups.set(group, [...(groups.get(group) ?? []), user.uid]);
  for (const [group, members] of groups) {
    entries.push([`dn: cn=${group},ou=groups,${LDAP_SUFFIX}`, 'objectClass: groupOfNames', `cn: ${group}`, ...members.map((uid) => `member: uid=${rdnValue(uid)},ou=people,${LDAP_SUFFIX}`)].join('\n'));
  }
  return `${entries.join('\n\n')}\n`;
}

/** Starts slapd in the foreground as a child process and waits until it answers a root DSE search. */
export async function startSlapd(options: { users?: readonly LdapUser[] } = {}): Promise<Slapd> {
  const dir = await makeTempDir('berth-slapd-');
  await mkdir(path.join(dir, 'data'));
  const conf = path.join(dir, 'slapd.conf');
  await writeFile(conf, slapdConf(dir));
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  let output = '';
  // -d 0: stay in the foreground (no daemonising), logging nothing but errors to stderr.
  const child: ChildProcess = spawn('slapd', ['-d', '0', '-h', `${url}/`, '-f', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8192)));
  child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8192)));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.once('error', () => undefined);

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    child.kill('SIGCONT'); // in case it was paused
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(killer);
  };
  const close = async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  };
  const add = async (ldif: string) => {
    const file = path.join(dir, `add-${Date.now()}-${Math.random().toString(36).slice(2)}.ldif`);
    await writeFile(file, ldif);
    await run('ldapadd', ['-x', '-H', url, '-D', LDAP_ADMIN_DN, '-w', LDAP_ADMIN_PASSWORD, '-f', file], { timeoutMs: 30_000 });
  };

  try {
    await pollUntil(
      async () => {
        if (exited) throw new Error(`slapd exited before it answered:\n${output}`);
        try {
          await run('ldapsearch', ['-x', '-LLL', '-H', url, '-b', '', '-s', 'base', '-o', 'nettimeout=2', 'namingContexts'], { timeoutMs: 5_000 });
          return true;
        } catch {
          return false;
        }
      },
      `slapd on ${url}`,
      30_000,
      50,
    );
    if (options.users) await add(usersLdif(options.users));
  } catch (error) {
    await close();
    throw error;
  }
  const resume = () => {
    if (!exited) child.kill('SIGCONT');
  };
  const pause = () => {
    if (!exited) child.kill('SIGSTOP');
  };
  return { url, port, add, pause, resume, stop, close };
}
