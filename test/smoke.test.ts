import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from './support/server.ts';
import { makeImage, pushImage } from './support/oci.ts';

test('serves /v2/ and round-trips an image pushed with plain HTTP', async () => {
  const server = await startTestServer();
  try {
    const base = await fetch(`${server.url}/v2/`);
    assert.equal(base.status, 200);
    assert.deepEqual(await base.json(), {});
    assert.equal(base.headers.get('docker-distribution-api-version'), 'registry/2.0');
    const image = makeImage();
    await pushImage(server.url, 'smoke/app', 'v1', image);
    const manifest = await fetch(`${server.url}/v2/smoke/app/manifests/v1`, { headers: { accept: image.mediaType } });
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest);
    const layer = await fetch(`${server.url}/v2/smoke/app/blobs/${image.layers[0]!.digest}`);
    assert.deepEqual(Buffer.from(await layer.arrayBuffer()), image.layers[0]!.bytes);
  } finally {
    await server.close();
  }
});
