import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { startTestServer, makeTempDir, type TestServer } from '../support/server.ts';
import { errorCodes, sha256 } from '../support/oci.ts';
import { needsCommand } from '../support/services.ts';
import {
  buildUmociImage,
  containersClientEnv,
  killRunningCommands,
  readLayoutBlob,
  readLayoutImage,
  recordRequests,
  run,
  runExpectingFailure,
  writeMultiPlatformLayout,
  type ContainersClientEnv,
  type LayoutImage,
} from '../support/clients.ts';

// Real skopeo against an in-process Berth over plain HTTP; images are built with umoci or
// written as OCI layouts directly.

const skip = needsCommand('skopeo') || needsCommand('umoci') || needsCommand('tar');

describe('skopeo', { skip, timeout: 120_000 }, () => {
  let server: TestServer;
  let host: string;
  let work: string;
  let client: ContainersClientEnv;
  /** An OCI layout built with umoci: tag `v1` has 3 layers (the first over 6 MiB), tag `small` has 1. */
  let layout: string;
  let image: LayoutImage;
  let small: LayoutImage;

  const skopeo = (...args: string[]) =>
    run('skopeo', ['--policy', client.policyPath, '--registries.d', client.registriesDir, ...args], { env: client.env, timeoutMs: 60_000 });
  const skopeoFails = (...args: string[]) =>
    runExpectingFailure('skopeo', ['--policy', client.policyPath, '--registries.d', client.registriesDir, ...args], { env: client.env, timeoutMs: 60_000 });
  const docker = (repository: string, reference: string) => `docker://${host}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  const rawManifest = async (repository: string, reference: string) =>
    Buffer.from((await skopeo('inspect', '--raw', '--tls-verify=false', docker(repository, reference))).stdout, 'utf8');
  /** Repositories each layout tag was pushed to. */
  const pushedTo = new Map<string, Set<string>>();
  const push = async (repository: string, tag: string, sourceTag = 'v1') => {
    await skopeo('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:${sourceTag}`, docker(repository, tag));
    pushedTo.set(sourceTag, (pushedTo.get(sourceTag) ?? new Set()).add(repository));
  };

  before(async () => {
    work = await makeTempDir('berth-skopeo-');
    client = await containersClientEnv(path.join(work, 'client'));
    server = await startTestServer({ config: { storage: { delete: { enabled: true } } } });
    host = new URL(server.url).host;
    layout = path.join(work, 'layout');
    image = await buildUmociImage(layout, 'v1', {
      layers: 3,
      workDir: work,
      largeFileBytes: 6 * 1024 * 1024,
      env: ['GREETING=hello from berth'],
      labels: { 'org.example.suite': 'skopeo' },
      entrypoint: ['/bin/true'],
      author: 'berth tests',
    });
    small = await buildUmociImage(layout, 'small', { layers: 1, workDir: work });
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('copies a three-layer umoci image into two tags and back out with identical digests', async () => {
    assert.equal(new Set(image.layerDigests).size, 3, 'the fixture has three distinct layers');
    await push('skopeo/multi', 'v2');
    await push('skopeo/multi', 'v10');

    for (const tag of ['v2', 'v10']) {
      const manifest = await rawManifest('skopeo/multi', tag);
      assert.equal(sha256(manifest), image.manifestDigest, `manifest under ${tag} keeps its digest`);
      assert.deepEqual(manifest, image.manifest, `manifest under ${tag} is byte-identical`);
    }

    const out = path.join(work, 'out-multi');
    await skopeo('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', docker('skopeo/multi', 'v10'), `oci:${out}:copied`);
    const copied = await readLayoutImage(out, 'copied');
    assert.equal(copied.manifestDigest, image.manifestDigest);
    assert.equal(copied.configDigest, image.configDigest);
    assert.deepEqual(copied.layerDigests, image.layerDigests);
    for (const digest of [copied.configDigest, ...copied.layerDigests]) {
      const [original, roundTripped] = await Promise.all([readLayoutBlob(layout, digest), readLayoutBlob(out, digest)]);
      assert.equal(sha256(roundTripped), digest, `${digest} came back with the right content`);
      assert.ok(original.equals(roundTripped));
    }
  });

  test('pushes with conversion to Docker schema 2 and serves it under the Docker media type', async () => {
    await skopeo('copy', '--quiet', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${layout}:small`, docker('skopeo/docker', 'v1'));
    const raw = await rawManifest('skopeo/docker', 'v1');
    const manifest = JSON.parse(raw.toString('utf8')) as { mediaType: string; config: { mediaType: string }; layers: Array<{ mediaType: string; digest: string }> };
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.deepEqual(manifest.layers.map((l) => [l.mediaType, l.digest]), small.layerDigests.map((d) => ['application/vnd.docker.image.rootfs.diff.tar.gzip', d]));
    const response = await fetch(`${server.url}/v2/skopeo/docker/manifests/v1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(response.headers.get('docker-content-digest'), sha256(raw));
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(raw));
  });

  test('recompressing to zstd on push stores zstd layers that copy back out unchanged', async () => {
    // A layer skopeo has never seen: a known one may be reused (mounted) as gzip instead.
    const fresh = await buildUmociImage(layout, 'zstd', { layers: 1, workDir: work });
    await skopeo('copy', '--quiet', '--dest-compress-format', 'zstd', '--dest-tls-verify=false', `oci:${layout}:zstd`, docker('skopeo/zstd', 'v1'));
    const raw = await rawManifest('skopeo/zstd', 'v1');
    const manifest = JSON.parse(raw.toString('utf8')) as { layers: Array<{ mediaType: string; digest: string }> };
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+zstd']);
    assert.notEqual(manifest.layers[0]!.digest, fresh.layerDigests[0], 'the layer was recompressed');
    const out = path.join(work, 'out-zstd');
    await skopeo('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', docker('skopeo/zstd', 'v1'), `oci:${out}:v1`);
    const copied = await readLayoutImage(out, 'v1');
    assert.equal(copied.manifestDigest, sha256(raw));
    const layer = await readLayoutBlob(out, copied.layerDigests[0]!);
    assert.equal(sha256(layer), manifest.layers[0]!.digest);
    assert.equal(layer.readUInt32LE(0), 0xfd2fb528, 'the layer is a zstd frame');
  });

  test('a Docker schema 1 push is refused with a reason skopeo shows', async () => {
    const failure = await skopeoFails('copy', '--quiet', '--format', 'v2s1', '--dest-tls-verify=false', `oci:${layout}:small`, docker('skopeo/schema1', 'v1'));
    assert.match(failure.stderr, /manifest invalid: Docker schema 1 manifests are not supported/);
    const response = await fetch(`${server.url}/v2/skopeo/schema1/manifests/v1`);
    assert.equal(response.status, 404);
    await response.arrayBuffer();
  });

  test('copy --all round-trips a two-platform index with its digest and both children', async () => {
    const source = path.join(work, 'index-layout');
    const built = await writeMultiPlatformLayout(source, 'multi', {
      workDir: work,
      platforms: [
        { architecture: 'amd64', os: 'linux' },
        { architecture: 'arm64', os: 'linux', variant: 'v8' },
      ],
    });
    await skopeo('copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${source}:multi`, docker('skopeo/platforms', 'multi'));

    const index = await rawManifest('skopeo/platforms', 'multi');
    assert.equal(sha256(index), built.indexDigest, 'index digest preserved in Berth');
    for (const child of built.images) {
      const response = await fetch(`${server.url}/v2/skopeo/platforms/manifests/${child.manifestDigest}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(response.status, 200, `${child.platform.architecture} child is in Berth`);
      assert.equal(sha256(Buffer.from(await response.arrayBuffer())), child.manifestDigest);
    }
    // A client on arm64 resolves the tag through the index to the arm64 image.
    const arm = JSON.parse(
      (await skopeo('--override-arch', 'arm64', '--override-variant', 'v8', 'inspect', '--tls-verify=false', docker('skopeo/platforms', 'multi'))).stdout,
    ) as { Digest: string; Architecture: string; Layers: string[] };
    assert.equal(arm.Architecture, 'arm64');
    assert.equal(arm.Digest, built.indexDigest, 'skopeo reports the digest of what the tag names: the index');
    assert.deepEqual(arm.Layers, built.images[1]!.layerDigests);

    const out = path.join(work, 'out-index');
    await skopeo('copy', '--quiet', '--all', '--preserve-digests', '--src-tls-verify=false', docker('skopeo/platforms', 'multi'), `oci:${out}:back`);
    const outIndex = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(
      outIndex.manifests.map((m) => m.digest),
      [built.indexDigest],
    );
    assert.ok((await readLayoutBlob(out, built.indexDigest)).equals(built.index));
    for (const child of built.images) {
      for (const digest of [child.manifestDigest, child.configDigest, ...child.layerDigests]) {
        assert.equal(sha256(await readLayoutBlob(out, digest)), digest, `${child.platform.architecture} blob ${digest} came back`);
      }
    }
  });

  test('inspect shows config, digest and layers; list-tags lists both tags sorted; delete by digest removes the manifest', async () => {
    await push('skopeo/inspect', 'v2');
    await push('skopeo/inspect', 'v10');
    const config = JSON.parse((await readLayoutBlob(layout, image.configDigest)).toString('utf8')) as { architecture: string; os: string };

    const inspected = JSON.parse((await skopeo('inspect', '--tls-verify=false', docker('skopeo/inspect', 'v2'))).stdout) as {
      Name: string;
      Digest: string;
      RepoTags: string[];
      Architecture: string;
      Os: string;
      Layers: string[];
      Env: string[];
      Labels: Record<string, string>;
      Author?: string;
    };
    assert.equal(inspected.Name, `${host}/skopeo/inspect`);
    assert.equal(inspected.Digest, image.manifestDigest);
    assert.deepEqual(inspected.Layers, image.layerDigests);
    assert.equal(inspected.Architecture, config.architecture);
    assert.equal(inspected.Os, 'linux');
    assert.ok(inspected.Env.includes('GREETING=hello from berth'), `Env: ${inspected.Env.join(', ')}`);
    assert.deepEqual(inspected.Labels, { 'org.example.suite': 'skopeo' });
    assert.deepEqual(inspected.RepoTags, ['v10', 'v2']);

    const rawConfig = (await skopeo('inspect', '--config', '--raw', '--tls-verify=false', docker('skopeo/inspect', 'v10'))).stdout;
    assert.equal(sha256(rawConfig), image.configDigest, 'raw config is the pushed blob');
    const parsedConfig = JSON.parse(rawConfig) as { author?: string; config: { Entrypoint?: string[] }; rootfs: { diff_ids: string[] } };
    assert.equal(parsedConfig.author, 'berth tests');
    assert.deepEqual(parsedConfig.config.Entrypoint, ['/bin/true']);
    assert.equal(parsedConfig.rootfs.diff_ids.length, 3);

    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${host}/skopeo/inspect`)).stdout) as { Repository: string; Tags: string[] };
    assert.equal(tags.Repository, `${host}/skopeo/inspect`);
    assert.deepEqual(tags.Tags, ['v10', 'v2'], 'byte-wise lexical order, not push order');

    await skopeo('delete', '--tls-verify=false', docker('skopeo/inspect', image.manifestDigest));
    for (const reference of [image.manifestDigest, 'v2', 'v10']) {
      const response = await fetch(`${server.url}/v2/skopeo/inspect/manifests/${reference}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(response.status, 404, `manifest ${reference} is gone`);
      assert.deepEqual(await errorCodes(response), ['MANIFEST_UNKNOWN']);
    }
    const after = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${host}/skopeo/inspect`)).stdout) as { Tags: string[] };
    assert.deepEqual(after.Tags, [], 'deleting the manifest removed its tags');
    const failure = await skopeoFails('inspect', '--raw', '--tls-verify=false', docker('skopeo/inspect', 'v2'));
    assert.match(failure.stderr, /manifest unknown/i);
  });

  test('skopeo delete is refused while storage.delete.enabled is off and the manifest stays', async () => {
    const readOnly = await startTestServer();
    try {
      const readOnlyHost = new URL(readOnly.url).host;
      await skopeo('copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:small`, `docker://${readOnlyHost}/keep/app:v1`);
      const failure = await skopeoFails('delete', '--tls-verify=false', `docker://${readOnlyHost}/keep/app@${small.manifestDigest}`);
      assert.match(failure.stderr, /UNSUPPORTED.*405 Method Not Allowed/);
      const response = await fetch(`${readOnly.url}/v2/keep/app/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('docker-content-digest'), small.manifestDigest);
    } finally {
      await readOnly.close();
    }
  });

  test('copies between two Berth repositories by mounting blobs, keeping the digest', async () => {
    await push('cross/a', 'v1');
    const recorder = recordRequests(server);
    try {
      await skopeo('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', docker('cross/a', 'v1'), docker('cross/b', 'v1'));
    } finally {
      recorder.stop();
    }
    const manifest = await rawManifest('cross/b', 'v1');
    assert.equal(sha256(manifest), image.manifestDigest);
    for (const digest of [image.configDigest, ...image.layerDigests]) {
      const response = await fetch(`${server.url}/v2/cross/b/blobs/${digest}`);
      assert.equal(response.status, 200, `${digest} is served from cross/b`);
      assert.equal(sha256(Buffer.from(await response.arrayBuffer())), digest);
    }

    const requests = recorder.requests.map((r) => `${r.method} ${r.url} ${r.status}`).join('\n');
    const mounted = recorder.requests
      .filter((r) => r.method === 'POST' && r.url.startsWith('/v2/cross/b/blobs/uploads/') && r.status === 201)
      .map((r) => new URL(r.url, server.url).searchParams);
    // skopeo's blob info cache knows the layers live in cross/a (and wherever else this file
    // pushed them), so it asks Berth to mount each one; Berth answers 201 Created and no layer
    // is uploaded again.
    for (const params of mounted) assert.ok(pushedTo.get('v1')!.has(params.get('from')!), `mounted from ${params.get('from')}:\n${requests}`);
    assert.deepEqual(mounted.map((p) => p.get('mount')).sort(), [...image.layerDigests].sort(), `every layer was mounted:\n${requests}`);
    const uploaded = recorder.requests
      .filter((r) => r.method === 'PUT' && r.url.startsWith('/v2/cross/b/blobs/uploads/'))
      .map((r) => new URL(r.url, server.url).searchParams.get('digest'));
    for (const digest of image.layerDigests) assert.ok(!uploaded.includes(digest), `${digest} was uploaded again:\n${requests}`);
  });

  test('sync out of Berth to a directory and to another repository brings every tag', async () => {
    await push('sync/app', 'one');
    await push('sync/app', 'two');
    await push('sync/app', 'tiny', 'small');
    const expected: Record<string, string> = { one: image.manifestDigest, tiny: small.manifestDigest, two: image.manifestDigest };

    const dir = path.join(work, 'sync-dir');
    await skopeo('sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', '--preserve-digests', `${host}/sync/app`, dir);
    const entries = (await readdir(dir)).sort();
    assert.deepEqual(entries, ['app:one', 'app:tiny', 'app:two']);
    for (const [tag, digest] of Object.entries(expected)) {
      assert.equal(sha256(await readFile(path.join(dir, `app:${tag}`, 'manifest.json'))), digest, `dir copy of ${tag}`);
    }

    await skopeo('sync', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', '--preserve-digests', `${host}/sync/app`, `${host}/mirror`);
    const tags = JSON.parse((await skopeo('list-tags', '--tls-verify=false', `docker://${host}/mirror/app`)).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['one', 'tiny', 'two']);
    for (const [tag, digest] of Object.entries(expected)) {
      assert.equal(sha256(await rawManifest('mirror/app', tag)), digest, `mirror/app:${tag}`);
    }
  });
});
