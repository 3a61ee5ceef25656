import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, emptyConfig, makeArtifact, makeBlob, makeImage, makeIndex, pushBlob, pushImage, putManifest, sha256, type Image } from '../support/oci.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

let server: TestServer;
/** Deletes enabled, a 2 KiB manifest limit, foreign layer URLs allowed from one host except one path. */
let custom: TestServer;
before(async () => {
  server = await startTestServer();
  custom = await startTestServer({
    config: {
      storage: { delete: { enabled: true } },
      limits: { manifestbytes: 2048 },
      validation: { manifests: { urls: { allow: ['^https://foreign\\.example\\.com/'], deny: ['/forbidden/'] } } },
    },
  });
});
after(async () => {
  await server?.close();
  await custom?.close();
});

type Pushable = { manifest: Buffer; digest: string; mediaType: string };

async function get(base: string, repository: string, reference: string, method = 'GET'): Promise<Response> {
  return fetch(`${base}/v2/${repository}/manifests/${reference}`, {
    method,
    headers: { accept: [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(', ') },
  });
}

/** PUT by tag, then GET and HEAD by tag and by digest: exact bytes, stored media type, digest, length. */
async function assertRoundTrip(base: string, repository: string, tag: string, pushable: Pushable): Promise<void> {
  const put = await putManifest(base, repository, tag, pushable.manifest, pushable.mediaType);
  assert.equal(put.status, 201, await put.clone().text());
  await put.arrayBuffer();
  assert.equal(put.headers.get('docker-content-digest'), pushable.digest);
  assert.equal(new URL(put.headers.get('location')!, base).pathname, `/v2/${repository}/manifests/${pushable.digest}`);
  for (const reference of [tag, pushable.digest]) {
    const response = await get(base, repository, reference);
    assert.equal(response.status, 200, reference);
    assert.equal(response.headers.get('content-type'), pushable.mediaType, reference);
    assert.equal(response.headers.get('docker-content-digest'), pushable.digest, reference);
    assert.equal(response.headers.get('content-length'), String(pushable.manifest.length), reference);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), pushable.manifest, `exact bytes by ${reference}`);
    const head = await get(base, repository, reference, 'HEAD');
    assert.equal(head.status, 200, reference);
    assert.equal(head.headers.get('content-length'), String(pushable.manifest.length), reference);
    assert.equal(head.headers.get('docker-content-digest'), pushable.digest, reference);
    assert.equal(head.headers.get('content-type'), pushable.mediaType, reference);
    assert.equal((await head.arrayBuffer()).byteLength, 0, 'HEAD has no body');
  }
}

async function pushBlobsOf(base: string, repository: string, image: Image): Promise<void> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(base, repository, blob);
}

