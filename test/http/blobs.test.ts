import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, makeBlob, makeImage, pushBlob, pushImage } from '../support/oci.ts';

let server: TestServer;
let deleting: TestServer;
before(async () => {
  server = await startTestServer();
  deleting = await startTestServer({ config: { storage: { delete: { enabled: true } } } });
});
after(async () => {
  await server?.close();
  await deleting?.close();
});

test('HEAD on a blob gives its size and digest without a body', async () => {
  const blob = makeBlob();
  await pushBlob(server.url, 'blobs/head', blob);
  const response = await fetch(`${server.url}/v2/blobs/head/blobs/${blob.digest}`, { method: 'HEAD' });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-length'), String(blob.size));
  assert.equal(response.headers.get('docker-content-digest'), blob.digest);
  assert.equal((await response.arrayBuffer()).byteLength, 0);
});

test('GET on a blob returns its exact bytes with Content-Length, Docker-Content-Digest and ETag', async () => {
  const blob = makeBlob();
  await pushBlob(server.url, 'blobs/get', blob);
  const response = await fetch(`${server.url}/v2/blobs/get/blobs/${blob.digest}`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-length'), String(blob.size));
  assert.equal(response.headers.get('docker-content-digest'), blob.digest);
  assert.equal(response.headers.get('etag'), `"${blob.digest}"`);
  assert.deepEqual(Buffer.from(await response.arrayBuffer()), blob.bytes);
});

test('GET with If-None-Match of the blob ETag answers 304 without a body', async () => {
  const blob = makeBlob();
  await pushBlob(server.url, 'blobs/etag', blob);
  const response = await fetch(`${server.url}/v2/blobs/etag/blobs/${blob.digest}`, { headers: { 'if-none-match': `"${blob.digest}"` } });
  assert.equal(response.status, 304);
  assert.equal((await response.arrayBuffer()).byteLength, 0);
});

test('GET with a Range answers 206 with exactly that slice and Content-Range, Content-Length, Docker-Content-Digest, ETag', async () => {
  const blob = makeBlob(Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251)));
  await pushBlob(server.url, 'blobs/range', blob);
  const url = `${server.url}/v2/blobs/range/blobs/${blob.digest}`;
  const cases: Array<[string, number, number]> = [
    ['bytes=0-99', 0, 99],
    ['bytes=100-', 100, 999],
    ['bytes=-10', 990, 999],
    ['bytes=500-5000', 500, 999],
    ['bytes=999-999', 999, 999],
  ];
  for (const [range, start, end] of cases) {
    const response = await fetch(url, { headers: { range } });
    assert.equal(response.status, 206, range);
    assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/1000`, range);
    assert.equal(response.headers.get('content-length'), String(end - start + 1), range);
    assert.equal(response.headers.get('docker-content-digest'), blob.digest, range);
    assert.equal(response.headers.get('etag'), `"${blob.digest}"`, range);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), blob.bytes.subarray(start, end + 1), range);
  }
});

test('an unsatisfiable Range answers 416 with Content-Range: bytes */size', async () => {
  const blob = makeBlob(Buffer.alloc(100, 7));
  await pushBlob(server.url, 'blobs/range416', blob);
  for (const range of ['bytes=100-', 'bytes=5000-6000', 'bytes=-0']) {
    const response = await fetch(`${server.url}/v2/blobs/range416/blobs/${blob.digest}`, { headers: { range } });
    assert.equal(response.status, 416, range);
    assert.equal(response.headers.get('content-range'), 'bytes */100', range);
    await response.arrayBuffer();
  }
});

test('a blob is readable only through repositories it is linked to', async () => {
  const blob = makeBlob();
  await pushBlob(server.url, 'blobs/owner', blob);
  // The other repository exists (it has its own blob) but never received this one.
  await pushBlob(server.url, 'blobs/stranger', makeBlob());
  const url = `${server.url}/v2/blobs/stranger/blobs/${blob.digest}`;
  await assertError(await fetch(url), 404, 'BLOB_UNKNOWN');
  const head = await fetch(url, { method: 'HEAD' });
  assert.equal(head.status, 404);
  await assertError(await fetch(`${server.url}/v2/blobs/never-created/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
  assert.equal((await fetch(`${server.url}/v2/blobs/owner/blobs/${blob.digest}`, { method: 'HEAD' })).status, 200);
});

test('an unknown blob answers 404 BLOB_UNKNOWN on GET and 404 on HEAD', async () => {
  await pushBlob(server.url, 'blobs/unknown', makeBlob());
  const digest = makeBlob().digest;
  await assertError(await fetch(`${server.url}/v2/blobs/unknown/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  const head = await fetch(`${server.url}/v2/blobs/unknown/blobs/${digest}`, { method: 'HEAD' });
  assert.equal(head.status, 404);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

test('a manifest of the repository is also served through the blob endpoint by digest', async () => {
  const image = makeImage({ layerCount: 1 });
  await pushImage(server.url, 'blobs/manifest', 'v1', image);
  const response = await fetch(`${server.url}/v2/blobs/manifest/blobs/${image.digest}`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('docker-content-digest'), image.digest);
  assert.deepEqual(Buffer.from(await response.arrayBuffer()), image.manifest);
});

test('DELETE of a blob answers 405 UNSUPPORTED when deletes are disabled, and the blob stays', async () => {
  const blob = makeBlob();
  await pushBlob(server.url, 'blobs/nodelete', blob);
  await assertError(await fetch(`${server.url}/v2/blobs/nodelete/blobs/${blob.digest}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
  assert.equal((await fetch(`${server.url}/v2/blobs/nodelete/blobs/${blob.digest}`, { method: 'HEAD' })).status, 200);
});

test('DELETE of a blob answers 202 when deletes are enabled; then it is unknown there but still readable where else linked', async () => {
  const blob = makeBlob();
  await pushBlob(deleting.url, 'blobs/del-a', blob);
  await pushBlob(deleting.url, 'blobs/del-b', blob);
  const response = await fetch(`${deleting.url}/v2/blobs/del-a/blobs/${blob.digest}`, { method: 'DELETE' });
  assert.equal(response.status, 202);
  await response.arrayBuffer();
  assert.equal((await fetch(`${deleting.url}/v2/blobs/del-a/blobs/${blob.digest}`, { method: 'HEAD' })).status, 404);
  await assertError(await fetch(`${deleting.url}/v2/blobs/del-a/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
  const other = await fetch(`${deleting.url}/v2/blobs/del-b/blobs/${blob.digest}`);
  assert.equal(other.status, 200);
  assert.deepEqual(Buffer.from(await other.arrayBuffer()), blob.bytes);
  // Deleting again: the blob is no longer there.
  await assertError(await fetch(`${deleting.url}/v2/blobs/del-a/blobs/${blob.digest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
});

test('DELETE of a blob with a malformed digest answers 400 DIGEST_INVALID', async () => {
  await pushBlob(deleting.url, 'blobs/del-bad', makeBlob());
  await assertError(await fetch(`${deleting.url}/v2/blobs/del-bad/blobs/sha256:1234`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
});
