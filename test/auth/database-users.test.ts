import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import { buildUmociImage, containersClientEnv, killRunningCommands, readLayoutImage, run, runExpectingFailure, type ContainersClientEnv, type LayoutImage } from '../support/clients.ts';
import { basicAuth } from '../support/htpasswd.ts';
import { makeImage, pushImage } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { DatabaseUserAuthenticator, hashUserPassword } from '../../src/auth/index.ts';
import { openSqliteStore } from '../../src/metadata/index.ts';
import { needsCommand } from '../support/services.ts';

// Users in the database: made with `berth user …` against the data directory of a running
// in-process Berth (a second SQLite connection), then used over HTTP with Basic. The rules
// give group devs pull and push on team/*, and every authenticated user pull only.

const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** The berth command, asynchronously (the server answering in this process must not block). */
function berth(dataDir: string, args: string[], input?: string) {
  return run(process.execPath, [cli, ...args, '--data', dataDir], { env: { PATH: process.env.PATH }, timeoutMs: 60_000, input });
}
function berthFails(dataDir: string, args: string[], input?: string) {
  return runExpectingFailure(process.execPath, [cli, ...args, '--data', dataDir], { env: { PATH: process.env.PATH }, timeoutMs: 60_000, input });
}

interface ListedUser {
  name: string;
  groups: string[];
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

async function listUsers(dataDir: string): Promise<ListedUser[]> {
  return JSON.parse((await berth(dataDir, ['user', 'list', '--json'])).stdout) as ListedUser[];
}

const RULES = [
  { repositories: ['team/**'], subjects: ['group:devs'], actions: ['pull', 'push'] },
  { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
];

function startServerWithDatabaseUsers(): Promise<TestServer> {
  return startTestServer({ config: { auth: { users: { enabled: true } }, access: { rules: RULES } } });
}

describe('users in the database over HTTP and on the command line', { timeout: 120_000 }, () => {
  let server: TestServer;

  /** Status of a request with Basic credentials (body consumed). */
  const statusAs = async (user: string, password: string, url = '/v2/team/app/tags/list') => {
    const response = await fetch(`${server.url}${url}`, { headers: { authorization: basicAuth(user, password) } });
    await response.arrayBuffer();
    return response.status;
  };

  before(async () => {
    server = await startServerWithDatabaseUsers();
    await berth(server.dataDir, ['user', 'add', 'dev', '--group', 'devs', '--password-stdin'], 'dev-pw\n');
    await berth(server.dataDir, ['user', 'add', 'viewer', '--password-stdin'], 'viewer-pw');
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
  });

  test('a user added with berth user add logs in with the right password and is refused with a wrong one', async () => {
    const pushed = await pushImage(server.url, 'team/app', 'v1', makeImage(), { authorization: basicAuth('dev', 'dev-pw') });
    assert.equal(pushed.status, 201);
    assert.equal(await statusAs('dev', 'dev-pw'), 200);
    assert.equal(await statusAs('dev', 'dev-pw\n'), 401, 'one trailing newline of stdin is not part of the password');
    assert.equal(await statusAs('dev', 'wrong'), 401);
    assert.equal(await statusAs('nobody', 'dev-pw'), 401);
    assert.equal(await statusAs('viewer', 'viewer-pw'), 200);
  });

  test('group memberships from the database decide group rules: only group devs may push', async () => {
    /** Status of starting a blob upload (push access) as the user. */
    const pushStatus = async (user: string, password: string, repository: string) => {
      const response = await fetch(`${server.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { authorization: basicAuth(user, password) } });
      await response.arrayBuffer();
      return response.status;
    };
    assert.equal(await pushStatus('viewer', 'viewer-pw', 'team/viewer'), 403);
    assert.equal(await pushStatus('dev', 'dev-pw', 'team/viewer'), 202);
    const groups = await berth(server.dataDir, ['user', 'groups', 'viewer', '--add', 'devs']);
    assert.match(groups.stdout, /viewer: devs/);
    assert.equal(await pushStatus('viewer', 'viewer-pw', 'team/viewer'), 202, 'the new group applies from the next request, remembered login or not');
    const pushed = await pushImage(server.url, 'team/viewer', 'v1', makeImage(), { authorization: basicAuth('viewer', 'viewer-pw') });
    assert.equal(pushed.status, 201);
    const cleared = await berth(server.dataDir, ['user', 'groups', 'viewer', '--set', '']);
    assert.match(cleared.stdout, /viewer: \(no groups\)/);
    assert.equal(await pushStatus('viewer', 'viewer-pw', 'team/viewer'), 403);
    assert.equal(await statusAs('viewer', 'viewer-pw', '/v2/team/viewer/tags/list'), 200, 'pull stays, from the rule for every authenticated user');
  });

  test('berth user passwd ends the old password at once, even though it was remembered', async () => {
    await berth(server.dataDir, ['user', 'add', 'changer', '--password-stdin'], 'old-pw');
    assert.equal(await statusAs('changer', 'old-pw'), 200);
    assert.equal(await statusAs('changer', 'old-pw'), 200, 'remembered');
    const changed = await berth(server.dataDir, ['user', 'passwd', 'changer', '--password-stdin'], 'new-pw\n');
    assert.match(changed.stdout, /changed the password of changer/);
    assert.equal(await statusAs('changer', 'old-pw'), 401);
    assert.equal(await statusAs('changer', 'new-pw'), 200);
  });

  test('berth user del refuses the user from the next request, though its login was remembered', async () => {
    await berth(server.dataDir, ['user', 'add', 'leaver', '--password-stdin'], 'leaver-pw');
    assert.equal(await statusAs('leaver', 'leaver-pw'), 200);
    const deleted = await berth(server.dataDir, ['user', 'del', 'leaver']);
    assert.match(deleted.stdout, /deleted user leaver/);
    assert.equal(await statusAs('leaver', 'leaver-pw'), 401);
    const missing = await berthFails(server.dataDir, ['user', 'del', 'leaver']);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.stderr, /no user named "leaver"/);
  });

  test('berth user list shows names and groups and never a hash', async () => {
    const users = await listUsers(server.dataDir);
    const dev = users.find((u) => u.name === 'dev');
    assert.ok(dev);
    assert.deepEqual(Object.keys(dev).sort(), ['createdAt', 'disabled', 'groups', 'name', 'updatedAt']);
    assert.deepEqual(dev.groups, ['devs']);
    assert.equal(dev.disabled, false);
    const text = await berth(server.dataDir, ['user', 'list']);
    assert.match(text.stdout, /dev\s+devs\s+active/);
    for (const output of [text.stdout, JSON.stringify(users)]) assert.doesNotMatch(output, /\$2[aby]\$/);
  });

  test('the database holds a bcrypt hash of cost 10, never the password', async () => {
    const db = new DatabaseSync(path.join(server.dataDir, 'berth.db'), { readOnly: true });
    try {
      const rows = db.prepare('SELECT * FROM users').all() as Array<Record<string, unknown>>;
      const dev = rows.find((r) => r.name === 'dev');
      assert.ok(dev, 'the user has a row');
      assert.match(String(dev.password_hash), /^\$2b\$10\$[./A-Za-z0-9]{53}$/);
      assert.equal(await bcryptVerify('dev-pw', String(dev.password_hash)), true);
      for (const row of rows) for (const value of Object.values(row)) assert.ok(!String(value).includes('dev-pw') && !String(value).includes('viewer-pw'), 'no column holds a password');
      const groups = db.prepare('SELECT user_name, group_name FROM user_groups WHERE user_name = ?').all('dev');
      assert.deepEqual(groups.map((g) => ({ ...g })), [{ user_name: 'dev', group_name: 'devs' }]);
    } finally {
      db.close();
    }
  });

  test('berth user refuses bad names, a taken name, an empty password and a password without --password-stdin, storing nothing', async () => {
    const refused: Array<[string[], string | undefined, RegExp]> = [
      [['user', 'add', 'Bad', '--password-stdin'], 'pw', /user name "Bad" must be/],
      [['user', 'add', '../etc', '--password-stdin'], 'pw', /user name "\.\.\/etc" must be/],
      [['user', 'add', 'okname', '--group', 'Bad Group', '--password-stdin'], 'pw', /group name "Bad Group" must be/],
      [['user', 'add', 'okname', '--password-stdin'], '', /the password is empty/],
      [['user', 'add', 'okname'], 'pw', /give --password-stdin/],
      [['user', 'add', 'dev', '--password-stdin'], 'pw', /a user named "dev" exists already/],
      [['user', 'passwd', 'Bad', '--password-stdin'], 'pw', /user name "Bad" must be/],
      [['user', 'groups', 'dev', '--set', 'a', '--add', 'b'], undefined, /not both/],
    ];
    const failures = await Promise.all(refused.map(([args, input]) => berthFails(server.dataDir, args, input ?? '')));
    failures.forEach((failure, index) => {
      assert.equal(failure.exitCode, 2, refused[index]![0].join(' '));
      assert.match(failure.stderr, refused[index]![2]);
      assert.equal(failure.stdout, '');
    });
    const names = (await listUsers(server.dataDir)).map((u) => u.name);
    assert.ok(!names.includes('okname') && !names.includes('Bad'));
    assert.deepEqual((await listUsers(server.dataDir)).find((u) => u.name === 'dev')?.groups, ['devs']);
  });
});

describe('DatabaseUserAuthenticator on a SQLite store', () => {
  test('verifies unknown users against a dummy hash, remembers a login bound to the stored hash, and answers exists()', async () => {
    const dir = await makeTempDir('berth-users-unit-');
    const store = await openSqliteStore({ path: path.join(dir, 'berth.db'), fsync: false });
    try {
      const hashes: string[] = [];
      const authenticator = new DatabaseUserAuthenticator({ store, verify: (password, hash) => (hashes.push(hash), bcryptVerify(password, hash)) });
      const hash = await hashUserPassword('pw', 4);
      await store.createUser({ name: 'unit', passwordHash: hash, groups: ['g'], createdAt: 1, updatedAt: 1, disabled: false });
      const basic = (username: string, password: string) => ({ kind: 'basic', username, password }) as const;

      assert.equal(await authenticator.authenticate(basic('ghost', 'pw')), undefined);
      assert.equal(hashes.length, 1, 'an unknown user costs one bcrypt check too');
      assert.match(hashes[0]!, /^\$2b\$10\$/, 'against a dummy hash of the default cost');
      assert.deepEqual(await authenticator.authenticate(basic('unit', 'pw')), { name: 'unit', groups: ['g'], source: 'users' });
      assert.equal(hashes.length, 2);
      await authenticator.authenticate(basic('unit', 'pw'));
      assert.equal(hashes.length, 2, 'the second login is remembered');
      assert.equal(await authenticator.authenticate(basic('unit', 'wrong')), undefined);
      assert.equal(hashes.length, 3, 'failures are never remembered');

      await store.setUserPassword('unit', await hashUserPassword('pw', 4), 2);
      await authenticator.authenticate(basic('unit', 'pw'));
      assert.equal(hashes.length, 4, 'a new hash, even of the same password, is checked again');

      assert.equal(await authenticator.exists('unit'), true);
      assert.equal(await authenticator.exists('ghost'), false);
      assert.equal(await authenticator.exists('Not A Name'), false);
      await store.deleteUser('unit');
      assert.equal(await authenticator.exists('unit'), false);
      assert.equal(await authenticator.authenticate(basic('unit', 'pw')), undefined, 'a deleted user is refused though its login was remembered');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('database users with skopeo', { skip: needsCommand('skopeo') || needsCommand('umoci') || needsCommand('tar'), timeout: 180_000 }, () => {
  let server: TestServer;
  let work: string;
  let host: string;
  let client: ContainersClientEnv;
  let layout: string;
  let image: LayoutImage;

  const skopeoArgs = (args: string[]) => ['--policy', client.policyPath, '--registries.d', client.registriesDir, ...args];
  const skopeo = (...args: string[]) => run('skopeo', skopeoArgs(args), { env: client.env, timeoutMs: 60_000 });
  const skopeoFails = (...args: string[]) => runExpectingFailure('skopeo', skopeoArgs(args), { env: client.env, timeoutMs: 60_000 });
  const push = (creds: string, repository: string) =>
    ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout}:v1`, `docker://${host}/${repository}:v1`];

  before(async () => {
    work = await makeTempDir('berth-users-skopeo-');
    server = await startServerWithDatabaseUsers();
    host = new URL(server.url).host;
    client = await containersClientEnv(path.join(work, 'client'));
    layout = path.join(work, 'layout');
    image = await buildUmociImage(layout, 'v1', { layers: 2, workDir: work });
    await berth(server.dataDir, ['user', 'add', 'builder', '--group', 'devs', '--password-stdin'], 'builder-pw\n');
    await berth(server.dataDir, ['user', 'add', 'reader', '--password-stdin'], 'reader-pw\n');
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('skopeo pushes with --dest-creds of a database user in group devs and pulls the image back', async () => {
    await skopeo(...push('builder:builder-pw', 'team/app'));
    const out = path.join(work, 'out');
    await skopeo('copy', '--quiet', '--src-tls-verify=false', '--src-creds', 'reader:reader-pw', `docker://${host}/team/app:v1`, `oci:${out}:v1`);
    const pulled = await readLayoutImage(out, 'v1');
    assert.equal(pulled.manifestDigest, image.manifestDigest);
    assert.deepEqual(pulled.layerDigests, image.layerDigests);
  });

  test('skopeo is refused the push for a user outside group devs, and for a wrong password', async () => {
    const denied = await skopeoFails(...push('reader:reader-pw', 'team/other'));
    assert.match(denied.stderr, /denied|403/i);
    const wrong = await skopeoFails(...push('builder:wrong-pw', 'team/other'));
    assert.match(wrong.stderr, /unauthorized|401|authentication required/i);
  });
});