describe('manifest kinds round-trip by tag and by digest', () => {
  test('OCI image manifest', async () => {
    const image = makeImage();
    await pushBlobsOf(server.url, 'kinds/oci', image);
    await assertRoundTrip(server.url, 'kinds/oci', 'v1', image);
  });

  test('OCI image manifest with pretty-printed JSON keeps its exact bytes and digest', async () => {
    const image = makeImage({ layerCount: 1 });
    const pretty = Buffer.from(`${JSON.stringify(JSON.parse(image.manifest.toString()), null, 3)}\n`);
    await pushBlobsOf(server.url, 'kinds/pretty', image);
    await assertRoundTrip(server.url, 'kinds/pretty', 'v1', { manifest: pretty, digest: sha256(pretty), mediaType: OCI_MANIFEST });
  });

  test('Docker schema 2 manifest', async () => {
    const image = makeImage({ mediaType: DOCKER_MANIFEST });
    await pushBlobsOf(server.url, 'kinds/docker', image);
    await assertRoundTrip(server.url, 'kinds/docker', 'v1', image);
  });

  test('OCI image index', async () => {
    const children = [makeImage({ layerCount: 1 }), makeImage({ layerCount: 1 })];
    for (const child of children) await pushImage(server.url, 'kinds/index', child.digest, child);
    await assertRoundTrip(server.url, 'kinds/index', 'multi', makeIndex(children));
  });

  test('Docker manifest list', async () => {
    const children = [makeImage({ mediaType: DOCKER_MANIFEST, layerCount: 1 }), makeImage({ mediaType: DOCKER_MANIFEST, layerCount: 1 })];
    for (const child of children) await pushImage(server.url, 'kinds/list', child.digest, child);
    await assertRoundTrip(server.url, 'kinds/list', 'multi', makeIndex(children, { mediaType: DOCKER_LIST }));
  });

  test('OCI 1.1 artifact with artifactType and the empty config descriptor', async () => {
    assert.equal(emptyConfig.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    const artifact = makeArtifact({ artifactType: 'application/vnd.example.sbom.v1' });
    await pushBlobsOf(server.url, 'kinds/artifact', artifact);
    await assertRoundTrip(server.url, 'kinds/artifact', 'sbom', artifact);
    const config = await fetch(`${server.url}/v2/kinds/artifact/blobs/${emptyConfig.digest}`);
    assert.equal(await config.text(), '{}');
  });

  test('PUT by digest stores the manifest untagged and it is readable by that digest', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'kinds/by-digest', image);
    const put = await putManifest(server.url, 'kinds/by-digest', image.digest, image.manifest, image.mediaType);
    assert.equal(put.status, 201);
    await put.arrayBuffer();
    assert.equal(put.headers.get('docker-content-digest'), image.digest);
    const response = await get(server.url, 'kinds/by-digest', image.digest);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), image.manifest);
    const tags = await fetch(`${server.url}/v2/kinds/by-digest/tags/list`);
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, []);
  });

  test('Content-Type parameters are ignored and the stored type has none', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'kinds/params', image);
    const put = await putManifest(server.url, 'kinds/params', 'v1', image.manifest, `${OCI_MANIFEST}; charset=utf-8`);
    assert.equal(put.status, 201);
    await put.arrayBuffer();
    const response = await get(server.url, 'kinds/params', 'v1');
    assert.equal(response.headers.get('content-type'), OCI_MANIFEST);
    await response.arrayBuffer();
  });

  test('re-tagging moves the tag; the old manifest stays readable by digest', async () => {
    const first = makeImage({ layerCount: 1 });
    const second = makeImage({ layerCount: 1 });
    await pushImage(server.url, 'kinds/retag', 'latest', first);
    await pushImage(server.url, 'kinds/retag', 'latest', second);
    const latest = await get(server.url, 'kinds/retag', 'latest');
    assert.equal(latest.headers.get('docker-content-digest'), second.digest);
    await latest.arrayBuffer();
    const old = await get(server.url, 'kinds/retag', first.digest);
    assert.equal(old.status, 200);
    await old.arrayBuffer();
  });
});

