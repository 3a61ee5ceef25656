import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rm, writeFile } from 'node:fs/promises';
import { LdapAuthenticator, escapeDnValue, escapeFilterValue, firstRdnValue, type LdapSettings } from '../../src/auth/index.ts';
import { configSchema } from '../../src/config/index.ts';
import { readLayoutImage } from '../support/clients.ts';
import { openSkopeoWorkspace, type SkopeoWorkspace } from '../support/skopeo-workspace.ts';
import { basicAuth } from '../support/htpasswd.ts';
import { makeImage, pushImage, pushBlob, makeBlob } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { runBerth } from '../support/process.ts';
import { needsCommand } from '../support/services.ts';
import { LDAP_SUFFIX, needsSlapd, startSlapd, type LdapUser, type Slapd } from '../support/slapd.ts';

// LDAP logins against a real OpenLDAP slapd that this file starts on a free port.

const users: LdapUser[] = [
  { uid: 'alice', password: 'alice-pw', groups: ['devs', 'ops'] },
  { uid: 'bob', password: 'bob-pw' },
  // A name that is only found when it is escaped for the DN (a comma).
  { uid: 'smith, jr', password: 'smith-pw', groups: ['devs'] },
];
const serviceDn = `cn=berth,${LDAP_SUFFIX}`;
const servicePassword = 'service-pw';
const serviceLdif = `dn: ${serviceDn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: berth\nuserPassword: ${servicePassword}\n`;

const templateMode = { url: '', binddn: `uid={username},ou=people,${LDAP_SUFFIX}`, groupattribute: 'memberOf' };
const searchMode = { url: '', searchbase: `ou=people,${LDAP_SUFFIX}`, binddn: serviceDn, bindpassword: servicePassword, groupsearchbase: `ou=groups,${LDAP_SUFFIX}` };

/** auth.ldap settings as the configuration schema completes them (defaults included). */
function ldapSettings(raw: Record<string, unknown>): LdapSettings {
  const config = configSchema.parse({ auth: { ldap: { remember: 0, timeout: '3s', ...raw } } });
  return config.auth!.ldap as LdapSettings;
}

const basic = (username: string, password: string) => ({ kind: 'basic' as const, username, password });

test('user names are escaped for DNs (RFC 4514) and filters (RFC 4515); group DNs give their first RDN value', () => {
  assert.equal(escapeFilterValue('*)(uid=*'), '\\2a\\29\\28uid=\\2a');
  assert.equal(escapeFilterValue('a\\b\0'), 'a\\5cb\\00');
  assert.equal(escapeDnValue('smith, jr'), 'smith\\, jr');
  assert.equal(escapeDnValue(' #a+b=c;"<>\\ '), '\\ #a\\+b\\=c\\;\\"\\<\\>\\\\\\ ');
  assert.equal(escapeDnValue('#x'), '\\#x');
  assert.equal(firstRdnValue(`cn=devs,ou=groups,${LDAP_SUFFIX}`), 'devs');
  assert.equal(firstRdnValue('cn=a\\,b,ou=groups'), 'a,b');
  assert.equal(firstRdnValue('cn=caf\\c3\\a9,ou=groups'), 'café');
  assert.equal(firstRdnValue('devs'), undefined);
});

