import { uploadKey } from '../../src/registry/index.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import {
  fileSize,
  hashGet,
  pollUntil,
  pseudoRandomBytes,
  pseudoRandomDigest,
  runFsck,
  startChildServer,
  streamRequest,
  type ChildServer,
} from '../support/process.ts';

const MiB = 1024 * 1024;
/** Total blob size; BERTH_CRASH_UPLOAD_MIB makes it bigger (it is pushed in 8 MiB chunks). */
const total = Number(process.env.BERTH_CRASH_UPLOAD_MIB ?? 64) * MiB;
const chunkSize = 8 * MiB;
const seed = 'berth sigkill chunked upload';
const repository = 'crash/chunked';

/** PATCHes bytes [start, end) of the pseudo-random blob as one chunk. */
async function patchChunk(server: ChildServer, location: string, start: number, end: number) {
  return streamRequest(new URL(location, server.url), {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-length': end - start, 'content-range': `${start}-${end - 1}` },
    body: pseudoRandomBytes(seed, start, end),
  });
}

/**
 * Starts a PATCH for [start, end) but sends only its first `sent` bytes and then holds the
 * request open, so the server is in the middle of the chunk when it is killed.
 */
function startStalledPatch(server: ChildServer, location: string, start: number, end: number, sent: number) {
  const request = http.request(new URL(location, server.url), {
    method: 'PATCH',
    agent: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': end - start, 'content-range': `${start}-${end - 1}` },
  });
  const outcome = new Promise<{ status?: number; error?: Error }>((resolve) => {
    request.once('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode });
    });
    request.once('error', (error) => resolve({ error }));
  });
  (async () => {
    for (const piece of pseudoRandomBytes(seed, start, start + sent)) {
      if (!request.write(piece)) await new Promise((resolve) => request.once('drain', resolve));
    }
  })().catch((error: unknown) => request.destroy(error as Error));
  return { outcome, abort: () => request.destroy() };
}

test('SIGKILL in the middle of a chunked upload keeps every acknowledged chunk: after restart the upload resumes (or is cleanly unknown) and fsck finds the store consistent', async (t) => {
  assert.ok(total > 4 * chunkSize, 'the upload must be large enough to be killed in its middle');
  const digest = pseudoRandomDigest(seed, total);
  let server = await startChildServer();
  t.after(() => server.close());
  const dataDir = server.dataDir;

  const start = await fetch(`${server.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  assert.equal(start.status, 202);
  const location = start.headers.get('location')!;
  const uploadFile = path.join(dataDir, uploadKey(location.split('/').pop()!));

  // Three chunks are acknowledged (24 MiB); the fourth is in flight when the server dies.
  let acknowledged = 0;
  for (let i = 0; i < 3; i++) {
    const end = acknowledged + chunkSize;
    const response = await patchChunk(server, location, acknowledged, end);
    assert.equal(response.status, 202, response.body.toString());
    assert.equal(response.headers.range, `0-${end - 1}`);
    acknowledged = end;
  }
  const sent = chunkSize / 2;
  const stalled = startStalledPatch(server, location, acknowledged, acknowledged + chunkSize, sent);
  t.after(() => stalled.abort());
  // Kill only once the server has written part of the in-flight chunk to the upload file.
  await pollUntil(async () => (await fileSize(uploadFile)) > acknowledged, 'the server to store part of the in-flight chunk');
  server.kill('SIGKILL');
  const exit = await server.waitForExit();
  assert.equal(exit.signal, 'SIGKILL');
  const inFlight = await stalled.outcome;
  assert.equal(inFlight.status, undefined, 'the killed PATCH must not have been acknowledged');

  // Straight after the crash, before any restart: the store is consistent (the upload is only a note).
  const afterCrash = await runFsck(dataDir, ['--verify-digests']);
  assert.equal(afterCrash.code, 0, `fsck after the crash: ${afterCrash.stdout}${afterCrash.stderr}`);
  assert.deepEqual(afterCrash.report.problems, []);

  server = await server.restart();
  const status = await fetch(new URL(location, server.url));
  await status.arrayBuffer().catch(() => {});
  if (status.status === 404) {
    // Cleanly lost: the session is unknown and no blob became visible.
    t.diagnostic('the interrupted upload was discarded at restart');
    const head = await fetch(`${server.url}/v2/${repository}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  } else {
    assert.equal(status.status, 204, `upload status after restart answered ${status.status}`);
    const range = /^0-(\d+)$/.exec(status.headers.get('range') ?? '');
    assert.ok(range, `upload status has no Range: ${status.headers.get('range')}`);
    const offset = Number(range[1]) + 1;
    assert.ok(offset >= acknowledged, `acknowledged ${acknowledged} bytes but the restarted server has ${offset}`);
    assert.ok(offset <= acknowledged + sent, `the server reports ${offset} bytes but only ${acknowledged + sent} were ever sent`);
    t.diagnostic(`resuming at ${offset} (acknowledged ${acknowledged}, sent ${acknowledged + sent})`);

    for (let from = offset; from < total; ) {
      const end = Math.min(total, from + chunkSize);
      const response = await patchChunk(server, location, from, end);
      assert.equal(response.status, 202, response.body.toString());
      from = end;
    }
    const completeUrl = new URL(location, server.url);
    completeUrl.searchParams.set('digest', digest);
    const put = await fetch(completeUrl, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const fetched = await hashGet(`${server.url}/v2/${repository}/blobs/${digest}`);
    assert.deepEqual(fetched, { status: 200, digest, size: total });
  }

  server.kill('SIGTERM');
  assert.deepEqual(await server.waitForExit(), { code: 0, signal: null }, server.diagnostics());
  const final = await runFsck(dataDir, ['--verify-digests']);
  assert.equal(final.code, 0, `fsck: ${final.stdout}${final.stderr}`);
  assert.deepEqual(final.report.problems, []);
  if (status.status !== 404) assert.equal(final.report.blobsChecked, 1);
});
