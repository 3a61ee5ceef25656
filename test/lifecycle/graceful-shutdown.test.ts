import { uploadKey } from '../../src/registry/index.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import {
  fileSize,
  hashGet,
  pollUntil,
  pseudoRandomBytes,
  pseudoRandomDigest,
  startChildServer,
  streamRequest,
  type ChildServer,
} from '../support/process.ts';

const MiB = 1024 * 1024;
const repository = 'lifecycle/shutdown';

/** True when a TCP connection to the port is refused (nothing listens any more). */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

async function startUpload(server: ChildServer): Promise<{ location: string; file: string }> {
  const start = await fetch(`${server.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  assert.equal(start.status, 202);
  const location = start.headers.get('location')!;
  return { location, file: path.join(server.dataDir, uploadKey(location.split('/').pop()!)) };
}

async function patch(server: ChildServer, location: string, seed: string, start: number, end: number) {
  const response = await streamRequest(new URL(location, server.url), {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-length': end - start, 'content-range': `${start}-${end - 1}` },
    body: pseudoRandomBytes(seed, start, end),
  });
  assert.equal(response.status, 202, response.body.toString());
  assert.equal(response.headers.range, `0-${end - 1}`);
}

/**
 * A PATCH (chunked transfer, no length) that trickles the seed's bytes from `start` a few
 * KiB at a time, up to `limit`, until finish() sends the rest and ends it.
 */
function tricklePatch(server: ChildServer, location: string, seed: string, start: number, limit: number) {
  const request = http.request(new URL(location, server.url), { method: 'PATCH', agent: false, headers: { 'content-type': 'application/octet-stream' } });
  let sent = start;
  const outcome = new Promise<{ status?: number; range?: string; error?: Error }>((resolve) => {
    request.once('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode, range: response.headers.range as string | undefined });
    });
    request.once('error', (error) => resolve({ error }));
  });
  const send = (end: number) => {
    for (const piece of pseudoRandomBytes(seed, sent, end)) request.write(piece);
    sent = end;
  };
  const timer = setInterval(() => {
    if (!request.destroyed) send(Math.min(limit, sent + 8 * 1024));
  }, 25);
  return {
    outcome,
    finish() {
      clearInterval(timer);
      send(limit);
      request.end();
    },
    abort() {
      clearInterval(timer);
      request.destroy();
    },
  };
}

async function resumeAndComplete(server: ChildServer, location: string, seed: string, total: number, expectedOffset: number) {
  const status = await fetch(new URL(location, server.url));
  await status.arrayBuffer();
  assert.equal(status.status, 204, `upload status after restart answered ${status.status}`);
  assert.equal(status.headers.get('range'), `0-${expectedOffset - 1}`);
  if (expectedOffset < total) await patch(server, location, seed, expectedOffset, total);
  const digest = pseudoRandomDigest(seed, total);
  const completeUrl = new URL(location, server.url);
  completeUrl.searchParams.set('digest', digest);
  const put = await fetch(completeUrl, { method: 'PUT' });
  assert.equal(put.status, 201, await put.text());
  assert.deepEqual(await hashGet(`${server.url}/v2/${repository}/blobs/${digest}`), { status: 200, digest, size: total });
}

/** Sends SIGTERM and waits until the port refuses connections while the process is still draining. */
async function terminateAndWaitForRefusal(server: ChildServer): Promise<number> {
  const sentAt = Date.now();
  server.kill('SIGTERM');
  await pollUntil(() => connectionRefused(server.port), 'new connections to be refused after SIGTERM', 10_000, 20);
  assert.equal(server.exitStatus, undefined, 'the server must still be draining when new connections are refused');
  const refusedRequest = await fetch(`${server.url}/v2/`).then(
    (response) => `answered ${response.status}`,
    (error: Error & { cause?: { code?: string } }) => error.cause?.code ?? error.message,
  );
  assert.equal(refusedRequest, 'ECONNREFUSED');
  return sentAt;
}

test('SIGTERM during a PATCH that never finishes: new connections are refused, the server exits 0 once the drain timeout ends it, and the upload resumes after restart from its last acknowledged chunk', async (t) => {
  const seed = 'berth graceful shutdown stalled';
  const drainMs = 2000;
  let server = await startChildServer({ config: { http: { draintimeout: '2s' } } });
  t.after(() => server.close());
  const { location, file } = await startUpload(server);
  const acknowledged = 1 * MiB;
  await patch(server, location, seed, 0, acknowledged);

  const trickle = tricklePatch(server, location, seed, acknowledged, 2 * MiB);
  t.after(() => trickle.abort());
  await pollUntil(async () => (await fileSize(file)) > acknowledged, 'the server to store part of the trickling chunk');

  const sentAt = await terminateAndWaitForRefusal(server);
  const exit = await server.waitForExit(drainMs + 20_000);
  const elapsed = Date.now() - sentAt;
  assert.deepEqual(exit, { code: 0, signal: null }, server.diagnostics());
  assert.ok(elapsed >= drainMs - 100, `exited after ${elapsed} ms: requests in flight must get the drain timeout`);
  assert.ok(elapsed < drainMs + 8000, `exited ${elapsed} ms after SIGTERM with a ${drainMs} ms drain timeout`);
  const interrupted = await trickle.outcome;
  assert.equal(interrupted.status, undefined, `the interrupted PATCH must not be acknowledged (got ${interrupted.status})`);
  assert.equal(await fileSize(file), acknowledged, 'the interrupted chunk is rolled back before the process exits');

  server = await server.restart();
  await resumeAndComplete(server, location, seed, 3 * MiB, acknowledged);
});

test('SIGTERM during a PATCH that finishes within the drain timeout: the chunk is acknowledged, the server exits 0 without waiting out the timeout, and the bytes are there after restart', async (t) => {
  const seed = 'berth graceful shutdown completed';
  let server = await startChildServer({ config: { http: { draintimeout: '30s' } } });
  t.after(() => server.close());
  const { location, file } = await startUpload(server);
  await patch(server, location, seed, 0, MiB);

  const end = 2 * MiB;
  const trickle = tricklePatch(server, location, seed, MiB, end);
  t.after(() => trickle.abort());
  await pollUntil(async () => (await fileSize(file)) > MiB, 'the server to store part of the trickling chunk');

  const sentAt = await terminateAndWaitForRefusal(server);
  trickle.finish();
  const finished = await trickle.outcome;
  assert.equal(finished.error, undefined);
  assert.equal(finished.status, 202);
  assert.equal(finished.range, `0-${end - 1}`);
  const exit = await server.waitForExit(40_000);
  assert.deepEqual(exit, { code: 0, signal: null }, server.diagnostics());
  assert.ok(Date.now() - sentAt < 15_000, 'the server should exit once the last request finished, not at the drain timeout');

  server = await server.restart();
  await resumeAndComplete(server, location, seed, 3 * MiB, end);
});
