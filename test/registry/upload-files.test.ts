import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { makeBlob, pushBlob, startUpload } from '../support/oci.ts';
import { startTestServer } from '../support/server.ts';

test('finished, cancelled and failed uploads leave nothing behind in the uploads folder', async (t) => {
  const server = await startTestServer({ config: { storage: { fsync: true } } });
  t.after(() => server.close());
  const uploads = path.join(server.dataDir, 'uploads');
  const leftovers = async () => (await readdir(uploads).catch(() => [] as string[])).sort();

  for (let i = 0; i < 3; i++) await pushBlob(server.url, 'files/app', makeBlob());

  const chunked = makeBlob(Buffer.alloc(3000, 7));
  const location = await startUpload(server.url, 'files/app');
  const patch = await fetch(new URL(location, server.url), { method: 'PATCH', body: new Uint8Array(chunked.bytes.subarray(0, 1000)), headers: { 'content-range': '0-999' } });
  await patch.arrayBuffer();
  assert.equal(patch.status, 202);
  const put = new URL(patch.headers.get('location')!, server.url);
  put.searchParams.set('digest', chunked.digest);
  const done = await fetch(put, { method: 'PUT', body: new Uint8Array(chunked.bytes.subarray(1000)), headers: { 'content-range': '1000-2999' } });
  await done.arrayBuffer();
  assert.equal(done.status, 201);

  const cancelled = await startUpload(server.url, 'files/app');
  await (await fetch(new URL(cancelled, server.url), { method: 'PATCH', body: 'abc' })).arrayBuffer();
  await (await fetch(new URL(cancelled, server.url), { method: 'DELETE' })).arrayBuffer();

  const wrong = await fetch(`${server.url}/v2/files/app/blobs/uploads/?digest=${makeBlob().digest}`, { method: 'POST', body: 'not those bytes' });
  await wrong.arrayBuffer();
  assert.equal(wrong.status, 400);

  assert.deepEqual(await leftovers(), []);
});
