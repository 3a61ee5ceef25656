import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { killRunningCommands, readLayoutImage, run, runExpectingFailure } from '../support/clients.ts';
import { openSkopeoWorkspace, type SkopeoWorkspace } from '../support/skopeo-workspace.ts';
import { basicAuth, writeHtpasswd } from '../support/htpasswd.ts';
import { makeImage, pushImage } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { AccessControl, generateRobotToken, RobotTokenAuthenticator, RuleAccessPolicy } from '../../src/auth/index.ts';
import { openSqliteStore } from '../../src/metadata/index.ts';
import { needsCommand } from '../support/services.ts';

// CI / robot tokens: made with `berth token create` against the data directory of a running
// in-process Berth (a second SQLite connection), then used as Basic passwords. The server runs
// with the default rules (every authenticated identity may pull and push everywhere), so any
// refusal below comes from the token's own scopes, never from a rule.

const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** The berth command, asynchronously (the server answering in this process must not block). */
function berth(dataDir: string, args: string[]) {
  return run(process.execPath, [cli, ...args, '--data', dataDir], { env: { PATH: process.env.PATH }, timeoutMs: 60_000 });
}
function berthFails(dataDir: string, args: string[]) {
  return runExpectingFailure(process.execPath, [cli, ...args, '--data', dataDir], { env: { PATH: process.env.PATH }, timeoutMs: 60_000 });
}

interface CreatedToken {
  id: string;
  name: string;
  status: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  token: string;
}

async function createToken(dataDir: string, name: string, scopes: string[], expires?: string): Promise<CreatedToken> {
  const args = ['token', 'create', '--json', '--name', name, ...scopes.flatMap((scope) => ['--scope', scope])];
  if (expires) args.push('--expires', expires);
  return JSON.parse((await berth(dataDir, args)).stdout) as CreatedToken;
}

async function listTokens(dataDir: string): Promise<Array<Omit<CreatedToken, 'token'>>> {
  return JSON.parse((await berth(dataDir, ['token', 'list', '--json'])).stdout) as Array<Omit<CreatedToken, 'token'>>;
}

async function startServerWithUsers(dir: string): Promise<TestServer> {
  const htpasswd = path.join(dir, 'htpasswd');
  await writeHtpasswd(htpasswd, { alice: 'alice-pw' });
  return startTestServer({ config: { auth: { htpasswd: { realm: 'berth', path: htpasswd } } } });
}

