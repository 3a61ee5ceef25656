import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBlob, pushBlob, sha256 } from '../support/oci.ts';
import { runFsck, startChildServer } from '../support/process.ts';

const imageCount = 200;
const parallel = 16;
const killAfter = 50;
const repositories = ['crash/burst-a', 'crash/burst-b', 'crash/burst-c', 'crash/burst-d'];

const mediaType = 'application/vnd.oci.image.manifest.v1+json';

interface Planned {
  repository: string;
  tag: string;
  manifest: Buffer;
  digest: string;
}

test('SIGKILL during a burst of concurrent manifest PUTs loses no acknowledged manifest, leaves no half-written one, and fsck finds the store consistent', async (t) => {
  let server = await startChildServer({ config: { log: { accesslog: { disabled: true } } } });
  t.after(() => server.close());

  // Blobs first: two configs and three layers, pushed to every repository.
  const configs = [makeBlob('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'), makeBlob('{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')];
  const layers = [makeBlob(), makeBlob(), makeBlob()];
  await Promise.all(repositories.map(async (repository) => {
    for (const blob of [...configs, ...layers]) await (await pushBlob(server.url, repository, blob)).arrayBuffer();
  }));

  // 200 distinct manifests (they differ by an annotation) over the same blobs.
  const planned: Planned[] = Array.from({ length: imageCount }, (_, i) => {
    const config = configs[i % 2]!;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
        layers: layers.slice(0, 1 + (i % 3)).map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
        annotations: { 'org.example.burst': String(i) },
      }),
    );
    return { repository: repositories[i % repositories.length]!, tag: `v${i}`, manifest, digest: sha256(manifest) };
  });

  const acknowledged = new Set<number>();
  let next = 0;
  let killed = false;
  const worker = async () => {
    while (!killed && next < planned.length) {
      const index = next++;
      const { repository, tag, manifest, digest } = planned[index]!;
      let response: Response;
      let body: ArrayBuffer;
      try {
        response = await fetch(`${server.url}/v2/${repository}/manifests/${tag}`, {
          method: 'PUT',
          headers: { 'content-type': mediaType },
          body: new Uint8Array(manifest),
        });
        body = await response.arrayBuffer();
      } catch (error) {
        // Requests in flight when the server died fail; before the kill that is a test failure.
        if (!killed) throw error;
        continue;
      }
      assert.equal(response.status, 201, `PUT ${repository}:${tag} answered ${response.status}: ${Buffer.from(body).toString()}`);
      assert.equal(response.headers.get('docker-content-digest'), digest);
      acknowledged.add(index);
      if (acknowledged.size >= killAfter && !killed) {
        killed = true;
        server.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  assert.ok(killed, 'the burst ended before the server was killed');
  const exit = await server.waitForExit();
  assert.equal(exit.signal, 'SIGKILL');
  const attempted = next;
  t.diagnostic(`${acknowledged.size} manifests acknowledged, ${attempted - acknowledged.size} in flight or refused at the kill`);

  server = await server.restart();
  let survivedUnacknowledged = 0;
  for (let index = 0; index < attempted; index++) {
    const { repository, tag, manifest, digest } = planned[index]!;
    const byTag = await fetch(`${server.url}/v2/${repository}/manifests/${tag}`, { headers: { accept: mediaType } });
    const tagBytes = Buffer.from(await byTag.arrayBuffer());
    const byDigest = await fetch(`${server.url}/v2/${repository}/manifests/${digest}`, { headers: { accept: mediaType } });
    const digestBytes = Buffer.from(await byDigest.arrayBuffer());
    if (acknowledged.has(index)) {
      assert.equal(byTag.status, 200, `acknowledged ${repository}:${tag} is gone after the crash`);
      assert.equal(byDigest.status, 200, `acknowledged ${repository}@${digest} is gone after the crash`);
      assert.equal(byTag.headers.get('docker-content-digest'), digest);
      assert.ok(tagBytes.equals(manifest), `${repository}:${tag} changed bytes`);
      assert.ok(digestBytes.equals(manifest), `${repository}@${digest} changed bytes`);
    } else {
      // Not acknowledged: it may or may not have been committed, but never half (manifest without its tag or the reverse).
      assert.equal(byTag.status, byDigest.status, `${repository}:${tag} is half there: tag ${byTag.status}, digest ${byDigest.status}`);
      if (byTag.status === 200) {
        survivedUnacknowledged++;
        assert.ok(tagBytes.equals(manifest));
      } else {
        assert.equal(byTag.status, 404);
      }
    }
  }
  t.diagnostic(`${survivedUnacknowledged} unacknowledged manifests were committed before the kill`);

  server.kill('SIGTERM');
  assert.deepEqual(await server.waitForExit(), { code: 0, signal: null }, server.diagnostics());
  const fsck = await runFsck(server.dataDir, ['--verify-digests']);
  assert.equal(fsck.code, 0, `fsck: ${fsck.stdout}${fsck.stderr}`);
  assert.deepEqual(fsck.report.problems, []);
  assert.equal(fsck.report.blobsChecked, configs.length + layers.length);
  assert.equal(fsck.report.manifestsChecked, acknowledged.size + survivedUnacknowledged);
  assert.equal(fsck.report.tagsChecked, acknowledged.size + survivedUnacknowledged);
});
