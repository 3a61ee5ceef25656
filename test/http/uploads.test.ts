import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, makeBlob, pushBlob, startUpload, type Blob } from '../support/oci.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.close();
});

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

async function patch(location: URL, bytes: Buffer, contentRange?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (contentRange !== undefined) headers['content-range'] = contentRange;
  return fetch(location, { method: 'PATCH', headers, body: new Uint8Array(bytes) });
}

async function blobStatus(repository: string, digest: string): Promise<number> {
  const response = await fetch(`${server.url}/v2/${repository}/blobs/${digest}`, { method: 'HEAD' });
  await response.arrayBuffer();
  return response.status;
}

async function readBlob(repository: string, digest: string): Promise<Buffer> {
  const response = await fetch(`${server.url}/v2/${repository}/blobs/${digest}`);
  assert.equal(response.status, 200);
  return Buffer.from(await response.arrayBuffer());
}

test('POST starts a session: 202 with Location, Docker-Upload-UUID and Range 0-0', async () => {
  const response = await fetch(`${server.url}/v2/uploads/start/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  assert.equal(response.status, 202);
  await response.arrayBuffer();
  const location = response.headers.get('location');
  const uuid = response.headers.get('docker-upload-uuid');
  assert.ok(location && uuid);
  assert.match(new URL(location, server.url).pathname, new RegExp(`^/v2/uploads/start/blobs/uploads/${uuid}$`));
  assert.equal(response.headers.get('range'), '0-0');
  assert.equal(response.headers.get('content-length'), '0');
});

test('POST then PUT with the whole body commits the blob: 201, Location and Docker-Content-Digest', async () => {
  const blob = makeBlob();
  const location = await startUpload(server.url, 'uploads/monolithic');
  const response = await fetch(withDigest(location, blob.digest), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(blob.bytes) });
  assert.equal(response.status, 201);
  await response.arrayBuffer();
  assert.equal(response.headers.get('docker-content-digest'), blob.digest);
  assert.equal(new URL(response.headers.get('location')!, server.url).pathname, `/v2/uploads/monolithic/blobs/${blob.digest}`);
  assert.deepEqual(await readBlob('uploads/monolithic', blob.digest), blob.bytes);
});

test('a single POST with ?digest= uploads the blob monolithically: 201 and the blob is readable', async () => {
  const blob = makeBlob();
  const response = await fetch(`${server.url}/v2/uploads/single-post/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(blob.bytes),
  });
  assert.equal(response.status, 201);
  await response.arrayBuffer();
  assert.equal(response.headers.get('docker-content-digest'), blob.digest);
  assert.equal(new URL(response.headers.get('location')!, server.url).pathname, `/v2/uploads/single-post/blobs/${blob.digest}`);
  assert.deepEqual(await readBlob('uploads/single-post', blob.digest), blob.bytes);
});