test('auth.ldap needs a bind-DN template or a search base', () => {
  assert.throws(() => configSchema.parse({ auth: { ldap: { url: 'ldap://127.0.0.1:389', binddn: 'cn=fixed,dc=example,dc=org' } } }), /binddn with \{username\}|searchbase/);
  assert.throws(() => configSchema.parse({ auth: { ldap: { url: 'http://127.0.0.1', binddn: 'uid={username},dc=x' } } }), /ldap:\/\//);
});

test('berth config check accepts auth.ldap with access rules alone and never prints the service account password', async () => {
  const dir = await makeTempDir('berth-ldap-config-');
  try {
    const file = path.join(dir, 'config.yml');
    await writeFile(
      file,
      [
        'storage: { filesystem: { rootdirectory: ' + JSON.stringify(path.join(dir, 'data')) + ' } }',
        'auth:',
        '  ldap: { url: "ldap://127.0.0.1:1", searchbase: "ou=people,dc=example,dc=org", binddn: "cn=berth,dc=example,dc=org", bindpassword: "very-secret-pw" }',
        'access: { rules: [{ repositories: ["team/*"], subjects: ["group:devs"], actions: [pull, push] }] }',
        '',
      ].join('\n'),
    );
    const result = await runBerth(['config', 'check', '--config', file]);
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as { auth: { ldap: { bindpassword: string; searchfilter: string } } };
    assert.equal(printed.auth.ldap.bindpassword, '[redacted]');
    assert.equal(printed.auth.ldap.searchfilter, '(uid={username})');
    assert.doesNotMatch(result.stdout + result.stderr, /very-secret-pw/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('LDAP against a private slapd', { skip: needsSlapd(), timeout: 240_000 }, () => {
  let slapd: Slapd;

  before(async () => {
    slapd = await startSlapd({ users });
    await slapd.add(serviceLdif);
    templateMode.url = slapd.url;
    searchMode.url = slapd.url;
  });

  after(async () => {
    await slapd?.close();
  });

  test('bind-DN template mode logs alice in with her groups from memberOf', async () => {
    const ldap = await LdapAuthenticator.open(ldapSettings(templateMode));
    assert.deepEqual(await ldap.authenticate(basic('alice', 'alice-pw')), { name: 'alice', groups: ['devs', 'ops'], source: 'ldap' });
    assert.deepEqual(await ldap.authenticate(basic('bob', 'bob-pw')), { name: 'bob', groups: [], source: 'ldap' });
    // Found only because the comma is escaped in the DN.
    assert.deepEqual(await ldap.authenticate(basic('smith, jr', 'smith-pw')), { name: 'smith, jr', groups: ['devs'], source: 'ldap' });
  });

  test('search-then-bind mode (service account) logs alice in with her groups from a group search', async () => {
    const ldap = await LdapAuthenticator.open(ldapSettings(searchMode));
    assert.deepEqual(await ldap.authenticate(basic('alice', 'alice-pw')), { name: 'alice', groups: ['devs', 'ops'], source: 'ldap' });
    assert.deepEqual(await ldap.authenticate(basic('smith, jr', 'smith-pw')), { name: 'smith, jr', groups: ['devs'], source: 'ldap' });
    assert.equal(await ldap.exists('alice'), true);
    assert.equal(await ldap.exists('nobody'), false);
    // Anonymous search (no service account) finds her too.
    const anonymous = await LdapAuthenticator.open(ldapSettings({ url: slapd.url, searchbase: `ou=people,${LDAP_SUFFIX}`, groupattribute: 'memberOf' }));
    assert.deepEqual(await anonymous.authenticate(basic('alice', 'alice-pw')), { name: 'alice', groups: ['devs', 'ops'], source: 'ldap' });
  });

  test('a wrong password, an unknown user and an empty password are refused in both modes', async () => {
    for (const mode of [templateMode, searchMode]) {
      const ldap = await LdapAuthenticator.open(ldapSettings(mode));
      assert.equal(await ldap.authenticate(basic('alice', 'wrong')), undefined);
      assert.equal(await ldap.authenticate(basic('nobody', 'alice-pw')), undefined);
      // LDAP treats a simple bind with an empty password as an anonymous bind, which succeeds.
      assert.equal(await ldap.authenticate(basic('alice', '')), undefined);
      assert.equal(await ldap.authenticate(basic('', '')), undefined);
      assert.equal(await ldap.authenticate({ kind: 'bearer', token: 'alice-pw' }), undefined);
    }
  });

  test('filter and DN injection in the user name logs nobody in', async () => {
    const search = await LdapAuthenticator.open(ldapSettings(searchMode));
    const template = await LdapAuthenticator.open(ldapSettings(templateMode));
    // Unescaped, `(uid=al*)` and `(uid=*lice)` would find exactly alice, and her password would bind.
    for (const username of ['al*', '*lice', '*', '*)(uid=*', 'alice)(uid=*', 'alice)(|(uid=*)', '*)(objectClass=*']) {
      assert.equal(await search.authenticate(basic(username, 'alice-pw')), undefined, username);
      assert.equal(await template.authenticate(basic(username, 'alice-pw')), undefined, username);
    }
    // Unescaped, this DN would be the service account's (cn=berth,dc=example,dc=org under a template `{username},…`).
    const rdnTemplate = await LdapAuthenticator.open(ldapSettings({ url: slapd.url, binddn: `cn={username},${LDAP_SUFFIX}` }));
    assert.deepEqual(await rdnTemplate.authenticate(basic('berth', servicePassword)), { name: 'berth', groups: [], source: 'ldap' });
    for (const username of [`x,cn=berth`, 'berth,', 'berth\0', 'berth+cn=berth']) {
      assert.equal(await rdnTemplate.authenticate(basic(username, servicePassword)), undefined, username);
    }
  });

  describe('over HTTP with access rules', () => {
    let server: TestServer;
    const rules = [
      { repositories: ['team/*'], subjects: ['group:devs'], actions: ['pull', 'push'] },
      { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
    ];

    before(async () => {
      server = await startTestServer({ config: { auth: { ldap: { ...templateMode, remember: '1m' } }, access: { rules } } });
    });
    after(async () => {
      await server?.close();
    });

    test('group:devs may push to team/*; bob (no group) may pull but not push; a wrong password is 401 with a Basic challenge', async () => {
      const alice = { authorization: basicAuth('alice', 'alice-pw') };
      const bob = { authorization: basicAuth('bob', 'bob-pw') };
      await pushImage(server.url, 'team/app', 'v1', makeImage({ layerCount: 1 }), alice);

      const pulled = await fetch(`${server.url}/v2/team/app/manifests/v1`, { headers: bob });
      assert.equal(pulled.status, 200);
      await pulled.arrayBuffer();

      await assert.rejects(pushBlob(server.url, 'team/bobs', makeBlob('bob'), bob), /POST upload answered 403/);

      const wrong = await fetch(`${server.url}/v2/`, { headers: { authorization: basicAuth('alice', 'nope') } });
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic realm="berth"/);
      await wrong.arrayBuffer();
      const empty = await fetch(`${server.url}/v2/`, { headers: { authorization: basicAuth('alice', '') } });
      assert.equal(empty.status, 401);
      await empty.arrayBuffer();
    });
  });

  describe('a directory that is down or does not answer', () => {
    let own: Slapd;
    let server: TestServer;

    before(async () => {
      own = await startSlapd({ users });
      server = await startTestServer({ config: { auth: { ldap: { url: own.url, binddn: templateMode.binddn, groupattribute: 'memberOf', timeout: '1s', remember: '1m' } } } });
    });
    after(async () => {
      await server?.close();
      await own?.close();
    });

    const status = async (user: string, password: string) => {
      const response = await fetch(`${server.url}/v2/`, { headers: { authorization: basicAuth(user, password) } });
      await response.arrayBuffer();
      return response.status;
    };

    test('refuses logins with 401, not 500, within the timeout; a login verified before is remembered', async () => {
      assert.equal(await status('alice', 'alice-pw'), 200);

      own.pause();
      let started = Date.now();
      assert.equal(await status('bob', 'bob-pw'), 401);
      assert.ok(Date.now() - started < 10_000, `a silent directory took ${Date.now() - started} ms`);
      own.resume();

      await own.stop();
      started = Date.now();
      assert.equal(await status('bob', 'bob-pw'), 401);
      assert.ok(Date.now() - started < 10_000, `a stopped directory took ${Date.now() - started} ms`);
      // Verified before the directory went away, within auth.ldap.remember.
      assert.equal(await status('alice', 'alice-pw'), 200);
      assert.equal(await status('alice', 'other-pw'), 401);
    });
  });

  describe('skopeo through LDAP', { skip: needsCommand('skopeo') || needsCommand('umoci') || needsCommand('tar') }, () => {
    let server: TestServer;
    let host: string;
    let ws: SkopeoWorkspace;

    before(async () => {
      ws = await openSkopeoWorkspace('berth-ldap-skopeo-', 1);
      server = await startTestServer({
        config: {
          auth: { ldap: { ...searchMode } },
          access: { rules: [{ repositories: ['team/*'], subjects: ['group:devs'], actions: ['pull', 'push'] }] },
        },
      });
      host = new URL(server.url).host;
    });
    after(async () => {
      await ws?.close();
      await server?.close();
    });

    test('skopeo copy --dest-creds pushes as an LDAP user of group devs; bob is denied', async () => {
      await ws.skopeo(...ws.pushArgs(host, 'alice:alice-pw', 'team/app'));
      const out = path.join(ws.work, 'out');
      await ws.skopeo('copy', '--quiet', '--src-tls-verify=false', '--src-creds', 'alice:alice-pw', `docker://${host}/team/app:v1`, `oci:${out}:v1`);
      assert.equal((await readLayoutImage(out, 'v1')).manifestDigest, ws.image.manifestDigest);
      const denied = await ws.skopeoFails(...ws.pushArgs(host, 'bob:bob-pw', 'team/bob'));
      assert.match(denied.stderr, /denied|403/i);
    });
  });
});
