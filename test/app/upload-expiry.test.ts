import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { startTestServer } from '../support/server.ts';
import { uploadKey } from '../../src/registry/index.ts';

test('purges upload sessions untouched for longer than the configured age, files and rows', async () => {
  const server = await startTestServer({ config: { storage: { maintenance: { uploadpurging: { age: '1h' } } } } });
  try {
    const start = await fetch(`${server.url}/v2/expiry/repo/blobs/uploads/`, { method: 'POST' });
    const location = start.headers.get('location')!;
    await start.arrayBuffer();
    const patch = await fetch(new URL(location, server.url), { method: 'PATCH', body: 'some bytes' });
    assert.equal(patch.status, 202);
    await patch.arrayBuffer();
    const id = location.split('/').pop()!;
    const file = path.join(server.dataDir, uploadKey(id));
    assert.equal((await stat(file)).size, 10);

    assert.equal(await server.registry.uploads.purgeExpired(Date.now(), true), 0, 'a fresh upload is not expired');
    const later = Date.now() + 2 * 3600_000;
    assert.equal(await server.registry.uploads.purgeExpired(later, true), 1, 'dry run counts it');
    await stat(file);
    assert.equal(await server.registry.uploads.purgeExpired(later), 1);

    await assert.rejects(stat(file), { code: 'ENOENT' });
    const status = await fetch(new URL(location, server.url));
    assert.equal(status.status, 404);
    assert.equal(((await status.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'BLOB_UPLOAD_UNKNOWN');
  } finally {
    await server.close();
  }
});
