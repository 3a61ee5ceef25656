import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { assertError } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { basicAuth, writeHtpasswd } from '../support/htpasswd.ts';

// The global allowlist (`http.allow`), trusted proxies (`http.trustedproxies`) and access
// rules limited to networks (`from`), over HTTP.

/** Whether this machine can listen on the IPv6 loopback. */
function canListenOnIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

async function status(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<number> {
  const response = await fetch(url, { method, headers });
  await response.body?.cancel();
  return response.status;
}

describe('client networks over HTTP', { timeout: 60_000 }, () => {
  let dir: string;
  let htpasswd: string;
  const servers: TestServer[] = [];

  before(async () => {
    dir = await makeTempDir('berth-network-http-');
    htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'alice-pw' });
  });

  after(async () => {
    await Promise.allSettled(servers.map((server) => server.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function start(config: Record<string, unknown>): Promise<TestServer> {
    const server = await startTestServer({ config });
    servers.push(server);
    return server;
  }

  test('a client outside the allowlist gets 403 DENIED before authentication, on every path', async () => {
    const server = await start({ http: { allow: ['10.0.0.0/8'] }, auth: { htpasswd: { path: htpasswd }, tokenservice: {} } });
    await assertError(await fetch(`${server.url}/v2/`), 403, 'DENIED');
    await assertError(await fetch(`${server.url}/v2/`, { headers: { authorization: basicAuth('alice', 'alice-pw') } }), 403, 'DENIED');
    await assertError(await fetch(`${server.url}/auth/token?service=berth`, { headers: { authorization: basicAuth('alice', 'alice-pw') } }), 403, 'DENIED');
    await assertError(await fetch(`${server.url}/healthz`), 403, 'DENIED');
    assert.equal(await status(`${server.url}/v2/`, { 'x-forwarded-for': '10.1.2.3' }), 403, 'X-Forwarded-For from a peer that is no trusted proxy is ignored');
  });

  test('X-Forwarded-For from a trusted proxy: the right-most untrusted address is the client', async () => {
    const server = await start({ http: { allow: ['203.0.113.0/24'], trustedproxies: ['127.0.0.1/32', '10.0.0.0/8'] } });
    assert.equal(await status(`${server.url}/v2/`), 403, 'the proxy itself is not allowed');
    assert.equal(await status(`${server.url}/v2/`, { 'x-forwarded-for': '203.0.113.5' }), 200);
    assert.equal(await status(`${server.url}/v2/`, { 'x-forwarded-for': '203.0.113.5, 10.0.0.7' }), 200, 'past a second trusted proxy');
    assert.equal(await status(`${server.url}/v2/`, { 'x-forwarded-for': '198.51.100.1' }), 403);
    assert.equal(await status(`${server.url}/v2/`, { 'x-forwarded-for': '203.0.113.5, 198.51.100.1' }), 403, 'an address the client wrote itself is not believed');
  });

  test('an access rule with `from` applies only to clients in its networks', async () => {
    const server = await start({
      http: { trustedproxies: ['127.0.0.0/8'] },
      auth: { htpasswd: { path: htpasswd } },
      access: {
        rules: [
          { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
          { repositories: ['team/**'], subjects: ['user:alice'], actions: ['push'], from: ['203.0.113.0/28', 'fd00::/8'] },
        ],
      },
    });
    const alice = basicAuth('alice', 'alice-pw');
    const startUpload = (from: string) => status(`${server.url}/v2/team/app/blobs/uploads/`, { authorization: alice, 'x-forwarded-for': from }, 'POST');
    assert.equal(await startUpload('203.0.113.5'), 202);
    assert.equal(await startUpload('fd00::5'), 202, 'IPv6 networks too');
    assert.equal(await startUpload('203.0.113.100'), 403, 'outside the rule\'s networks: no push');
    assert.equal(await startUpload('::ffff:203.0.113.5'), 202, 'an IPv4-mapped address is its IPv4 address');
    assert.equal(await status(`${server.url}/v2/team/app/tags/list`, { authorization: alice, 'x-forwarded-for': '198.51.100.1' }), 200, 'rules without `from` still apply from anywhere (pull)');
  });

  test('with the token service, `from` narrows the scopes a token is issued with', async () => {
    const server = await start({
      http: { trustedproxies: ['127.0.0.0/8'] },
      auth: { htpasswd: { path: htpasswd }, tokenservice: { service: 'berth' } },
      access: { rules: [{ repositories: ['team/**'], subjects: ['user:alice'], actions: ['pull', 'push'], from: ['203.0.113.0/24'] }] },
    });
    const scopes = async (from: string) => {
      const response = await fetch(`${server.url}/auth/token?service=berth&scope=repository:team/app:pull,push`, {
        headers: { authorization: basicAuth('alice', 'alice-pw'), 'x-forwarded-for': from },
      });
      assert.equal(response.status, 200);
      const { access_token: token } = (await response.json()) as { access_token: string };
      return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).access as unknown[];
    };
    assert.deepEqual(await scopes('203.0.113.9'), [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    assert.deepEqual(await scopes('198.51.100.9'), []);
  });

  test('IPv6 loopback and IPv4-mapped peers are matched against the allowlist', async (t) => {
    if (!(await canListenOnIpv6Loopback())) {
      t.skip('this machine cannot listen on ::1');
      return;
    }
    // Dual stack: IPv4 clients appear as ::ffff:127.0.0.1, and are matched as 127.0.0.1.
    const dual = await start({ http: { addr: '[::]:0', allow: ['127.0.0.0/8'] } });
    const port = new URL(dual.url).port;
    assert.equal(await status(`http://127.0.0.1:${port}/v2/`), 200, 'IPv4-mapped peer inside 127.0.0.0/8');
    assert.equal(await status(`http://[::1]:${port}/v2/`), 403, '::1 is not in 127.0.0.0/8');
    const six = await start({ http: { addr: '[::1]:0', allow: ['::1/128'] } });
    assert.equal(await status(`${six.url}/v2/`), 200);
  });
});
