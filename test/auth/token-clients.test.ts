import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  buildUmociImage,
  containersClientEnv,
  killRunningCommands,
  makeLayerTar,
  readLayoutImage,
  recordRequests,
  run,
  runExpectingFailure,
  type ContainersClientEnv,
  type LayoutImage,
} from '../support/clients.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { isRoot, needsCommand, requirement } from '../support/services.ts';
import { writeHtpasswd } from '../support/htpasswd.ts';

// Real skopeo and podman against an in-process Berth in token mode: they follow the Bearer
// challenge to /auth/token with the credentials they are given, then use the token on /v2.

const rules = [
  { repositories: ['team/*', 'public/*'], subjects: ['user:pusher'], actions: ['pull', 'push'] },
  { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
  { repositories: ['public/*'], subjects: ['anonymous'], actions: ['pull'] },
];

function tokenModeConfig(htpasswd: string): Record<string, unknown> {
  return { auth: { htpasswd: { path: htpasswd }, tokenservice: { service: 'berth-clients' } }, access: { rules } };
}

describe('skopeo in token mode', { skip: needsCommand('skopeo') || needsCommand('umoci') || needsCommand('tar'), timeout: 180_000 }, () => {
  let server: TestServer;
  let work: string;
  let host: string;
  let client: ContainersClientEnv;
  let layout: string;
  let image: LayoutImage;

  const skopeo = (...args: string[]) => run('skopeo', ['--policy', client.policyPath, '--registries.d', client.registriesDir, ...args], { env: client.env, timeoutMs: 60_000 });
  const skopeoFails = (...args: string[]) =>
    runExpectingFailure('skopeo', ['--policy', client.policyPath, '--registries.d', client.registriesDir, ...args], { env: client.env, timeoutMs: 60_000 });

  before(async () => {
    work = await makeTempDir('berth-token-skopeo-');
    const htpasswd = path.join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, { pusher: 'push-pw', reader: 'read-pw' });
    server = await startTestServer({ config: tokenModeConfig(htpasswd) });
    host = new URL(server.url).host;
    client = await containersClientEnv(path.join(work, 'client'));
    layout = path.join(work, 'layout');
    image = await buildUmociImage(layout, 'v1', { layers: 2, workDir: work });
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('skopeo copy --dest-creds pushes and --src-creds pulls back, through tokens from /auth/token', async () => {
    const recorder = recordRequests(server);
    try {
      await skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', 'pusher:push-pw', `oci:${layout}:v1`, `docker://${host}/team/app:v1`);
      const out = path.join(work, 'out');
      await skopeo('copy', '--quiet', '--src-tls-verify=false', '--src-creds', 'reader:read-pw', `docker://${host}/team/app:v1`, `oci:${out}:v1`);
      const pulled = await readLayoutImage(out, 'v1');
      assert.equal(pulled.manifestDigest, image.manifestDigest);
      assert.deepEqual(pulled.layerDigests, image.layerDigests);
    } finally {
      recorder.stop();
    }
    const tokenRequests = recorder.requests.filter((request) => request.url.startsWith('/auth/token'));
    assert.ok(tokenRequests.length >= 2, 'skopeo fetched tokens');
    assert.ok(tokenRequests.every((request) => request.status === 200));
    assert.ok(recorder.requests.some((request) => request.url.startsWith('/v2/team/app/manifests/') && request.method === 'PUT' && request.status === 201));
  });

  test('skopeo without credentials, or with a wrong password, is refused', async () => {
    const anonymous = await skopeoFails('copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${host}/team/anon:v1`);
    assert.match(anonymous.stderr, /unauthorized|authentication required|401/i);
    const wrong = await skopeoFails('copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'pusher:wrong', `oci:${layout}:v1`, `docker://${host}/team/anon:v1`);
    assert.match(wrong.stderr, /unauthorized|authentication required|401/i);
  });

  test('a pull-only user gets a pull-only token and cannot push', async () => {
    const refused = await skopeoFails('copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'reader:read-pw', `oci:${layout}:v1`, `docker://${host}/team/denied:v1`);
    assert.match(refused.stderr, /unauthorized|authentication required|denied|401|403/i);
  });

  test('anonymous skopeo pulls from public/* with an anonymous token, and nowhere else', async () => {
    await skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', 'pusher:push-pw', `oci:${layout}:v1`, `docker://${host}/public/tool:v1`);
    const out = path.join(work, 'anonymous-out');
    await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${host}/public/tool:v1`, `oci:${out}:v1`);
    assert.equal((await readLayoutImage(out, 'v1')).manifestDigest, image.manifestDigest);
    const refused = await skopeoFails('copy', '--quiet', '--src-tls-verify=false', `docker://${host}/team/app:v1`, `oci:${out}:v2`);
    assert.match(refused.stderr, /unauthorized|authentication required|401/i);
  });
});

describe('podman in token mode', { skip: requirement(isRoot(), 'podman with private storage needs root here') || needsCommand('podman'), timeout: 240_000 }, () => {
  let server: TestServer;
  let dir = '';
  let registry = '';
  let env: NodeJS.ProcessEnv = {};
  let globalArgs: string[] = [];
  const podman = (args: string[]) => run('podman', [...globalArgs, ...args], { env, timeoutMs: 90_000 });
  const podmanFails = (args: string[]) => runExpectingFailure('podman', [...globalArgs, ...args], { env, timeoutMs: 90_000 });

  before(async () => {
    dir = await makeTempDir('berth-token-podman-');
    const htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { pusher: 'push-pw', reader: 'read-pw' });
    server = await startTestServer({ config: tokenModeConfig(htpasswd) });
    registry = new URL(server.url).host;
    env = { ...(await containersClientEnv(path.join(dir, 'config'))).env, TMPDIR: path.join(dir, 'tmp') };
    await mkdir(env.TMPDIR!, { recursive: true });
    globalArgs = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--tmpdir', path.join(dir, 'libpod'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  test('podman login checks the password at the token service, then pushes and pulls with tokens', async () => {
    const tar = await makeLayerTar(dir, 'rootfs');
    await podman(['import', tar, 'localhost/team/podman-token:src']);
    const id = (await podman(['image', 'inspect', '--format', '{{.Id}}', 'localhost/team/podman-token:src'])).stdout.trim();
    const ref = `${registry}/team/podman-token:v1`;

    const wrong = await podmanFails(['login', '--tls-verify=false', '--username', 'pusher', '--password', 'wrong', registry]);
    assert.match(wrong.stderr, /unauthorized|401|invalid/i);

    await podman(['login', '--tls-verify=false', '--username', 'pusher', '--password', 'push-pw', registry]);
    const authFile = JSON.parse(await readFile(env.REGISTRY_AUTH_FILE!, 'utf8')) as { auths: Record<string, unknown> };
    assert.ok(authFile.auths[registry], 'podman stored the login');
    await podman(['push', '--tls-verify=false', 'localhost/team/podman-token:src', ref]);
    await podman(['rmi', '--all', '--force']);
    await podman(['pull', '--tls-verify=false', ref]);
    assert.equal((await podman(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim(), id);

    await podman(['logout', registry]);
    await podman(['rmi', '--all', '--force']);
    await podmanFails(['pull', '--tls-verify=false', ref]);
  });
});