describe('manifest PUT refusals', () => {
  test('a missing config blob answers 400 MANIFEST_BLOB_UNKNOWN and stores nothing', async () => {
    const image = makeImage({ layerCount: 1 });
    for (const layer of image.layers) await pushBlob(server.url, 'refuse/config', layer);
    await assertError(await putManifest(server.url, 'refuse/config', 'v1', image.manifest, image.mediaType), 400, 'MANIFEST_BLOB_UNKNOWN');
    await assertError(await get(server.url, 'refuse/config', 'v1'), 404, 'MANIFEST_UNKNOWN');
    await assertError(await get(server.url, 'refuse/config', image.digest), 404, 'MANIFEST_UNKNOWN');
  });

  test('a missing layer answers 400 MANIFEST_BLOB_UNKNOWN naming the digest', async () => {
    const image = makeImage({ layerCount: 2 });
    await pushBlob(server.url, 'refuse/layer', image.config);
    await pushBlob(server.url, 'refuse/layer', image.layers[0]!);
    const response = await putManifest(server.url, 'refuse/layer', 'v1', image.manifest, image.mediaType);
    const text = await response.clone().text();
    await assertError(response, 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.ok(text.includes(image.layers[1]!.digest), text);
  });

  test('a layer that exists only in another repository counts as missing', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'refuse/elsewhere-src', image);
    await pushBlob(server.url, 'refuse/elsewhere', image.config);
    await assertError(await putManifest(server.url, 'refuse/elsewhere', 'v1', image.manifest, image.mediaType), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('an index with a child manifest the repository does not have answers 400 MANIFEST_BLOB_UNKNOWN (spec v1.1, Push)', async () => {
    const present = makeImage({ layerCount: 1 });
    const absent = makeImage({ layerCount: 1 });
    await pushImage(server.url, 'refuse/index', 'present', present);
    const index = makeIndex([present, absent]);
    const response = await putManifest(server.url, 'refuse/index', 'multi', index.manifest, index.mediaType);
    const text = await response.clone().text();
    await assertError(response, 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.ok(text.includes(absent.digest), text);
    await assertError(await get(server.url, 'refuse/index', 'multi'), 404, 'MANIFEST_UNKNOWN');
  });

  test('invalid JSON, a non-object, a wrong schemaVersion or a bad descriptor answer 400 MANIFEST_INVALID', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'refuse/invalid', image);
    const document = JSON.parse(image.manifest.toString()) as Record<string, unknown>;
    const bodies = [
      '{"schemaVersion": 2, "mediaType": ',
      '[]',
      '"a string"',
      JSON.stringify({ ...document, schemaVersion: 1 }),
      JSON.stringify({ ...document, config: { mediaType: 'x', digest: 'sha256:nothex', size: 2 } }),
      JSON.stringify({ ...document, layers: [{ mediaType: 'x', digest: image.layers[0]!.digest, size: -1 }] }),
      JSON.stringify({ ...document, layers: 'not-an-array' }),
      JSON.stringify({ ...document, config: undefined }),
      JSON.stringify({ ...document, annotations: { key: 42 } }),
    ];
    for (const body of bodies) {
      await assertError(await putManifest(server.url, 'refuse/invalid', 'v1', Buffer.from(body), OCI_MANIFEST), 400, 'MANIFEST_INVALID');
    }
  });

  test('an unsupported media type or Docker schema 1 answers 400 MANIFEST_INVALID', async () => {
    const schema1 = JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'v1', fsLayers: [], history: [] });
    await assertError(
      await putManifest(server.url, 'refuse/type', 'v1', Buffer.from(schema1), 'application/vnd.docker.distribution.manifest.v1+prettyjws'),
      400,
      'MANIFEST_INVALID',
    );
    await assertError(await putManifest(server.url, 'refuse/type', 'v1', Buffer.from('{"schemaVersion":2}'), 'text/plain'), 400, 'MANIFEST_INVALID');
  });

  test('a Content-Type that differs from the body mediaType answers 400 MANIFEST_INVALID', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'refuse/content-type', image);
    await assertError(await putManifest(server.url, 'refuse/content-type', 'v1', image.manifest, DOCKER_MANIFEST), 400, 'MANIFEST_INVALID');
    await assertError(await putManifest(server.url, 'refuse/content-type', 'v1', image.manifest, OCI_INDEX), 400, 'MANIFEST_INVALID');
    await assertError(await get(server.url, 'refuse/content-type', 'v1'), 404, 'MANIFEST_UNKNOWN');
  });

  test('an ambiguous document with both manifests and layers/config is refused (CVE-2021-41190)', async () => {
    const child = makeImage({ layerCount: 1 });
    await pushImage(server.url, 'refuse/ambiguous', 'child', child);
    const document = JSON.parse(child.manifest.toString()) as Record<string, unknown>;
    const childDescriptor = { mediaType: OCI_MANIFEST, digest: child.digest, size: child.manifest.length };
    const asManifest = Buffer.from(JSON.stringify({ ...document, manifests: [childDescriptor] }));
    const asIndexWithLayers = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [childDescriptor], layers: document.layers }));
    const asIndexWithConfig = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [childDescriptor], config: document.config }));
    await assertError(await putManifest(server.url, 'refuse/ambiguous', 'a', asManifest, OCI_MANIFEST), 400, 'MANIFEST_INVALID');
    await assertError(await putManifest(server.url, 'refuse/ambiguous', 'b', asIndexWithLayers, OCI_INDEX), 400, 'MANIFEST_INVALID');
    await assertError(await putManifest(server.url, 'refuse/ambiguous', 'c', asIndexWithConfig, OCI_INDEX), 400, 'MANIFEST_INVALID');
  });

  test('a digest reference that does not match the body answers 400 DIGEST_INVALID', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'refuse/digest', image);
    const wrong = makeBlob().digest;
    await assertError(await putManifest(server.url, 'refuse/digest', wrong, image.manifest, image.mediaType), 400, 'DIGEST_INVALID');
    await assertError(await get(server.url, 'refuse/digest', wrong), 404, 'MANIFEST_UNKNOWN');
    await assertError(await get(server.url, 'refuse/digest', image.digest), 404, 'MANIFEST_UNKNOWN');
  });

  test('a manifest pushed by its sha512 digest is accepted and readable by it', async () => {
    const { createHash } = await import('node:crypto');
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'refuse/sha512', image);
    const digest = `sha512:${createHash('sha512').update(image.manifest).digest('hex')}`;
    const put = await putManifest(server.url, 'refuse/sha512', digest, image.manifest, image.mediaType);
    assert.equal(put.status, 201, await put.clone().text());
    assert.equal(put.headers.get('docker-content-digest'), digest);
    await put.arrayBuffer();
    const response = await get(server.url, 'refuse/sha512', digest);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), image.manifest);
  });

  test('the default limit accepts a 4 MiB manifest and answers 413 just above it', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'refuse/size', image);
    const padded = (total: number) => {
      const base = JSON.parse(image.manifest.toString()) as Record<string, unknown>;
      const skeleton = JSON.stringify({ ...base, annotations: { pad: '' } });
      return Buffer.from(JSON.stringify({ ...base, annotations: { pad: 'x'.repeat(total - skeleton.length) } }));
    };
    const limit = 4 * 1024 * 1024;
    const atLimit = padded(limit);
    assert.equal(atLimit.length, limit);
    const ok = await putManifest(server.url, 'refuse/size', 'big', atLimit, OCI_MANIFEST);
    assert.equal(ok.status, 201, await ok.clone().text());
    await ok.arrayBuffer();
    const response = await putManifest(server.url, 'refuse/size', 'too-big', padded(limit + 1), OCI_MANIFEST);
    assert.equal(response.status, 413);
    await response.arrayBuffer();
    await assertError(await get(server.url, 'refuse/size', 'too-big'), 404, 'MANIFEST_UNKNOWN');
  });

  test('a configured smaller manifest limit answers 413 above it', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(custom.url, 'refuse/small-limit', image);
    assert.ok(image.manifest.length < 2048);
    const ok = await putManifest(custom.url, 'refuse/small-limit', 'small', image.manifest, image.mediaType);
    assert.equal(ok.status, 201);
    await ok.arrayBuffer();
    const big = makeImage({ layerCount: 20 });
    await pushBlobsOf(custom.url, 'refuse/small-limit', big);
    assert.ok(big.manifest.length > 2048);
    const response = await putManifest(custom.url, 'refuse/small-limit', 'big', big.manifest, big.mediaType);
    assert.equal(response.status, 413);
    const body = (await response.json()) as { errors: Array<{ code: string }> };
    assert.equal(body.errors[0]!.code, 'SIZE_INVALID');
  });
});

