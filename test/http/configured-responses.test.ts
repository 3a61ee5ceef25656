import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeImage, putManifest } from '../support/oci.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('responses shaped by configuration', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      config: { http: { host: 'https://registry.example.com', headers: { 'X-Frame-Options': ['DENY'], 'X-Team': ['a', 'b'] } } },
    });
  });
  after(() => server.close());

  test('http.headers are added to every response, errors included', async () => {
    for (const path of ['/v2/', '/v2/nope/manifests/latest']) {
      const response = await fetch(`${server.url}${path}`);
      await response.body?.cancel();
      assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(response.headers.get('x-team'), 'a, b', path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
    }
  });

  test('with http.host set, Location and Link headers are absolute URLs on that host', async () => {
    const start = await fetch(`${server.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    await start.body?.cancel();
    assert.match(start.headers.get('location') ?? '', /^https:\/\/registry\.example\.com\/v2\/team\/app\/blobs\/uploads\/[0-9a-f-]{36}/);

    // Monolithic uploads never follow a Location, so they work through the real port.
    const image = makeImage({ layerCount: 1 });
    for (const blob of [image.config, ...image.layers]) {
      const upload = await fetch(`${server.url}/v2/team/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: new Uint8Array(blob.bytes), headers: { 'content-type': 'application/octet-stream' } });
      await upload.body?.cancel();
      assert.equal(upload.status, 201);
      assert.equal(upload.headers.get('location'), `https://registry.example.com/v2/team/app/blobs/${blob.digest}`);
    }
    for (const tag of ['a', 'b']) {
      const put = await putManifest(server.url, 'team/app', tag, image.manifest, image.mediaType);
      await put.body?.cancel();
      assert.equal(put.status, 201);
      assert.equal(put.headers.get('location'), `https://registry.example.com/v2/team/app/manifests/${image.digest}`);
    }
    const page = await fetch(`${server.url}/v2/team/app/tags/list?n=1`);
    await page.body?.cancel();
    assert.match(page.headers.get('link') ?? '', /^<https:\/\/registry\.example\.com\/v2\/team\/app\/tags\/list\?n=1&last=a>; rel="next"$/);
  });
});