test('a single POST with ?digest= that does not match the body answers 400 DIGEST_INVALID and commits nothing', async () => {
  const blob = makeBlob();
  const other = makeBlob();
  const response = await fetch(`${server.url}/v2/uploads/single-post-bad/blobs/uploads/?digest=${other.digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(blob.bytes),
  });
  await assertError(response, 400, 'DIGEST_INVALID');
  assert.equal(await blobStatus('uploads/single-post-bad', other.digest), 404);
  assert.equal(await blobStatus('uploads/single-post-bad', blob.digest), 404);
});

test('chunked PATCHes with Content-Range advance Range and PUT ?digest= commits the concatenation', async () => {
  const bytes = randomBytes(3000);
  const blob = makeBlob(bytes);
  let location = await startUpload(server.url, 'uploads/chunked');
  for (const [start, end] of [[0, 999], [1000, 1999], [2000, 2999]] as const) {
    const response = await patch(location, bytes.subarray(start, end + 1), `${start}-${end}`);
    assert.equal(response.status, 202);
    await response.arrayBuffer();
    assert.equal(response.headers.get('range'), `0-${end}`);
    assert.ok(response.headers.get('docker-upload-uuid'));
    location = new URL(response.headers.get('location')!, server.url);
  }
  const put = await fetch(withDigest(location, blob.digest), { method: 'PUT' });
  assert.equal(put.status, 201);
  await put.arrayBuffer();
  assert.deepEqual(await readBlob('uploads/chunked', blob.digest), bytes);
});

test('a chunk that leaves a gap or overlaps answers 416 with the current Range, and nothing already sent is lost', async () => {
  const bytes = randomBytes(300);
  const blob = makeBlob(bytes);
  const location = await startUpload(server.url, 'uploads/out-of-order');
  const first = await patch(location, bytes.subarray(0, 100), '0-99');
  assert.equal(first.status, 202);
  await first.arrayBuffer();

  const gap = await patch(location, bytes.subarray(150, 200), '150-199');
  assert.equal(gap.status, 416);
  assert.equal(gap.headers.get('range'), '0-99');
  assert.ok(gap.headers.get('location'));
  await gap.arrayBuffer();

  const overlap = await patch(location, bytes.subarray(50, 150), '50-149');
  assert.equal(overlap.status, 416);
  assert.equal(overlap.headers.get('range'), '0-99');
  await overlap.arrayBuffer();

  const status = await fetch(location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), '0-99');

  const resumed = await patch(location, bytes.subarray(100), '100-299');
  assert.equal(resumed.status, 202);
  assert.equal(resumed.headers.get('range'), '0-299');
  await resumed.arrayBuffer();
  const put = await fetch(withDigest(location, blob.digest), { method: 'PUT' });
  assert.equal(put.status, 201);
  await put.arrayBuffer();
  assert.deepEqual(await readBlob('uploads/out-of-order', blob.digest), bytes);
});

test('a Content-Range whose length disagrees with the body is refused and the session keeps its previous bytes', async () => {
  const bytes = randomBytes(200);
  const location = await startUpload(server.url, 'uploads/range-length');
  const first = await patch(location, bytes.subarray(0, 100), '0-99');
  assert.equal(first.status, 202);
  await first.arrayBuffer();
  const wrong = await patch(location, bytes.subarray(100, 150), '100-199');
  assert.ok(wrong.status === 416 || wrong.status === 400, `status ${wrong.status}`);
  await wrong.arrayBuffer();
  const status = await fetch(location);
  assert.equal(status.headers.get('range'), '0-99');
});

test('a malformed Content-Range on PATCH is refused and the session is unchanged', async () => {
  const location = await startUpload(server.url, 'uploads/bad-range');
  const response = await patch(location, Buffer.from('abc'), 'bytes=abc');
  assert.ok(response.status === 416 || response.status === 400, `status ${response.status}`);
  await response.arrayBuffer();
  const status = await fetch(location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), '0-0');
});

test('PATCH without Content-Range streams the body and appends it (streamed upload)', async () => {
  const bytes = randomBytes(5000);
  const location = await startUpload(server.url, 'uploads/streamed');
  // A body of unknown length: chunked transfer encoding.
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(new Uint8Array(bytes.subarray(i, i + 1000)));
      controller.close();
    },
  });
  const response = await fetch(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: stream, duplex: 'half' } as RequestInit);
  assert.equal(response.status, 202);
  await response.arrayBuffer();
  assert.equal(response.headers.get('range'), '0-4999');
  const second = await patch(location, Buffer.from('tail'));
  assert.equal(second.status, 202);
  await second.arrayBuffer();
  assert.equal(second.headers.get('range'), '0-5003');
  const all = makeBlob(Buffer.concat([bytes, Buffer.from('tail')]));
  const put = await fetch(withDigest(location, all.digest), { method: 'PUT' });
  assert.equal(put.status, 201);
  await put.arrayBuffer();
  assert.deepEqual(await readBlob('uploads/streamed', all.digest), all.bytes);
});

test('GET on an upload answers 204 with Range 0-N, Location and Docker-Upload-UUID', async () => {
  const location = await startUpload(server.url, 'uploads/status');
  const empty = await fetch(location);
  assert.equal(empty.status, 204);
  assert.equal(empty.headers.get('range'), '0-0');
  const first = await patch(location, randomBytes(42), '0-41');
  await first.arrayBuffer();
  const response = await fetch(location);
  assert.equal(response.status, 204);
  assert.equal(response.headers.get('range'), '0-41');
  assert.equal(new URL(response.headers.get('location')!, server.url).pathname, location.pathname);
  assert.equal(response.headers.get('docker-upload-uuid'), location.pathname.split('/').pop());
});

test('PUT ?digest= may carry the last chunk', async () => {
  const bytes = randomBytes(400);
  const blob = makeBlob(bytes);
  const location = await startUpload(server.url, 'uploads/last-chunk');
  const first = await patch(location, bytes.subarray(0, 250), '0-249');
  assert.equal(first.status, 202);
  await first.arrayBuffer();
  const put = await fetch(withDigest(location, blob.digest), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-range': '250-399' },
    body: new Uint8Array(bytes.subarray(250)),
  });
  assert.equal(put.status, 201);
  await put.arrayBuffer();
  assert.equal(put.headers.get('docker-content-digest'), blob.digest);
  assert.deepEqual(await readBlob('uploads/last-chunk', blob.digest), bytes);
});

test('PUT with a last chunk out of order answers 416 and the upload is kept', async () => {
  const bytes = randomBytes(400);
  const blob = makeBlob(bytes);
  const location = await startUpload(server.url, 'uploads/last-chunk-416');
  await (await patch(location, bytes.subarray(0, 250), '0-249')).arrayBuffer();
  const put = await fetch(withDigest(location, blob.digest), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-range': '300-399' },
    body: new Uint8Array(bytes.subarray(300)),
  });
  assert.equal(put.status, 416);
  assert.equal(put.headers.get('range'), '0-249');
  await put.arrayBuffer();
  assert.equal(await blobStatus('uploads/last-chunk-416', blob.digest), 404);
  const status = await fetch(location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), '0-249');
});

test('an empty blob can be uploaded and read back', async () => {
  const blob = makeBlob(Buffer.alloc(0));
  const location = await startUpload(server.url, 'uploads/empty');
  const put = await fetch(withDigest(location, blob.digest), { method: 'PUT' });
  assert.equal(put.status, 201);
  await put.arrayBuffer();
  const head = await fetch(`${server.url}/v2/uploads/empty/blobs/${blob.digest}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), '0');
});

