import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { containersClientEnv, killRunningCommands, makeLayerTar, readLayoutImage, recordRequests, run, runExpectingFailure, type RecordedRequest } from '../support/clients.ts';
import { openSkopeoWorkspace, type SkopeoWorkspace } from '../support/skopeo-workspace.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { isRoot, needsCommand, requirement } from '../support/services.ts';
import { writeHtpasswd } from '../support/htpasswd.ts';

/** The rules every credential mode is tested with: pusher pushes team/* and public/*, everyone logged in pulls, anonymous pulls public/*. */
export const clientRules = [
  { repositories: ['team/*', 'public/*'], subjects: ['user:pusher'], actions: ['pull', 'push'] },
  { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
  { repositories: ['public/*'], subjects: ['anonymous'], actions: ['pull'] },
];

export interface CredentialMode {
  /** Shown in the suite names: "htpasswd", "token mode"… */
  name: string;
  /** Berth's configuration for an htpasswd file holding pusher/push-pw and reader/read-pw. */
  config(htpasswd: string): Record<string, unknown>;
  /** What skopeo prints when a pull-only user tries to push in this mode. */
  pushDenied: RegExp;
  /** Extra checks on the requests a push and pull with credentials made (token fetches, say). */
  checkRequests?(requests: RecordedRequest[]): void;
}

const unauthorized = /unauthorized|authentication required|401/i;

/**
 * Real skopeo and podman against an in-process Berth in one credential mode: the same
 * behaviour is proven for Basic (htpasswd) and for the token service.
 */
export function credentialClientSuites(mode: CredentialMode): void {
  describe(`skopeo with credentials (${mode.name})`, { skip: needsCommand('skopeo') || needsCommand('umoci') || needsCommand('tar'), timeout: 180_000 }, () => {
    let server: TestServer;
    let host: string;
    let ws: SkopeoWorkspace;
    const push = (creds: string | undefined, repository: string) => ws.pushArgs(host, creds, repository);

    before(async () => {
      ws = await openSkopeoWorkspace('berth-credential-skopeo-');
      const htpasswd = path.join(ws.work, 'htpasswd');
      await writeHtpasswd(htpasswd, { pusher: 'push-pw', reader: 'read-pw' });
      server = await startTestServer({ config: mode.config(htpasswd) });
      host = new URL(server.url).host;
    });

    after(async () => {
      await ws?.close();
      await server?.close();
    });

    test('skopeo copy --dest-creds pushes and --src-creds pulls the same image back', async () => {
      const recorder = recordRequests(server);
      try {
        await ws.skopeo(...push('pusher:push-pw', 'team/app'));
        const out = path.join(ws.work, 'out');
        await ws.skopeo('copy', '--quiet', '--src-tls-verify=false', '--src-creds', 'reader:read-pw', `docker://${host}/team/app:v1`, `oci:${out}:v1`);
        const pulled = await readLayoutImage(out, 'v1');
        assert.equal(pulled.manifestDigest, ws.image.manifestDigest);
        assert.deepEqual(pulled.layerDigests, ws.image.layerDigests);
      } finally {
        recorder.stop();
      }
      assert.ok(recorder.requests.some((request) => request.url.startsWith('/v2/team/app/manifests/') && request.method === 'PUT' && request.status === 201));
      mode.checkRequests?.(recorder.requests);
    });

    test('skopeo without credentials, or with a wrong password, is refused', async () => {
      assert.match((await ws.skopeoFails(...push(undefined, 'team/anon'))).stderr, unauthorized);
      assert.match((await ws.skopeoFails(...push('pusher:wrong', 'team/anon'))).stderr, unauthorized);
      assert.match((await ws.skopeoFails('inspect', '--raw', '--tls-verify=false', `docker://${host}/team/app:v1`)).stderr, unauthorized);
    });

    test('a pull-only user cannot push', async () => {
      assert.match((await ws.skopeoFails(...push('reader:read-pw', 'team/denied'))).stderr, mode.pushDenied);
    });

    test('anonymous skopeo pulls from public/* where a rule allows it, and nowhere else', async () => {
      await ws.skopeo(...push('pusher:push-pw', 'public/tool'));
      const out = path.join(ws.work, 'anonymous-out');
      await ws.skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${host}/public/tool:v1`, `oci:${out}:v1`);
      assert.equal((await readLayoutImage(out, 'v1')).manifestDigest, ws.image.manifestDigest);
      const refused = await ws.skopeoFails('copy', '--quiet', '--src-tls-verify=false', `docker://${host}/team/app:v1`, `oci:${out}:v2`);
      assert.match(refused.stderr, unauthorized);
    });
  });

  describe(`podman login (${mode.name})`, { skip: requirement(isRoot(), 'podman with private storage needs root here') || needsCommand('podman'), timeout: 240_000 }, () => {
    let server: TestServer;
    let dir = '';
    let registry = '';
    let env: NodeJS.ProcessEnv = {};
    let globalArgs: string[] = [];
    const podman = (args: string[]) => run('podman', [...globalArgs, ...args], { env, timeoutMs: 90_000 });
    const podmanFails = (args: string[]) => runExpectingFailure('podman', [...globalArgs, ...args], { env, timeoutMs: 90_000 });

    before(async () => {
      dir = await makeTempDir('berth-credential-podman-');
      const htpasswd = path.join(dir, 'htpasswd');
      await writeHtpasswd(htpasswd, { pusher: 'push-pw', reader: 'read-pw' });
      server = await startTestServer({ config: mode.config(htpasswd) });
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

    test('podman login refuses a wrong password, then logs in, pushes and pulls back; logout leaves it refused', async () => {
      const tar = await makeLayerTar(dir, 'rootfs');
      await podman(['import', tar, 'localhost/team/podman-auth:src']);
      const id = (await podman(['image', 'inspect', '--format', '{{.Id}}', 'localhost/team/podman-auth:src'])).stdout.trim();
      const ref = `${registry}/team/podman-auth:v1`;

      const wrong = await podmanFails(['login', '--tls-verify=false', '--username', 'pusher', '--password', 'wrong', registry]);
      assert.match(wrong.stderr, /unauthorized|401|invalid/i);
      await podmanFails(['push', '--tls-verify=false', 'localhost/team/podman-auth:src', ref]);

      await podman(['login', '--tls-verify=false', '--username', 'pusher', '--password', 'push-pw', registry]);
      const authFile = JSON.parse(await readFile(env.REGISTRY_AUTH_FILE!, 'utf8')) as { auths: Record<string, unknown> };
      assert.ok(authFile.auths[registry], 'podman stored the login');
      await podman(['push', '--tls-verify=false', 'localhost/team/podman-auth:src', ref]);
      await podman(['rmi', '--all', '--force']);
      await podman(['pull', '--tls-verify=false', ref]);
      assert.equal((await podman(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim(), id);

      await podman(['logout', registry]);
      await podman(['rmi', '--all', '--force']);
      await podmanFails(['pull', '--tls-verify=false', ref]);
    });
  });
}