describe('foreign layers', () => {
  const foreignType = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
  function withForeignLayer(image: Image, urls: string[], mediaType = foreignType): Buffer {
    const document = JSON.parse(image.manifest.toString()) as { layers: unknown[] };
    const foreign = makeBlob();
    document.layers.push({ mediaType, digest: foreign.digest, size: foreign.size, urls });
    return Buffer.from(JSON.stringify(document));
  }

  test('a non-distributable layer with URLs is refused when no URL is allowed (the default)', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(server.url, 'foreign/default', image);
    const manifest = withForeignLayer(image, ['https://foreign.example.com/layer.tar.gz']);
    await assertError(await putManifest(server.url, 'foreign/default', 'v1', manifest, OCI_MANIFEST), 400, 'MANIFEST_INVALID');
  });

  test('a foreign layer whose URL the configuration allows is accepted without its blob', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(custom.url, 'foreign/allowed', image);
    for (const mediaType of [foreignType, 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip']) {
      const manifest = withForeignLayer(image, ['https://foreign.example.com/layer.tar.gz'], mediaType);
      const response = await putManifest(custom.url, 'foreign/allowed', 'v1', manifest, OCI_MANIFEST);
      assert.equal(response.status, 201, await response.clone().text());
      await response.arrayBuffer();
    }
  });

  test('a foreign layer URL not allowed, or allowed but denied, is refused', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(custom.url, 'foreign/denied', image);
    for (const url of ['https://elsewhere.example.org/layer.tar.gz', 'https://foreign.example.com/forbidden/layer.tar.gz']) {
      await assertError(await putManifest(custom.url, 'foreign/denied', 'v1', withForeignLayer(image, [url]), OCI_MANIFEST), 400, 'MANIFEST_INVALID');
    }
  });

  test('a distributable layer listing URLs is refused even where URLs are allowed', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushBlobsOf(custom.url, 'foreign/distributable', image);
    const manifest = withForeignLayer(image, ['https://foreign.example.com/layer.tar.gz'], 'application/vnd.oci.image.layer.v1.tar+gzip');
    const response = await putManifest(custom.url, 'foreign/distributable', 'v1', manifest, OCI_MANIFEST);
    assert.equal(response.status, 400);
    await response.arrayBuffer();
  });
});

