import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { assertError } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { basicAuth, writeHtpasswd } from '../support/htpasswd.ts';

// Failed logins over HTTP: 3 per account and 5 per address a minute. Every test comes "from"
// its own address through X-Forwarded-For (the loopback peer is a trusted proxy), so the
// address tables of one test do not reach the next.

const LIMITS = { account: { failures: 3, window: '1m' }, address: { failures: 5, window: '1m' } };

async function assertLimited(response: Response): Promise<void> {
  const retryAfter = response.headers.get('retry-after');
  assert.match(retryAfter ?? '', /^\d+$/, 'Retry-After in whole seconds');
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter} is within the window`);
  await assertError(response, 429, 'TOOMANYREQUESTS');
}

describe('failed logins are rate-limited', { timeout: 60_000 }, () => {
  let dir: string;
  let basic: TestServer;
  let tokens: TestServer;

  before(async () => {
    dir = await makeTempDir('berth-login-limit-');
    const htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw' });
    const common = { http: { trustedproxies: ['127.0.0.0/8'] } };
    basic = await startTestServer({ config: { ...common, auth: { htpasswd: { path: htpasswd }, ratelimit: LIMITS } } });
    tokens = await startTestServer({ config: { ...common, auth: { htpasswd: { path: htpasswd }, tokenservice: { service: 'berth.test' }, ratelimit: LIMITS } } });
  });

  after(async () => {
    await basic?.close();
    await tokens?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const v2 = (from: string, authorization: string) => fetch(`${basic.url}/v2/`, { headers: { authorization, 'x-forwarded-for': from } });

  test('/v2 Basic: an account with too many failures gets 429 with Retry-After, even with the right password', async () => {
    for (let i = 0; i < 3; i++) await assertError(await v2('203.0.113.1', basicAuth('alice', 'wrong')), 401, 'UNAUTHORIZED');
    await assertLimited(await v2('203.0.113.1', basicAuth('alice', 'alice-pw')));
    await assertLimited(await v2('198.51.100.1', basicAuth('alice', 'alice-pw')));
    const bob = await v2('203.0.113.1', basicAuth('bob', 'bob-pw'));
    assert.equal(bob.status, 200, 'another account from the same address is not limited below the address limit');
    await bob.body?.cancel();
  });

  test('/v2 Basic: an address with too many failures is limited for every account', async () => {
    for (const user of ['u1', 'u2', 'u3', 'u4', 'u5']) await assertError(await v2('203.0.113.2', basicAuth(user, 'guess')), 401, 'UNAUTHORIZED');
    await assertLimited(await v2('203.0.113.2', basicAuth('carol', 'carol-pw')));
    const elsewhere = await v2('203.0.113.3', basicAuth('carol', 'carol-pw'));
    assert.equal(elsewhere.status, 200, 'the same account from another address logs in');
    await elsewhere.body?.cancel();
  });

  test('successful logins are not counted or slowed', async () => {
    for (let i = 0; i < 12; i++) {
      const response = await v2('203.0.113.4', basicAuth('dave', 'dave-pw'));
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
  });

  test('/auth/token: GET with Basic and the POST password grant are limited the same way', async () => {
    const get = (from: string, authorization: string) =>
      fetch(`${tokens.url}/auth/token?service=berth.test&scope=repository:x/y:pull`, { headers: { authorization, 'x-forwarded-for': from } });
    const post = (from: string, username: string, password: string) =>
      fetch(`${tokens.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': from },
        body: new URLSearchParams({ grant_type: 'password', client_id: 'test', service: 'berth.test', username, password }),
      });
    for (let i = 0; i < 2; i++) {
      const refused = await get('203.0.113.10', basicAuth('alice', 'wrong'));
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
    }
    const refused = await post('203.0.113.11', 'alice', 'wrong');
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const limitedGet = await get('203.0.113.12', basicAuth('alice', 'alice-pw'));
    assert.equal(limitedGet.headers.get('cache-control'), 'no-store');
    await assertLimited(limitedGet);
    await assertLimited(await post('203.0.113.12', 'alice', 'alice-pw'));
    const bob = await post('203.0.113.12', 'bob', 'bob-pw');
    assert.equal(bob.status, 200, 'other accounts still get tokens');
    assert.ok(((await bob.json()) as { access_token: string }).access_token);
  });
});
