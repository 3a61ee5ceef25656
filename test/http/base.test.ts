import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError } from '../support/oci.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.close();
});

test('GET /v2/ answers 200 with an empty JSON object and Docker-Distribution-API-Version: registry/2.0', async () => {
  for (const path of ['/v2/', '/v2']) {
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await response.json(), {});
  }
});

test('HEAD /v2/ answers 200 with the API version header and no body', async () => {
  const response = await fetch(`${server.url}/v2/`, { method: 'HEAD' });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
  assert.equal((await response.arrayBuffer()).byteLength, 0);
});

test('error responses carry the API version header and the spec error body', async () => {
  const response = await fetch(`${server.url}/v2/nothing/here/manifests/latest`);
  assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
  await assertError(response, 404, 'NAME_UNKNOWN');
});

test('a method an endpoint does not support answers 405 UNSUPPORTED', async () => {
  await assertError(await fetch(`${server.url}/v2/`, { method: 'POST' }), 405, 'UNSUPPORTED');
  await assertError(await fetch(`${server.url}/v2/_catalog`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
  await assertError(await fetch(`${server.url}/v2/some/repo/tags/list`, { method: 'PUT' }), 405, 'UNSUPPORTED');
  await assertError(await fetch(`${server.url}/v2/some/repo/blobs/uploads/`, { method: 'GET' }), 405, 'UNSUPPORTED');
});

test('a path outside the API answers 404 with a JSON error body', async () => {
  const response = await fetch(`${server.url}/v3/`);
  assert.equal(response.status, 404);
  const body = (await response.json()) as { errors: Array<{ code: string }> };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0);
});
