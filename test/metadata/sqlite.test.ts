import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { openSqliteStore } from '../../src/metadata/index.ts';
import { makeTempDir } from '../support/server.ts';
import { sha256 } from '../support/oci.ts';
import { runMetadataSuite } from './store-suite.ts';

runMetadataSuite('sqlite', async () => {
  const dir = await makeTempDir('berth-sqlite-');
  const store = await openSqliteStore({ path: path.join(dir, 'berth.db'), fsync: true });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test('reopening a SQLite store keeps its data and does not re-run migrations', async () => {
  const dir = await makeTempDir('berth-sqlite-reopen-');
  try {
    const file = path.join(dir, 'berth.db');
    const first = await openSqliteStore({ path: file, fsync: true });
    await first.linkBlob('reopen/repo', { digest: sha256('x'), size: 1 });
    await first.close();
    const second = await openSqliteStore({ path: file, fsync: true });
    assert.deepEqual(await second.findLinkedBlob('reopen/repo', sha256('x')), { digest: sha256('x'), size: 1 });
    await second.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
