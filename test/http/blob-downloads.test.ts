import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { makeBlob, pushBlob, type Blob } from '../support/oci.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

// Downloads reuse read buffers once the response has flushed them; these tests prove that
// concurrent downloads never see each other's bytes and that cut-off downloads release
// their files.

/**
 * Hashes a download. A slow reader stops reading for a while after each megabyte, so the
 * socket fills up and the server's writes stay pending with their buffers.
 */
function digestOfDownload(url: string, range?: string, slow = false): Promise<{ status: number; digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: range ? { range } : {}, agent: false }, (response) => {
      const hash = createHash('sha256');
      let size = 0;
      let sinceLastPause = 0;
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
        sinceLastPause += chunk.length;
        if (slow && sinceLastPause > 1024 * 1024) {
          sinceLastPause = 0;
          response.pause();
          setTimeout(() => response.resume(), 30);
        }
      });
      response.on('end', () => resolve({ status: response.statusCode!, digest: `sha256:${hash.digest('hex')}`, size }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

async function openFileCount(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

describe('blob downloads', () => {
  let server: TestServer;
  const blobs: Blob[] = [];
  before(async () => {
    server = await startTestServer();
    for (let i = 0; i < 4; i++) {
      const blob = makeBlob(randomBytes(12 * 1024 * 1024 + i * 12345));
      await pushBlob(server.url, 'dl/app', blob);
      blobs.push(blob);
    }
  });
  after(() => server.close());

  test('many concurrent downloads of different blobs, fast and slow readers, each get exactly their own bytes', async () => {
    const downloads = Array.from({ length: 16 }, (_, i) => blobs[i % blobs.length]!);
    const results = await Promise.all(downloads.map((blob, i) => digestOfDownload(`${server.url}/v2/dl/app/blobs/${blob.digest}`, undefined, i % 2 === 0)));
    results.forEach((result, i) => assert.deepEqual(result, { status: 200, digest: downloads[i]!.digest, size: downloads[i]!.size }));
  });

  test('concurrent ranged downloads get exactly the requested slices', async () => {
    const blob = blobs[0]!;
    const ranges = [[0, 999], [1, 3 * 1024 * 1024], [262_143, 262_144 * 3], [blob.size - 10, blob.size - 1]] as const;
    const results = await Promise.all(ranges.map(([start, end]) => digestOfDownload(`${server.url}/v2/dl/app/blobs/${blob.digest}`, `bytes=${start}-${end}`)));
    results.forEach((result, i) => {
      const [start, end] = ranges[i]!;
      const slice = blob.bytes.subarray(start, end + 1);
      assert.deepEqual(result, { status: 206, digest: `sha256:${createHash('sha256').update(slice).digest('hex')}`, size: slice.length });
    });
  });

  test('a download the client cuts off releases its file, and the server keeps serving', { skip: process.platform !== 'linux' && 'needs /proc/self/fd' }, async () => {
    const before = await openFileCount();
    for (let i = 0; i < 8; i++) {
      await new Promise<void>((resolve) => {
        const request = http.get(`${server.url}/v2/dl/app/blobs/${blobs[i % blobs.length]!.digest}`, (response) => {
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > 1024 * 1024) request.destroy();
          });
        });
        request.on('close', () => resolve());
        request.on('error', () => {});
      });
    }
    let now = await openFileCount();
    for (let attempt = 0; attempt < 50 && now > before; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      now = await openFileCount();
    }
    assert.ok(now <= before, `open files went from ${before} to ${now}`);
    const after = await digestOfDownload(`${server.url}/v2/dl/app/blobs/${blobs[1]!.digest}`);
    assert.equal(after.digest, blobs[1]!.digest);
  });
});