describe('robot tokens over HTTP and on the command line', { timeout: 120_000 }, () => {
  let server: TestServer;
  let dir: string;
  let ci: CreatedToken;

  /** Status of a GET with the token as Basic password (body consumed). */
  const statusWith = async (url: string, password: string, user = 'ci') => {
    const response = await fetch(`${server.url}${url}`, { headers: { authorization: basicAuth(user, password) } });
    await response.arrayBuffer();
    return response.status;
  };

  before(async () => {
    dir = await makeTempDir('berth-robot-http-');
    server = await startServerWithUsers(dir);
    const seeded = await pushImage(server.url, 'team/app', 'v1', makeImage(), { authorization: basicAuth('alice', 'alice-pw') });
    assert.equal(seeded.status, 201);
    const other = await pushImage(server.url, 'team/other', 'v1', makeImage(), { authorization: basicAuth('alice', 'alice-pw') });
    assert.equal(other.status, 201);
    ci = await createToken(server.dataDir, 'ci', ['repository:team/app:pull,push']);
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a token authenticates with any user name and reaches only the repositories in its scopes', async () => {
    assert.match(ci.token, /^berth_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(await statusWith('/v2/team/app/tags/list', ci.token), 200);
    assert.equal(await statusWith('/v2/team/app/tags/list', ci.token, 'someone-else'), 200);
    // alice (and so the default rule for every authenticated identity) may pull team/other; the token may not.
    assert.equal(await statusWith('/v2/team/other/tags/list', 'alice-pw', 'alice'), 200);
    assert.equal(await statusWith('/v2/team/other/tags/list', ci.token), 403);
    const catalog = await fetch(`${server.url}/v2/_catalog`, { headers: { authorization: basicAuth('ci', ci.token) } });
    assert.deepEqual(await catalog.json(), { repositories: ['team/app'] });
  });

  test('a token whose secret part is altered is refused with 401', async () => {
    const last = ci.token.at(-1) === 'A' ? 'B' : 'A';
    assert.equal(await statusWith('/v2/team/app/tags/list', `${ci.token.slice(0, -1)}${last}`), 401);
    assert.equal(await statusWith('/v2/team/app/tags/list', `berth_${'0'.repeat(16)}${ci.token.slice(22)}`), 401);
  });

  test('a revoked token is refused by the running server from the next request', async () => {
    const doomed = await createToken(server.dataDir, 'doomed', ['repository:team/app:pull']);
    assert.equal(await statusWith('/v2/team/app/tags/list', doomed.token), 200);
    const revoked = await berth(server.dataDir, ['token', 'revoke', 'doomed']);
    assert.match(revoked.stdout, new RegExp(`revoked token ${doomed.id} \\(doomed\\)`));
    assert.equal(await statusWith('/v2/team/app/tags/list', doomed.token), 401);
    // The name is free again, and revoking by id once more is harmless.
    const again = await berth(server.dataDir, ['token', 'revoke', doomed.id]);
    assert.match(again.stdout, /revoked already/);
  });

  test('an expired token is refused with 401 and listed as expired', async () => {
    const brief = await createToken(server.dataDir, 'brief', ['repository:team/app:pull'], '1s');
    const expiresAt = Date.parse(brief.expiresAt!);
    assert.ok(expiresAt - Date.parse(brief.createdAt) === 1000, 'expiry is creation plus --expires');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 20)));
    assert.equal(await statusWith('/v2/team/app/tags/list', brief.token), 401);
    const listed = (await listTokens(server.dataDir)).find((t) => t.id === brief.id);
    assert.equal(listed?.status, 'expired');
  });

  test('token list shows name, id, scopes and times, records the last use, and never prints a secret', async () => {
    assert.equal(await statusWith('/v2/team/app/tags/list', ci.token), 200);
    const json = await berth(server.dataDir, ['token', 'list', '--json']);
    const text = await berth(server.dataDir, ['token', 'list']);
    for (const output of [json.stdout, json.stderr, text.stdout, text.stderr]) {
      assert.ok(!output.includes(ci.token.slice(23)), 'the secret part of the token is not printed');
      assert.doesNotMatch(output, /berth_[0-9a-f]{16}_/);
    }
    const listed = (JSON.parse(json.stdout) as Array<Record<string, unknown>>).find((t) => t.id === ci.id);
    assert.deepEqual(Object.keys(listed!).sort(), ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'scopes', 'status']);
    assert.equal(listed!.name, 'ci');
    assert.equal(listed!.status, 'active');
    assert.deepEqual(listed!.scopes, ['repository:team/app:pull,push']);
    assert.ok(typeof listed!.lastUsedAt === 'string' && Date.parse(listed!.lastUsedAt) >= Date.parse(ci.createdAt), 'the use was recorded');
    assert.match(text.stdout, new RegExp(`${ci.id}\\s+ci\\s+active\\s+repository:team/app:pull,push`));
  });

  test('the database holds a sha256 of the token, never the token or its secret', async () => {
    const db = new DatabaseSync(path.join(server.dataDir, 'berth.db'), { readOnly: true });
    try {
      const rows = db.prepare('SELECT * FROM robot_tokens').all() as Array<Record<string, unknown>>;
      const row = rows.find((r) => r.id === ci.id);
      assert.ok(row, 'the token has a row');
      assert.equal(row.secret_hash, createHash('sha256').update(ci.token).digest('hex'));
      const secret = ci.token.slice(23);
      for (const each of rows) for (const value of Object.values(each)) assert.ok(!String(value).includes(secret) && !String(value).includes('berth_'), 'no column holds a token');
    } finally {
      db.close();
    }
  });

  test('berth token create refuses path tricks, patterns, bad actions and bad names, and stores nothing', async () => {
    const refused: Array<[string[], RegExp]> = [
      [['--name', 'evil', '--scope', 'repository:../x:push'], /"\.\.\/x" is not a repository name/],
      [['--name', 'evil', '--scope', 'repository:team/../x:push'], /"team\/\.\.\/x" is not a repository name/],
      [['--name', 'evil', '--scope', 'repository:/etc/passwd:pull'], /is not a repository name/],
      [['--name', 'evil', '--scope', 'repository:team/*:pull'], /is not a repository name/],
      [['--name', 'evil', '--scope', 'repository:Team/App:pull'], /is not a repository name/],
      [['--name', 'evil', '--scope', 'repository:team/app:admin'], /"admin" is not an action/],
      [['--name', 'evil', '--scope', 'repository:team/app:'], /"" is not an action/],
      [['--name', 'evil', '--scope', 'registry:catalog:*'], /only repository scopes/],
      [['--name', 'evil', '--scope', 'team/app'], /not of the form repository:NAME:ACTIONS/],
      [['--name', 'evil', '--scope', 'repository:team/app:pull', '--expires', 'soon'], /--expires "soon" is not a positive duration/],
      [['--name', 'Bad Name', '--scope', 'repository:team/app:pull'], /token name "Bad Name" must be/],
      [['--name', 'ci', '--scope', 'repository:team/app:pull'], /a token named "ci" exists and is not revoked/],
    ];
    const failures = await Promise.all(refused.map(([args]) => berthFails(server.dataDir, ['token', 'create', ...args])));
    failures.forEach((failure, index) => {
      assert.equal(failure.exitCode, 2, refused[index]![0].join(' '));
      assert.match(failure.stderr, refused[index]![1]);
      assert.equal(failure.stdout, '');
    });
    const names = (await listTokens(server.dataDir)).map((t) => t.name);
    assert.ok(!names.includes('evil') && !names.includes('Bad Name'));
    assert.equal(names.filter((n) => n === 'ci').length, 1);
  });
});

