import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import { serve } from '../../src/app/index.ts';
import { configSchema } from '../../src/config/index.ts';
import { assertError, makeBlob, makeImage, pushBlob, pushImage } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { aliceAdminRules, basicAuth, writeHtpasswd } from '../support/htpasswd.ts';

// Berth with an htpasswd file and access rules, driven over HTTP.

const REALM = 'Berth test realm';
const alice = { authorization: basicAuth('alice', 'alice-pw') }; // pull and push on team/*, pull everywhere
const reader = { authorization: basicAuth('reader', 'reader-pw') }; // pull everywhere, nothing else
const admin = { authorization: basicAuth('admin', 'admin-pw') }; // everything, everywhere
const wrongPassword = { authorization: basicAuth('alice', 'not-her-password') };

describe('HTTP access with htpasswd and rules', { timeout: 60_000 }, () => {
  let server: TestServer;
  let dir: string;
  let base: string;

  const get = (url: string, headers: Record<string, string> = {}, method = 'GET') => fetch(`${base}${url}`, { method, headers });
  const assertChallenge = async (response: Response) => {
    assert.equal(response.headers.get('www-authenticate'), `Basic realm="${REALM}"`);
    await assertError(response, 401, 'UNAUTHORIZED');
  };

  before(async () => {
    dir = await makeTempDir('berth-auth-http-');
    const htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'alice-pw', reader: 'reader-pw', admin: 'admin-pw' });
    server = await startTestServer({
      config: {
        storage: { delete: { enabled: true } },
        auth: { htpasswd: { realm: REALM, path: htpasswd } },
        access: {
          rules: aliceAdminRules,
        },
      },
    });
    base = server.url;
    for (const repository of ['team/app', 'public/tool', 'private/secret', 'other/thing']) {
      await pushImage(base, repository, 'v1', makeImage(), admin);
    }
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('GET /v2/ without credentials answers 401 UNAUTHORIZED with exactly the Basic challenge', async () => {
    await assertChallenge(await get('/v2/'));
    const head = await get('/v2/', {}, 'HEAD');
    assert.equal(head.status, 401);
    assert.equal(head.headers.get('www-authenticate'), `Basic realm="${REALM}"`);
    await head.body?.cancel();
  });

  test('GET /v2/ with a valid user answers 200, as docker login expects; a wrong password answers 401', async () => {
    const ok = await get('/v2/', reader);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    await assertChallenge(await get('/v2/', wrongPassword));
    await assertChallenge(await get('/v2/', { authorization: basicAuth('nobody', 'alice-pw') }));
  });

  test('malformed or unsupported Authorization headers answer 401, never 500', async () => {
    for (const authorization of ['Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, 'Bearer abc.def.ghi', 'Digest x']) {
      await assertChallenge(await get('/v2/team/app/tags/list', { authorization }));
    }
  });

  test('a wrong password is refused even where anonymous pull is allowed', async () => {
    await assertChallenge(await get('/v2/public/tool/tags/list', wrongPassword));
  });

  test('anonymous pull works where a rule allows it and nowhere else', async () => {
    const allowed = await get('/v2/public/tool/manifests/v1', { accept: 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(allowed.status, 200);
    await allowed.body?.cancel();
    const tags = await get('/v2/public/tool/tags/list');
    assert.deepEqual(await tags.json(), { name: 'public/tool', tags: ['v1'] });
    for (const repository of ['team/app', 'private/secret']) {
      await assertChallenge(await get(`/v2/${repository}/manifests/v1`));
      await assertChallenge(await get(`/v2/${repository}/tags/list`));
    }
    // Anonymous callers with pull are still asked to log in for a push.
    await assertChallenge(await fetch(`${base}/v2/public/tool/blobs/uploads/`, { method: 'POST' }));
  });

  test('a pull-only user can pull but a push answers 403 DENIED', async () => {
    const pulled = await get('/v2/team/app/manifests/v1', reader);
    assert.equal(pulled.status, 200);
    await pulled.body?.cancel();
    await assertError(await fetch(`${base}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: reader }), 403, 'DENIED');
    const image = makeImage();
    await assertError(
      await fetch(`${base}/v2/team/app/manifests/v2`, { method: 'PUT', headers: { ...reader, 'content-type': image.mediaType }, body: new Uint8Array(image.manifest) }),
      403,
      'DENIED',
    );
    await assertError(await fetch(`${base}/v2/team/app/manifests/v1`, { method: 'DELETE', headers: reader }), 403, 'DENIED');
  });

  test('a user with push on team/* pushes there, but not elsewhere, and may not delete', async () => {
    await pushImage(base, 'team/new', 'v1', makeImage(), alice);
    await assert.rejects(pushBlob(base, 'private/secret', makeBlob('x'), alice), /answered 403/);
    await assertError(await fetch(`${base}/v2/team/new/manifests/v1`, { method: 'DELETE', headers: alice }), 403, 'DENIED');
    const deleted = await fetch(`${base}/v2/team/new/manifests/v1`, { method: 'DELETE', headers: admin });
    assert.equal(deleted.status, 202);
    await deleted.body?.cancel();
  });

  test('the catalog lists only repositories the caller may pull, with correct pagination', async () => {
    const catalog = async (query: string, headers: Record<string, string> = {}) => {
      const response = await get(`/v2/_catalog${query}`, headers);
      assert.equal(response.status, 200);
      return { body: (await response.json()) as { repositories: string[] }, link: response.headers.get('link') };
    };
    assert.deepEqual((await catalog('')).body.repositories, ['public/tool']);
    const all = (await catalog('', reader)).body.repositories;
    assert.ok(all.includes('private/secret') && all.includes('team/app'), all.join(','));

    // A rule-limited caller pages through a filtered list: full pages, no gaps, no repeats.
    const first = await catalog('?n=1');
    assert.deepEqual(first.body.repositories, ['public/tool']);
    assert.equal(first.link, null, 'no further page for the anonymous caller');
    const pages: string[] = [];
    let query = '?n=2';
    for (let i = 0; i < 10 && query; i++) {
      const page = await catalog(query, reader);
      pages.push(...page.body.repositories);
      query = page.link ? new URL(/<([^>]+)>/.exec(page.link)![1]!, base).search : '';
    }
    assert.deepEqual(pages, all);
  });

  test('Expect: 100-continue is answered 401 before the body is sent, and invited with 100 once access is granted', async () => {
    const { port } = new URL(base);
    const attempt = (headers: Record<string, string>) =>
      new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
        const body = Buffer.alloc(64 * 1024, 1);
        const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/team/continue/blobs/uploads/', headers: { ...headers, expect: '100-continue', 'content-length': body.length } });
        let continued = false;
        request.on('continue', () => {
          continued = true;
          request.end(body);
        });
        request.on('response', (response) => {
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode!, continued }));
          if (!continued) request.destroy();
        });
        request.on('error', reject);
        request.flushHeaders();
      });
    assert.deepEqual(await attempt({}), { status: 401, continued: false });
    assert.deepEqual(await attempt(reader), { status: 403, continued: false });
    assert.deepEqual(await attempt(alice), { status: 202, continued: true });
  });

  test('a cross-repository mount without pull on the source falls back to an upload session (202)', async () => {
    const blob = makeBlob('mount me');
    await pushBlob(base, 'private/secret', blob, admin);
    // alice may push team/*, and may pull private/* through the authenticated rule: mounted.
    const mounted = await fetch(`${base}/v2/team/mounted/blobs/uploads/?mount=${blob.digest}&from=private/secret`, { method: 'POST', headers: alice });
    assert.equal(mounted.status, 201);
    await mounted.body?.cancel();

    // A user with push on team/* but no pull on the source: the mount is not made.
    const restricted = await startTestServer({
      dataDir: server.dataDir,
      config: {
        auth: { htpasswd: { realm: REALM, path: path.join(dir, 'htpasswd') } },
        access: { rules: [{ repositories: ['team/*'], subjects: ['user:alice'], actions: ['pull', 'push'] }] },
      },
    });
    try {
      const fallback = await fetch(`${restricted.url}/v2/team/other/blobs/uploads/?mount=${blob.digest}&from=private/secret`, { method: 'POST', headers: alice });
      assert.equal(fallback.status, 202, 'an upload session instead of a mount');
      assert.ok(fallback.headers.get('location')?.includes('/v2/team/other/blobs/uploads/'));
      await fallback.body?.cancel();
      const head = await fetch(`${restricted.url}/v2/team/other/blobs/${blob.digest}`, { method: 'HEAD', headers: alice });
      assert.equal(head.status, 404, 'the blob was not linked into team/other');
    } finally {
      await restricted.stop();
    }
  });
});

test('no password, Authorization header or hash reaches the log, even at trace level', async () => {
  const dir = await makeTempDir('berth-auth-log-');
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  const htpasswd = path.join(dir, 'htpasswd');
  await writeHtpasswd(htpasswd, { alice: 'alice-secret-pw' });
  const config = configSchema.parse({
    http: { addr: '127.0.0.1:0' },
    log: { level: 'trace' },
    storage: { filesystem: { rootdirectory: dir }, fsync: false },
    auth: { htpasswd: { realm: REALM, path: htpasswd } },
  });
  const server = await serve({ config, warnings: [], source: 'test' }, destination);
  try {
    for (const authorization of [basicAuth('alice', 'alice-secret-pw'), basicAuth('alice', 'wrong-secret-pw')]) {
      const response = await fetch(`${server.url}/v2/team/app/tags/list`, { headers: { authorization } });
      await response.body?.cancel();
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const log = lines.join('');
  assert.match(log, /"url":"\/v2\/team\/app\/tags\/list"/, 'the requests were logged');
  for (const secret of ['alice-secret-pw', 'wrong-secret-pw', Buffer.from('alice:alice-secret-pw').toString('base64'), '$2y$']) {
    assert.ok(!log.includes(secret), `the log contains ${secret}`);
  }
});