test('DELETE cancels an upload: 204, then the session answers 404 BLOB_UPLOAD_UNKNOWN', async () => {
  const location = await startUpload(server.url, 'uploads/cancel');
  await (await patch(location, randomBytes(10), '0-9')).arrayBuffer();
  const response = await fetch(location, { method: 'DELETE' });
  assert.equal(response.status, 204);
  await response.arrayBuffer();
  await assertError(await fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  await assertError(await patch(location, randomBytes(10), '10-19'), 404, 'BLOB_UPLOAD_UNKNOWN');
  await assertError(await fetch(withDigest(location, makeBlob().digest), { method: 'PUT' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  await assertError(await fetch(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('an unknown or malformed upload id answers 404 BLOB_UPLOAD_UNKNOWN', async () => {
  await pushBlob(server.url, 'uploads/unknown-id', makeBlob());
  for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', 'x'.repeat(300)]) {
    await assertError(await fetch(`${server.url}/v2/uploads/unknown-id/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  }
});

test('an upload session belongs to its repository: another repository cannot use it', async () => {
  const location = await startUpload(server.url, 'uploads/own-a');
  await startUpload(server.url, 'uploads/own-b');
  const id = location.pathname.split('/').pop()!;
  await assertError(await fetch(`${server.url}/v2/uploads/own-b/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  assert.equal((await fetch(location)).status, 204);
});

test('PUT with a digest that does not match the upload answers 400 DIGEST_INVALID and commits nothing', async () => {
  const blob = makeBlob();
  const claimed = makeBlob();
  const location = await startUpload(server.url, 'uploads/mismatch');
  await (await patch(location, blob.bytes, `0-${blob.size - 1}`)).arrayBuffer();
  await assertError(await fetch(withDigest(location, claimed.digest), { method: 'PUT' }), 400, 'DIGEST_INVALID');
  assert.equal(await blobStatus('uploads/mismatch', claimed.digest), 404);
  assert.equal(await blobStatus('uploads/mismatch', blob.digest), 404);
  // A 4xx other than 416 ends the upload (spec: "the upload will be considered failed").
  await assertError(await fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('PUT with a malformed digest or without ?digest= answers 400 DIGEST_INVALID', async () => {
  const blob = makeBlob();
  const location = await startUpload(server.url, 'uploads/malformed');
  await (await patch(location, blob.bytes, `0-${blob.size - 1}`)).arrayBuffer();
  for (const digest of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', `sha256:${'G'.repeat(64)}`, 'nonsense', `sha512:${'a'.repeat(64)}`]) {
    await assertError(await fetch(withDigest(location, digest), { method: 'PUT' }), 400, 'DIGEST_INVALID');
  }
  await assertError(await fetch(location, { method: 'PUT' }), 400, 'DIGEST_INVALID');
  await assertError(
    await fetch(`${server.url}/v2/uploads/malformed/blobs/uploads/?digest=sha256:1234`, { method: 'POST', body: new Uint8Array(blob.bytes) }),
    400,
    'DIGEST_INVALID',
  );
  assert.equal(await blobStatus('uploads/malformed', blob.digest), 404);
});

test('sha512 digests work for chunked, monolithic and single-POST uploads', async () => {
  const sha512 = (bytes: Buffer) => `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
  const bytes = randomBytes(2048);
  const digest = sha512(bytes);
  const location = await startUpload(server.url, 'uploads/sha512');
  await (await patch(location, bytes.subarray(0, 1024), '0-1023')).arrayBuffer();
  await (await patch(location, bytes.subarray(1024), '1024-2047')).arrayBuffer();
  const put = await fetch(withDigest(location, digest), { method: 'PUT' });
  assert.equal(put.status, 201);
  await put.arrayBuffer();
  assert.equal(put.headers.get('docker-content-digest'), digest);
  const read = await fetch(`${server.url}/v2/uploads/sha512/blobs/${digest}`);
  assert.equal(read.headers.get('docker-content-digest'), digest);
  assert.deepEqual(Buffer.from(await read.arrayBuffer()), bytes);

  const other = randomBytes(100);
  const single = await fetch(`${server.url}/v2/uploads/sha512/blobs/uploads/?digest=${sha512(other)}`, { method: 'POST', body: new Uint8Array(other) });
  assert.equal(single.status, 201);
  await single.arrayBuffer();
  assert.equal(await blobStatus('uploads/sha512', sha512(other)), 200);

  const wrong = await startUpload(server.url, 'uploads/sha512');
  await (await patch(wrong, bytes, `0-${bytes.length - 1}`)).arrayBuffer();
  await assertError(await fetch(withDigest(wrong, sha512(other)), { method: 'PUT' }), 400, 'DIGEST_INVALID');
});

async function mount(target: string, digest: string, from: string): Promise<Response> {
  return fetch(`${server.url}/v2/${target}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
    method: 'POST',
    headers: { 'content-length': '0' },
  });
}

test('a cross-repository mount of a blob the source has answers 201 with Location and links it into the target', async () => {
  const blob: Blob = makeBlob();
  await pushBlob(server.url, 'mount/source', blob);
  const response = await mount('mount/target', blob.digest, 'mount/source');
  assert.equal(response.status, 201);
  await response.arrayBuffer();
  assert.equal(new URL(response.headers.get('location')!, server.url).pathname, `/v2/mount/target/blobs/${blob.digest}`);
  assert.equal(response.headers.get('docker-content-digest'), blob.digest);
  assert.deepEqual(await readBlob('mount/target', blob.digest), blob.bytes);
});

test('a mount the source cannot satisfy falls back to a 202 upload session', async () => {
  const blob = makeBlob();
  await pushBlob(server.url, 'mount/elsewhere', blob);
  await pushBlob(server.url, 'mount/empty-source', makeBlob());
  for (const from of ['mount/empty-source', 'mount/no-such-repo']) {
    const response = await mount('mount/fallback', blob.digest, from);
    assert.equal(response.status, 202, from);
    await response.arrayBuffer();
    assert.ok(response.headers.get('docker-upload-uuid'));
    const location = new URL(response.headers.get('location')!, server.url);
    assert.match(location.pathname, /^\/v2\/mount\/fallback\/blobs\/uploads\/[^/]+$/);
    // The session is usable: finish the upload with it.
    const put = await fetch(withDigest(location, blob.digest), { method: 'PUT', body: new Uint8Array(blob.bytes) });
    assert.equal(put.status, 201);
    await put.arrayBuffer();
  }
  // The blob was not mounted into the source that lacked it.
  assert.equal(await blobStatus('mount/empty-source', blob.digest), 404);
});
