import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { assertError, makeImage, pushImage } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { aliceAdminRules, basicAuth, writeHtpasswd } from '../support/htpasswd.ts';
import { pollUntil } from '../support/process.ts';

// Berth with its built-in token service, driven over HTTP as Docker clients do.

const SERVICE = 'berth.test';
const alice = basicAuth('alice', 'alice-pw'); // pull and push on team/*, pull everywhere
const admin = basicAuth('admin', 'admin-pw'); // everything, everywhere

interface TokenResponse {
  token?: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

describe('HTTP with the built-in token service', { timeout: 60_000 }, () => {
  let server: TestServer;
  let dir: string;
  let base: string;
  let realm: string;

  const get = (url: string, headers: Record<string, string> = {}, method = 'GET') => fetch(`${base}${url}`, { method, headers });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  /** GET /auth/token with the given Basic credentials (none: anonymous) and scopes. */
  async function tokenFor(authorization: string | undefined, scopes: string[], extra: Record<string, string> = {}): Promise<TokenResponse> {
    const query = new URLSearchParams({ service: SERVICE, ...extra });
    for (const scope of scopes) query.append('scope', scope);
    const response = await get(`/auth/token?${query}`, authorization ? { authorization } : {});
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('cache-control'), 'no-store');
    return (await response.json()) as TokenResponse;
  }

  const postToken = (form: Record<string, string | string[]>) => {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(form)) for (const each of [value].flat()) body.append(name, each);
    return fetch(`${base}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  };

  const accessOf = (token: string) => decodeJwt(token).access;

  before(async () => {
    dir = await makeTempDir('berth-token-http-');
    const htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'alice-pw', admin: 'admin-pw' });
    server = await startTestServer({
      config: {
        storage: { delete: { enabled: true } },
        auth: { htpasswd: { path: htpasswd }, tokenservice: { issuer: 'berth-issuer', service: SERVICE } },
        access: {
          rules: aliceAdminRules,
        },
      },
    });
    base = server.url;
    realm = `${base}/auth/token`;
    for (const repository of ['team/app', 'public/tool', 'private/secret']) {
      const { token } = await tokenFor(admin, [`repository:${repository}:pull,push`]);
      const pushed = await pushImage(base, repository, 'v1', makeImage(), bearer(token!));
      assert.equal(pushed.status, 201);
    }
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('without a token, /v2 answers 401 with a Bearer challenge naming exactly the scope the request needs', async () => {
    const cases: Array<[string, string, string | undefined]> = [
      ['GET', '/v2/', undefined],
      ['GET', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
      ['HEAD', '/v2/team/app/blobs/sha256:' + '0'.repeat(64), 'repository:team/app:pull'],
      ['GET', '/v2/team/app/tags/list', 'repository:team/app:pull'],
      ['POST', '/v2/team/new/blobs/uploads/', 'repository:team/new:pull,push'],
      ['PUT', '/v2/team/app/manifests/v2', 'repository:team/app:pull,push'],
      ['DELETE', '/v2/team/app/manifests/v1', 'repository:team/app:delete'],
      ['GET', '/v2/_catalog', 'registry:catalog:*'],
    ];
    for (const [method, url, scope] of cases) {
      const response = await get(url, {}, method);
      const expected = `Bearer realm="${realm}",service="${SERVICE}"${scope ? `,scope="${scope}"` : ''}`;
      assert.equal(response.headers.get('www-authenticate'), expected, `${method} ${url}`);
      assert.equal(response.status, 401, `${method} ${url}`);
      await response.arrayBuffer();
    }
  });

  test('a Host header that is not a host name does not reach the challenge: the realm is relative', async () => {
    const { port } = new URL(base);
    const header = await new Promise<string | undefined>((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port, path: '/v2/', headers: { host: 'evil.test",x="' } }, (response) => {
        response.resume();
        resolve(response.headers['www-authenticate']);
      });
      request.once('error', reject);
      request.end();
    });
    assert.equal(header, `Bearer realm="/auth/token",service="${SERVICE}"`);
  });

  test('Basic credentials are not accepted on /v2 in token mode: the answer is the Bearer challenge', async () => {
    const response = await get('/v2/team/app/manifests/v1', { authorization: alice });
    assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${SERVICE}",scope="repository:team/app:pull"`);
    await assertError(response, 401, 'UNAUTHORIZED');
  });

  test('GET /auth/token with Basic credentials answers token, access_token, expires_in and issued_at; the token works on /v2', async () => {
    const body = await tokenFor(alice, ['repository:team/app:pull'], { account: 'alice', client_id: 'test' });
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_at', 'token']);
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 60_000);
    const claims = decodeJwt(body.token!);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.iss, 'berth-issuer');
    assert.equal(claims.aud, SERVICE);
    const manifest = await get('/v2/team/app/manifests/v1', { ...bearer(body.token!), accept: 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(manifest.status, 200);
    await manifest.arrayBuffer();
    const base = await get('/v2/', bearer(body.token!));
    assert.equal(base.status, 200);
    await base.arrayBuffer();
  });

  test('the token verifies against the JWKS served at /auth/jwks.json and /.well-known/jwks.json', async () => {
    const { token } = await tokenFor(alice, ['repository:team/app:pull']);
    for (const url of ['/auth/jwks.json', '/.well-known/jwks.json']) {
      const response = await get(url);
      assert.equal(response.status, 200);
      const jwks = createLocalJWKSet((await response.json()) as Parameters<typeof createLocalJWKSet>[0]);
      const { payload, protectedHeader } = await jwtVerify(token!, jwks, { issuer: 'berth-issuer', audience: SERVICE });
      assert.equal(payload.sub, 'alice');
      assert.equal(protectedHeader.alg, 'ES256');
    }
  });

  test('a wrong password, or an account other than the credentials, gets no token', async () => {
    const wrong = await get(`/auth/token?service=${SERVICE}&scope=repository:team/app:pull`, { authorization: basicAuth('alice', 'nope') });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    assert.equal(((await wrong.json()) as { token?: string }).token, undefined);
    const account = await get(`/auth/token?service=${SERVICE}&account=admin`, { authorization: alice });
    assert.equal(account.status, 400);
    await account.arrayBuffer();
    const service = await get('/auth/token?service=elsewhere', { authorization: alice });
    assert.equal(service.status, 400);
    await service.arrayBuffer();
  });

  test('asking for more than allowed yields a token with less: unknown and invalid scopes are dropped', async () => {
    const { token } = await tokenFor(alice, ['repository:team/app:pull,push,delete', 'repository:private/secret:push,pull', 'repository:../x:push', 'repository:a:b:c', 'registry:catalog:*']);
    assert.deepEqual(accessOf(token!), [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'private/secret', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    const push = await get('/v2/private/secret/blobs/uploads/', bearer(token!), 'POST');
    assert.equal(push.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${SERVICE}",scope="repository:private/secret:pull,push",error="insufficient_scope"`);
    await assertError(push, 401, 'UNAUTHORIZED');
  });

  test('a token for repository A used on repository B gets 401 with the challenge for B', async () => {
    const { token } = await tokenFor(alice, ['repository:team/app:pull']);
    const response = await get('/v2/public/tool/manifests/v1', bearer(token!));
    assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${SERVICE}",scope="repository:public/tool:pull",error="insufficient_scope"`);
    await assertError(response, 401, 'UNAUTHORIZED');
  });

  test('a malformed, tampered or oversized token gets 401 invalid_token', async () => {
    const { token } = await tokenFor(alice, ['repository:team/app:pull']);
    const [header, payload, signature] = token!.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    claims.access[0].actions = ['pull', 'push'];
    const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    for (const value of ['garbage', tampered]) {
      const response = await get('/v2/team/app/tags/list', bearer(value));
      assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${SERVICE}",scope="repository:team/app:pull",error="invalid_token"`);
      await assertError(response, 401, 'UNAUTHORIZED');
    }
    const oversized = await get('/v2/team/app/tags/list', { authorization: `Bearer ${token}${'A'.repeat(9000)}` });
    await assertError(oversized, 401, 'UNAUTHORIZED');
  });

  test('anonymous callers get a token for public repositories only, and it works there', async () => {
    const { token } = await tokenFor(undefined, ['repository:public/tool:pull,push', 'repository:team/app:pull']);
    assert.equal(decodeJwt(token!).sub, '');
    assert.deepEqual(accessOf(token!), [{ type: 'repository', name: 'public/tool', actions: ['pull'] }]);
    const tags = await get('/v2/public/tool/tags/list', bearer(token!));
    assert.equal(tags.status, 200);
    assert.deepEqual(await tags.json(), { name: 'public/tool', tags: ['v1'] });
    const refused = await get('/v2/team/app/tags/list', bearer(token!));
    await assertError(refused, 401, 'UNAUTHORIZED');
    const offline = await tokenFor(undefined, ['repository:public/tool:pull'], { offline_token: 'true' });
    assert.equal(offline.refresh_token, undefined, 'no refresh token for anonymous callers');
  });

  test('with a token granting registry:catalog:*, the catalog lists what the subject may pull', async () => {
    const anonymous = await tokenFor(undefined, ['registry:catalog:*']);
    const listed = await get('/v2/_catalog', bearer(anonymous.token!));
    assert.deepEqual(await listed.json(), { repositories: ['public/tool'] });
    const { token } = await tokenFor(alice, ['registry:catalog:*']);
    const all = await get('/v2/_catalog', bearer(token!));
    assert.deepEqual(await all.json(), { repositories: ['private/secret', 'public/tool', 'team/app'] });
  });

  test('POST /auth/token with grant_type=password answers access_token and scope; access_type=offline adds a refresh token', async () => {
    const response = await postToken({ grant_type: 'password', username: 'alice', password: 'alice-pw', service: SERVICE, client_id: 'test', scope: 'repository:team/app:pull,push repository:private/secret:push', access_type: 'offline' });
    assert.equal(response.status, 200);
    const body = (await response.json()) as TokenResponse;
    assert.equal(body.scope, 'repository:team/app:pull,push');
    assert.match(body.refresh_token ?? '', /^brt_/);
    assert.deepEqual(accessOf(body.access_token), [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);

    const refreshed = await postToken({ grant_type: 'refresh_token', refresh_token: body.refresh_token!, service: SERVICE, client_id: 'test', scope: 'repository:team/other:push' });
    assert.equal(refreshed.status, 200);
    const again = (await refreshed.json()) as TokenResponse;
    assert.equal(decodeJwt(again.access_token).sub, 'alice');
    assert.deepEqual(accessOf(again.access_token), [{ type: 'repository', name: 'team/other', actions: ['push'] }]);
  });

  test('GET /auth/token with offline_token=true answers a refresh token that POST redeems', async () => {
    const body = await tokenFor(alice, [], { offline_token: 'true', client_id: 'test' });
    assert.match(body.refresh_token ?? '', /^brt_/);
    const refreshed = await postToken({ grant_type: 'refresh_token', refresh_token: body.refresh_token!, service: SERVICE, client_id: 'test', scope: 'repository:team/app:pull' });
    assert.equal(refreshed.status, 200);
    assert.deepEqual(accessOf(((await refreshed.json()) as TokenResponse).access_token), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  });

  test('POST /auth/token refuses wrong passwords, unknown refresh tokens, missing client_id and other grants', async () => {
    const cases: Array<[Record<string, string>, number]> = [
      [{ grant_type: 'password', username: 'alice', password: 'wrong', client_id: 'test' }, 401],
      [{ grant_type: 'refresh_token', refresh_token: 'brt_unknown', client_id: 'test' }, 401],
      [{ grant_type: 'password', username: 'alice', password: 'alice-pw' }, 400],
      [{ grant_type: 'client_credentials', client_id: 'test' }, 400],
      [{ grant_type: 'password', username: 'alice', password: 'alice-pw', client_id: 'test', service: 'elsewhere' }, 400],
    ];
    for (const [form, status] of cases) {
      const response = await postToken(form);
      assert.equal(response.status, status, JSON.stringify(form));
      assert.equal(((await response.json()) as { access_token?: string }).access_token, undefined);
    }
    const json = await fetch(`${base}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(json.status, 400);
    await json.arrayBuffer();
  });

  test('the signing key was generated under the data directory with mode 0600', async () => {
    const file = path.join(server.dataDir, 'token-signing-key.pem');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(await readFile(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  });
});

describe('token service state across a restart', { timeout: 60_000 }, () => {
  let dir: string;
  let dataDir: string;
  let server: TestServer | undefined;

  before(async () => {
    dir = await makeTempDir('berth-token-restart-');
    dataDir = path.join(dir, 'data');
  });
  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function start(): Promise<TestServer> {
    const htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'alice-pw' });
    return startTestServer({ dataDir, config: { auth: { htpasswd: { path: htpasswd }, tokenservice: { service: SERVICE } } } });
  }

  test('refresh tokens are kept in the database as a sha256 only, and they and access tokens outlive a restart', async () => {
    server = await start();
    const response = await fetch(`${server.url}/auth/token?service=${SERVICE}&offline_token=true&client_id=t&scope=repository:team/app:pull`, { headers: { authorization: alice } });
    const { token, refresh_token: refresh } = (await response.json()) as TokenResponse;
    assert.ok(refresh && token);
    await server.close();
    server = undefined;

    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(path.join(dataDir, 'berth.db'), { readOnly: true });
    try {
      const rows = db.prepare('SELECT * FROM refresh_tokens').all() as Array<Record<string, unknown>>;
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.hash, createHash('sha256').update(refresh).digest('hex'));
      assert.equal(rows[0]!.subject, 'alice');
      assert.ok(!JSON.stringify(rows).includes(refresh.slice(4)), 'the secret is not stored');
    } finally {
      db.close();
    }

    server = await start();
    const tags = await fetch(`${server.url}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(tags.status, 404, 'the access token still verifies (the repository does not exist)');
    await tags.arrayBuffer();
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 't', service: SERVICE, scope: 'repository:team/app:push' });
    const refreshed = await fetch(`${server.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    assert.equal(refreshed.status, 200);
    assert.equal(decodeJwt(((await refreshed.json()) as TokenResponse).access_token).sub, 'alice');
  });

  test('a refresh token stops working once its user is removed from the htpasswd file', async () => {
    server ??= await start();
    const response = await fetch(`${server.url}/auth/token?service=${SERVICE}&offline_token=true&client_id=t`, { headers: { authorization: alice } });
    const { refresh_token: refresh } = (await response.json()) as TokenResponse;
    const redeem = async () => {
      const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh!, client_id: 't', service: SERVICE });
      const answer = await fetch(`${server!.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      await answer.arrayBuffer();
      return answer.status;
    };
    assert.equal(await redeem(), 200);
    await writeHtpasswd(path.join(dir, 'htpasswd'), { bob: 'bob-pw' });
    await pollUntil(async () => (await redeem()) === 401, 'the refresh token to be refused', 15_000, 200);
  });
});
