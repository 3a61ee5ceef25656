import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, truncate, unlink, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { makeBlob, makeImage, pushImage, type Image } from '../support/oci.ts';
import { runBerth, runFsck } from '../support/process.ts';
import { makeTempDir, startTestServer } from '../support/server.ts';

/** Where the filesystem driver keeps a blob's bytes. */
function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** A stopped store holding one tagged image (config + 2 layers) and one abandoned upload session. */
async function populatedStore(t: TestContext): Promise<{ dataDir: string; image: Image }> {
  const dataDir = await makeTempDir('berth-fsck-');
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startTestServer({ dataDir, config: { storage: { fsync: true } } });
  const image = makeImage({ layerCount: 2 });
  try {
    await (await pushImage(server.url, 'fsck/app', 'v1', image)).arrayBuffer();
    const start = await fetch(`${server.url}/v2/fsck/app/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    const patch = await fetch(new URL(start.headers.get('location')!, server.url), { method: 'PATCH', body: 'half a layer' });
    await patch.arrayBuffer();
    assert.equal(patch.status, 202);
  } finally {
    await server.close();
  }
  return { dataDir, image };
}

test('fsck --json reports a consistent store with exit 0: counts, no problems, notes for an abandoned upload and unreferenced bytes', async (t) => {
  const { dataDir, image } = await populatedStore(t);
  // Bytes no metadata points at (as a crash between commit and insert leaves them): a note, not a problem.
  const orphan = makeBlob('bytes committed just before a crash');
  await mkdir(path.dirname(blobFile(dataDir, orphan.digest)), { recursive: true });
  await writeFile(blobFile(dataDir, orphan.digest), orphan.bytes);

  const result = await runFsck(dataDir, ['--verify-digests']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(Object.keys(result.report).sort(), ['blobsChecked', 'manifestsChecked', 'notes', 'problems', 'tagsChecked']);
  assert.equal(result.report.blobsChecked, 1 + image.layers.length);
  assert.equal(result.report.manifestsChecked, 1);
  assert.equal(result.report.tagsChecked, 1);
  assert.deepEqual(result.report.problems, []);
  assert.equal(result.report.notes.length, 2, result.report.notes.join('\n'));
  assert.match(result.report.notes.join('\n'), /1 stored blob\(s\) have no metadata/);
  assert.match(result.report.notes.join('\n'), /1 upload session file\(s\)/);

  // The same check through --config and in text form.
  const configFile = path.join(dataDir, 'fsck-config.yml');
  await writeFile(configFile, `storage:\n  filesystem:\n    rootdirectory: ${JSON.stringify(dataDir)}\n`);
  const text = await runBerth(['fsck', '--config', configFile, '--verify-digests']);
  assert.equal(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /^checked 3 blobs, 1 manifests, 1 tags$/m);
  assert.match(text.stdout, /^consistent$/m);
  assert.doesNotMatch(text.stdout, /PROBLEM/);
});

test('fsck --verify-digests exits 1 and names the blob whose bytes were altered in place; a size-only check cannot see it', async (t) => {
  const { dataDir, image } = await populatedStore(t);
  const victim = image.layers[1]!;
  const handle = await open(blobFile(dataDir, victim.digest), 'r+');
  try {
    await handle.write(Buffer.from([victim.bytes[10]! ^ 0xff]), 0, 1, 10);
  } finally {
    await handle.close();
  }

  const sizesOnly = await runFsck(dataDir);
  assert.equal(sizesOnly.code, 0, 'without --verify-digests only sizes are compared');
  assert.deepEqual(sizesOnly.report.problems, []);

  const verified = await runFsck(dataDir, ['--verify-digests']);
  assert.equal(verified.code, 1, verified.stdout + verified.stderr);
  assert.equal(verified.report.problems.length, 1, verified.report.problems.join('\n'));
  assert.match(verified.report.problems[0]!, new RegExp(`^blob ${victim.digest}: bytes hash to sha256:[0-9a-f]{64}$`));

  const text = await runBerth(['fsck', '--data', dataDir, '--verify-digests']);
  assert.equal(text.code, 1);
  assert.ok(text.stdout.includes(`PROBLEM: blob ${victim.digest}`), text.stdout);
  assert.match(text.stdout, /^1 problem\(s\) found$/m);
});

test('fsck exits 1 and names the blob when metadata references bytes that were deleted or truncated', async (t) => {
  const { dataDir, image } = await populatedStore(t);
  await unlink(blobFile(dataDir, image.config.digest));
  await truncate(blobFile(dataDir, image.layers[0]!.digest), 3);

  const result = await runFsck(dataDir);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.deepEqual(result.report.problems.sort(), [
    `blob ${image.config.digest}: recorded but its bytes are missing`,
    `blob ${image.layers[0]!.digest}: recorded as ${image.layers[0]!.size} bytes, storage has 3`,
  ].sort());
  assert.equal(result.report.blobsChecked, 3);
});