test('PUT of a manifest with a subject answers with OCI-Subject, even before the subject exists', async () => {
  const subject = makeImage({ layerCount: 1 });
  const artifact = makeArtifact({
    artifactType: 'application/vnd.example.signature.v1',
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.manifest.length },
  });
  await pushBlobsOf(server.url, 'subject/app', artifact);
  const response = await putManifest(server.url, 'subject/app', artifact.digest, artifact.manifest, artifact.mediaType);
  assert.equal(response.status, 201, await response.clone().text());
  assert.equal(response.headers.get('oci-subject'), subject.digest);
  await response.arrayBuffer();
  const plain = makeImage({ layerCount: 1 });
  const without = await pushImage(server.url, 'subject/app', 'plain', plain);
  assert.equal(without.headers.get('oci-subject'), null);
});

describe('manifest reads and deletes', () => {
  test('an unknown tag or digest answers 404 MANIFEST_UNKNOWN; an unknown repository 404 NAME_UNKNOWN', async () => {
    await pushImage(server.url, 'read/known', 'v1', makeImage({ layerCount: 1 }));
    await assertError(await get(server.url, 'read/known', 'nope'), 404, 'MANIFEST_UNKNOWN');
    await assertError(await get(server.url, 'read/known', makeBlob().digest), 404, 'MANIFEST_UNKNOWN');
    const head = await get(server.url, 'read/known', 'nope', 'HEAD');
    assert.equal(head.status, 404);
    await head.arrayBuffer();
    await assertError(await get(server.url, 'read/never-pushed', 'v1'), 404, 'NAME_UNKNOWN');
  });

  test('a manifest is readable only through its own repository', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushImage(server.url, 'read/owner', 'v1', image);
    await pushImage(server.url, 'read/other', 'v1', makeImage({ layerCount: 1 }));
    await assertError(await get(server.url, 'read/other', image.digest), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE answers 405 UNSUPPORTED when deletes are disabled and the manifest stays', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushImage(server.url, 'delete/disabled', 'v1', image);
    await assertError(await fetch(`${server.url}/v2/delete/disabled/manifests/v1`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    await assertError(await fetch(`${server.url}/v2/delete/disabled/manifests/${image.digest}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    const response = await get(server.url, 'delete/disabled', 'v1');
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  test('DELETE by tag removes only that tag: the manifest stays reachable by digest and other tags', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushImage(custom.url, 'delete/tag', 'v1', image);
    await pushImage(custom.url, 'delete/tag', 'stable', image);
    const response = await fetch(`${custom.url}/v2/delete/tag/manifests/v1`, { method: 'DELETE' });
    assert.equal(response.status, 202);
    await response.arrayBuffer();
    await assertError(await get(custom.url, 'delete/tag', 'v1'), 404, 'MANIFEST_UNKNOWN');
    for (const reference of ['stable', image.digest]) {
      const still = await get(custom.url, 'delete/tag', reference);
      assert.equal(still.status, 200, reference);
      assert.deepEqual(Buffer.from(await still.arrayBuffer()), image.manifest);
    }
    const tags = await fetch(`${custom.url}/v2/delete/tag/tags/list`);
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['stable']);
    await assertError(await fetch(`${custom.url}/v2/delete/tag/manifests/v1`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE by digest removes the manifest and every tag on it; then 404 MANIFEST_UNKNOWN', async () => {
    const image = makeImage({ layerCount: 1 });
    const other = makeImage({ layerCount: 1 });
    await pushImage(custom.url, 'delete/digest', 'v1', image);
    await pushImage(custom.url, 'delete/digest', 'v1-alias', image);
    await pushImage(custom.url, 'delete/digest', 'other', other);
    const response = await fetch(`${custom.url}/v2/delete/digest/manifests/${image.digest}`, { method: 'DELETE' });
    assert.equal(response.status, 202);
    await response.arrayBuffer();
    for (const reference of [image.digest, 'v1', 'v1-alias']) {
      await assertError(await get(custom.url, 'delete/digest', reference), 404, 'MANIFEST_UNKNOWN');
    }
    const kept = await get(custom.url, 'delete/digest', 'other');
    assert.equal(kept.status, 200);
    await kept.arrayBuffer();
    const tags = await fetch(`${custom.url}/v2/delete/digest/tags/list`);
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['other']);
    await assertError(await fetch(`${custom.url}/v2/delete/digest/manifests/${image.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    await assertError(await fetch(`${custom.url}/v2/delete/never-pushed/manifests/${image.digest}`, { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
  });

  test('DELETE with a malformed reference answers 400', async () => {
    await pushImage(custom.url, 'delete/bad', 'v1', makeImage({ layerCount: 1 }));
    await assertError(await fetch(`${custom.url}/v2/delete/bad/manifests/sha256:abc`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
    await assertError(await fetch(`${custom.url}/v2/delete/bad/manifests/-tag`, { method: 'DELETE' }), 400, 'TAG_INVALID');
  });
});