describe('RobotTokenAuthenticator on a SQLite store', () => {
  test('records a use at most once per interval and grants exactly the stored scopes, whatever the rules say', async () => {
    const dir = await makeTempDir('berth-robot-unit-');
    const store = await openSqliteStore({ path: path.join(dir, 'berth.db'), fsync: false });
    try {
      const made = generateRobotToken();
      await store.createRobotToken({ id: made.id, name: 'unit', secretHash: made.secretHash, scopes: ['repository:team/app:pull'], createdAt: 1, expiresAt: null, lastUsedAt: null, revokedAt: null });
      const authenticator = new RobotTokenAuthenticator({ store, touchIntervalMs: 60_000 });
      const credentials = { kind: 'basic', username: 'x', password: made.token } as const;
      const identity = await authenticator.authenticate(credentials);
      assert.deepEqual(identity, { name: 'robot:unit', groups: [], source: 'robot-token', grants: [{ repository: 'team/app', actions: ['pull'] }] });
      const firstUse = (await store.findRobotToken(made.id))!.lastUsedAt;
      assert.ok(firstUse !== null);
      await store.touchRobotToken(made.id, firstUse - 1000); // as if used a second earlier
      await authenticator.authenticate(credentials);
      assert.equal((await store.findRobotToken(made.id))!.lastUsedAt, firstUse - 1000, 'a second use within the interval writes nothing');

      // A rule giving every authenticated identity everything does not widen the token.
      const access = new AccessControl({
        authenticators: [authenticator],
        policy: new RuleAccessPolicy([{ repositories: ['**'], subjects: ['authenticated'], actions: ['*'] }]),
        challenge: { scheme: 'Basic', realm: 'test' },
      });
      assert.deepEqual([...access.actionsOn(identity, 'team/app')], ['pull']);
      assert.deepEqual([...access.actionsOn(identity, 'team/other')], []);
      assert.equal((await access.decide(credentials, [{ repository: 'team/app', actions: ['pull', 'push'] }])).outcome, 'denied');
      assert.equal(access.pullableRepositories(identity)?.('team/other'), false);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('robot tokens through the built-in token service', { timeout: 60_000 }, () => {
  let server: TestServer;
  let dir: string;

  const tokenFor = async (password: string, scopes: string[], extra: Record<string, string> = {}) => {
    const query = new URLSearchParams({ service: 'berth', ...extra });
    for (const scope of scopes) query.append('scope', scope);
    const response = await fetch(`${server.url}/auth/token?${query}`, { headers: { authorization: basicAuth('ci', password) } });
    const body = (await response.json()) as { token?: string; refresh_token?: string };
    return { status: response.status, body };
  };
  const accessOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { access: unknown }).access;

  before(async () => {
    dir = await makeTempDir('berth-robot-tokenservice-');
    const htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'alice-pw' });
    server = await startTestServer({ config: { auth: { htpasswd: { path: htpasswd }, tokenservice: { service: 'berth' } } } });
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a robot token exchanged for a bearer token gets no more than its scopes, no refresh token, and nothing once revoked', async () => {
    const ci = await createToken(server.dataDir, 'ci', ['repository:team/app:pull,push']);
    const issued = await tokenFor(ci.token, ['repository:team/app:pull,push,delete', 'repository:team/other:pull,push', 'registry:catalog:*'], { offline_token: 'true' });
    assert.equal(issued.status, 200);
    assert.deepEqual(accessOf(issued.body.token!), [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    assert.equal(issued.body.refresh_token, undefined, 'a refresh token would outlive a revocation');
    await berth(server.dataDir, ['token', 'revoke', 'ci']);
    assert.equal((await tokenFor(ci.token, ['repository:team/app:pull'])).status, 401);
  });
});

describe('robot tokens with skopeo', { skip: needsCommand('skopeo') || needsCommand('umoci') || needsCommand('tar'), timeout: 180_000 }, () => {
  let server: TestServer;
  let host: string;
  let ws: SkopeoWorkspace;
  const skopeo = (...args: string[]) => ws.skopeo(...args);
  const skopeoFails = (...args: string[]) => ws.skopeoFails(...args);
  const push = (creds: string, repository: string) => ws.pushArgs(host, creds, repository);

  before(async () => {
    ws = await openSkopeoWorkspace('berth-robot-skopeo-');
    server = await startServerWithUsers(ws.work);
    host = new URL(server.url).host;
  });

  after(async () => {
    await ws?.close();
    await server?.close();
  });

  test('skopeo pushes with --dest-creds ci:<token> to the repository in scope, pulls it back, and is refused elsewhere', async () => {
    const ci = await createToken(server.dataDir, 'ci', ['repository:team/app:pull,push']);
    await skopeo(...push(`ci:${ci.token}`, 'team/app'));
    const out = path.join(ws.work, 'out');
    await skopeo('copy', '--quiet', '--src-tls-verify=false', '--src-creds', `ci:${ci.token}`, `docker://${host}/team/app:v1`, `oci:${out}:v1`);
    const pulled = await readLayoutImage(out, 'v1');
    assert.equal(pulled.manifestDigest, ws.image.manifestDigest);
    assert.deepEqual(pulled.layerDigests, ws.image.layerDigests);
    // The default rule lets every authenticated user push anywhere; the token still may not.
    const elsewhere = await skopeoFails(...push(`ci:${ci.token}`, 'team/elsewhere'));
    assert.match(elsewhere.stderr, /denied|403/i);
  });

  test('a pull-only token pulls with skopeo but cannot push', async () => {
    await skopeo(...push('alice:alice-pw', 'team/readonly'));
    const reader = await createToken(server.dataDir, 'reader', ['repository:team/readonly:pull']);
    await skopeo('inspect', '--raw', '--tls-verify=false', '--creds', `reader:${reader.token}`, `docker://${host}/team/readonly:v1`);
    const denied = await skopeoFails(...push(`reader:${reader.token}`, 'team/readonly'));
    assert.match(denied.stderr, /denied|403/i);
  });

  test('skopeo with a revoked token is refused at once', async () => {
    const gone = await createToken(server.dataDir, 'gone', ['repository:team/gone:pull,push']);
    await skopeo(...push(`gone:${gone.token}`, 'team/gone'));
    await berth(server.dataDir, ['token', 'revoke', gone.id]);
    const refused = await skopeoFails('inspect', '--raw', '--tls-verify=false', '--creds', `gone:${gone.token}`, `docker://${host}/team/gone:v1`);
    assert.match(refused.stderr, /unauthorized|authentication required|401/i);
  });
});
