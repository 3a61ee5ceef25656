import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashGet, hasProcFs, pseudoRandomBytes, pseudoRandomDigest, readRss, sampleRss, startChildServer, streamRequest } from '../support/process.ts';
import { requirement } from '../support/services.ts';

const MiB = 1024 * 1024;
/** Blob size; the default keeps npm test quick, BERTH_MEMORY_TEST_MIB=1024 checks a 1 GiB push. */
const size = Number(process.env.BERTH_MEMORY_TEST_MIB ?? 256) * MiB;
const rssLimit = 150 * 1000 * 1000;
const seed = 'berth memory bound';
const repository = 'lifecycle/memory';

test(`pushing and pulling a ${size / MiB} MiB blob streams through the server: its resident memory stays bounded`, { skip: requirement(hasProcFs(), '/proc is needed to read the child RSS') }, async (t) => {
  const digest = pseudoRandomDigest(seed, size);
  const server = await startChildServer({ config: { log: { accesslog: { disabled: true } } } });
  t.after(() => server.close());
  const idle = (await readRss(server.pid))!;
  const sampler = sampleRss(server.pid, 100);
  let result: { peak: number; samples: number } | undefined;
  try {
    // Monolithic upload: one POST ?digest= whose body streams from the generator.
    const push = await streamRequest(`${server.url}/v2/${repository}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': size },
      body: pseudoRandomBytes(seed, 0, size),
    });
    assert.equal(push.status, 201, push.body.toString());
    assert.equal(push.headers['docker-content-digest'], digest);
    assert.deepEqual(await hashGet(`${server.url}/v2/${repository}/blobs/${digest}`), { status: 200, digest, size });
  } finally {
    result = await sampler.stop();
  }
  const { peak, samples } = result;
  t.diagnostic(`RSS idle ${mb(idle)} MB, peak ${mb(peak)} MB over ${samples} samples`);
  assert.ok(samples >= 5, `only ${samples} RSS samples were taken`);

  await t.test('the peak rises by far less than the blob size over idle (bytes are streamed, never collected)', () => {
    // Node frees socket and file buffers at the next GC, which V8 triggers after ~64 MB of them.
    const growthLimit = Math.min(128 * MiB, size / 2);
    assert.ok(peak - idle < growthLimit, `RSS rose ${mb(peak - idle)} MB over idle (limit ${mb(growthLimit)} MB)`);
  });

  await t.test('the peak stays below 150 MB', () => {
    assert.ok(peak < rssLimit, `peak RSS ${mb(peak)} MB (limit ${mb(rssLimit)} MB)`);
  });
});

function mb(bytes: number): number {
  return Math.round(bytes / 1e6);
}
