import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DOCKER_MANIFEST, MANIFEST_ACCEPT, fetchServedBlob, fetchServedManifest, killRunningCommands, makeLayerTar, recordRequests, run, type RecordedRequest } from '../support/clients.ts';
import { needsDockerd, startDockerd, type Dockerd } from '../support/dockerd.ts';
import { sha256 } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';

// The docker CLI and a private dockerd (vfs, no network) against an in-process Berth on
// 127.0.0.1, which docker treats as an insecure registry without configuration.

interface ServedImage {
  manifest: { mediaType?: string; config: { digest: string; mediaType: string }; layers: Array<{ digest: string; mediaType: string }> };
  config: Record<string, unknown> & { config?: { Labels?: Record<string, string> }; rootfs: { diff_ids: string[] } };
  configDigest: string;
  /** Layer bytes as stored, each already checked against its digest. */
  layers: Buffer[];
}

/** Reads an image back from Berth with fetch, asserting every digest it serves. */
async function fetchServedImage(baseUrl: string, repository: string, digest: string, size: number): Promise<ServedImage> {
  const served = await fetchServedManifest(baseUrl, repository, digest);
  assert.equal(served.mediaType, DOCKER_MANIFEST, 'docker pushes Docker schema 2 manifests');
  assert.equal(served.digest, digest);
  assert.equal(served.bytes.length, size);
  const manifest = served.body as ServedImage['manifest'];
  assert.equal(manifest.mediaType, DOCKER_MANIFEST);
  const config = JSON.parse((await fetchServedBlob(baseUrl, repository, manifest.config)).toString('utf8')) as ServedImage['config'];
  const layers: Buffer[] = [];
  for (const layer of manifest.layers) layers.push(await fetchServedBlob(baseUrl, repository, layer));
  return { manifest, config, configDigest: manifest.config.digest, layers };
}

/** `docker push` prints "<tag>: digest: sha256:… size: N" once the manifest is stored. */
function pushedDigest(output: string): { digest: string; size: number } {
  const match = /digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(output);
  assert.ok(match, `no digest in docker push output:\n${output}`);
  return { digest: match[1]!, size: Number(match[2]) };
}

/** Digests of the blobs whose upload was completed (PUT …/blobs/uploads/<id>?digest=) among `requests`. */
function uploadedDigests(requests: RecordedRequest[]): string[] {
  return requests
    .filter((r) => r.method === 'PUT' && r.url.includes('/blobs/uploads/'))
    .map((r) => new URL(r.url, 'http://berth').searchParams.get('digest') ?? '');
}

interface DockerArchive {
  archive: string;
  /** The image id: digest of the config. */
  imageId: string;
  /** Digests of the uncompressed layer archives, in order. */
  diffIds: string[];
  label: string;
}

/**
 * Writes a `docker save` style archive (manifest.json, config, uncompressed layer tars)
 * tagged `repoTag`, without any network or base image: a layer of a few small random files,
 * plus, with `bigFileBytes`, a layer holding one incompressible file of that size.
 */
async function writeDockerArchive(workDir: string, repoTag: string, options: { bigFileBytes?: number } = {}): Promise<DockerArchive> {
  const name = `img-${randomBytes(4).toString('hex')}`;
  const root = path.join(workDir, name);
  await mkdir(root, { recursive: true });
  const layerTars = [await makeLayerTar(workDir, `${name}-layer`)];
  if (options.bigFileBytes) {
    const bigRoot = path.join(workDir, `${name}-big`);
    await mkdir(bigRoot);
    await writeFile(path.join(bigRoot, 'big.bin'), randomBytes(options.bigFileBytes));
    layerTars.push(path.join(workDir, `${name}-big.tar`));
    await run('tar', ['-C', bigRoot, '-cf', layerTars[1]!, 'big.bin']);
  }
  const diffIds: string[] = [];
  const layerPaths: string[] = [];
  for (const tar of layerTars) {
    const bytes = await readFile(tar);
    const diffId = sha256(bytes);
    diffIds.push(diffId);
    layerPaths.push(`${diffId.slice(7)}/layer.tar`);
    await mkdir(path.join(root, diffId.slice(7)));
    await writeFile(path.join(root, layerPaths.at(-1)!), bytes);
  }
  const label = randomBytes(8).toString('hex');
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      os: 'linux',
      created: new Date().toISOString(),
      config: { Cmd: ['/nothing'], Labels: { 'org.example.berth-test': label } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: new Date().toISOString(), created_by: 'berth test archive' })),
    }),
  );
  const imageId = sha256(config);
  const configPath = `${imageId.slice(7)}.json`;
  await writeFile(path.join(root, configPath), config);
  await writeFile(path.join(root, 'manifest.json'), JSON.stringify([{ Config: configPath, RepoTags: [repoTag], Layers: layerPaths }]));
  const archive = path.join(workDir, `${name}.tar`);
  await run('tar', ['-C', root, '-cf', archive, 'manifest.json', configPath, ...layerPaths]);
  return { archive, imageId, diffIds, label };
}

describe('docker CLI and dockerd against Berth', { skip: needsDockerd(), timeout: 240_000 }, () => {
  let server: TestServer | undefined;
  let dockerd: Dockerd | undefined;
  let workDir: string | undefined;
  let registry = '';

  before(async () => {
    const [serverResult, dockerdResult] = await Promise.allSettled([startTestServer(), startDockerd()]);
    if (serverResult.status === 'fulfilled') server = serverResult.value;
    if (dockerdResult.status === 'fulfilled') dockerd = dockerdResult.value;
    if (serverResult.status === 'rejected') throw serverResult.reason;
    if (dockerdResult.status === 'rejected') throw dockerdResult.reason;
    workDir = await makeTempDir('berth-docker-');
    registry = new URL(server!.url).host;
  }, { timeout: 90_000 });

  after(async () => {
    killRunningCommands();
    await dockerd?.stop();
    await server?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, { timeout: 60_000 });

  test('docker load, push, rmi and pull round-trip a two-layer image with the same image id and manifest digest', async () => {
    const ref = `${registry}/team/app:v1`;
    const image = await writeDockerArchive(workDir!, ref, { bigFileBytes: 4 * 1024 * 1024 });
    await dockerd!.docker(['load', '-i', image.archive]);
    const loaded = await dockerd!.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
    assert.equal(loaded.stdout.trim(), image.imageId);

    const pushed = pushedDigest((await dockerd!.docker(['push', ref])).stdout);

    const served = await fetchServedImage(server!.url, 'team/app', pushed.digest, pushed.size);
    assert.equal(served.configDigest, image.imageId, 'the config docker pushed is the loaded one, unchanged');
    assert.equal(served.config.config?.Labels?.['org.example.berth-test'], image.label);
    assert.deepEqual(
      served.layers.map((layer) => sha256(gunzipSync(layer))),
      image.diffIds,
      'the pushed layers decompress to the loaded layer tars, in order',
    );

    // A second push finds the layers in place (HEAD) and uploads none of them again.
    const recorder = recordRequests(server!);
    let again: string;
    try {
      again = (await dockerd!.docker(['push', ref])).stdout;
    } finally {
      recorder.stop();
    }
    assert.match(again, /Layer already exists/);
    assert.equal(pushedDigest(again).digest, pushed.digest);
    const uploaded = uploadedDigests(recorder.requests);
    assert.ok(!served.manifest.layers.some((l) => uploaded.includes(l.digest)), `no layer uploaded again: ${JSON.stringify(recorder.requests)}`);
    const byTag = await fetch(`${server!.url}/v2/team/app/manifests/v1`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });
    assert.equal(byTag.status, 200);
    assert.equal(byTag.headers.get('docker-content-digest'), pushed.digest, 'the tag names the pushed manifest');
    const tags = (await (await fetch(`${server!.url}/v2/team/app/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);

    await dockerd!.docker(['rmi', ref]);
    const gone = await dockerd!.docker(['images', '--quiet', '--no-trunc', ref]);
    assert.equal(gone.stdout.trim(), '', 'the image is gone from the daemon before the pull');

    const pull = await dockerd!.docker(['pull', ref]);
    assert.match(pull.stdout, new RegExp(`Digest: ${pushed.digest}`));
    const inspected = await dockerd!.docker(['image', 'inspect', '--format', '{{.Id}} {{json .RepoDigests}}', ref]);
    const [id, repoDigests] = inspected.stdout.trim().split(' ', 2);
    assert.equal(id, image.imageId, 'the pulled image is the pushed image');
    assert.deepEqual(JSON.parse(repoDigests!), [`${registry}/team/app@${pushed.digest}`]);

    // Pulling by digest resolves the same manifest.
    await dockerd!.docker(['rmi', ref]);
    await dockerd!.docker(['pull', `${registry}/team/app@${pushed.digest}`]);
    const byDigest = await dockerd!.docker(['image', 'inspect', '--format', '{{.Id}}', `${registry}/team/app@${pushed.digest}`]);
    assert.equal(byDigest.stdout.trim(), image.imageId);
  });

  test('docker push to a second repository mounts the layer from the first instead of uploading it again', async () => {
    const source = `${registry}/team/source:v1`;
    const target = `${registry}/team/mounted:v1`;
    const image = await writeDockerArchive(workDir!, source);
    await dockerd!.docker(['load', '-i', image.archive]);
    const first = pushedDigest((await dockerd!.docker(['push', source])).stdout);
    await dockerd!.docker(['tag', source, target]);

    const recorder = recordRequests(server!);
    let output: string;
    try {
      output = (await dockerd!.docker(['push', target])).stdout;
    } finally {
      recorder.stop();
    }
    assert.match(output, /Mounted from team\/source/, output);
    const mounts = recorder.requests.filter((r) => r.method === 'POST' && r.url.startsWith('/v2/team/mounted/blobs/uploads/') && r.url.includes('mount='));
    assert.ok(mounts.length >= 1, `docker asked for a cross-repository mount: ${JSON.stringify(recorder.requests)}`);
    assert.ok(mounts.every((r) => r.status === 201), `every mount succeeded: ${JSON.stringify(mounts)}`);
    // docker may re-send the small config blob; the layer must not travel again.
    const uploaded = uploadedDigests(recorder.requests);
    assert.ok(uploaded.every((digest) => digest === image.imageId), `only the config may be uploaded, not the layer: ${JSON.stringify(uploaded)}`);
    const second = pushedDigest(output);
    assert.equal(second.digest, first.digest, 'the same manifest in both repositories');
    await fetchServedImage(server!.url, 'team/mounted', second.digest, second.size);
  });

  test('docker build (classic builder) FROM scratch with COPY and LABEL pushes an image that pulls back with its label', async () => {
    const context = path.join(workDir!, 'build-context');
    await mkdir(context, { recursive: true });
    const payload = `payload ${randomBytes(16).toString('hex')}\n`;
    await writeFile(path.join(context, 'payload.txt'), payload);
    await writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY payload.txt /payload.txt\nLABEL org.example.built=by-docker-build\n');
    const ref = `${registry}/team/built:v1`;
    await dockerd!.docker(['build', '--tag', ref, context], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 120_000 });
    const built = (await dockerd!.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();

    const pushed = pushedDigest((await dockerd!.docker(['push', ref])).stdout);
    const served = await fetchServedImage(server!.url, 'team/built', pushed.digest, pushed.size);
    assert.equal(served.configDigest, built);
    assert.equal(served.config.config?.Labels?.['org.example.built'], 'by-docker-build');
    assert.equal(served.layers.length, 1);
    const layerTar = gunzipSync(served.layers[0]!);
    assert.ok(layerTar.includes('payload.txt') && layerTar.includes(payload), 'the layer holds the copied file');

    await dockerd!.docker(['rmi', ref]);
    await dockerd!.docker(['pull', ref]);
    const inspected = await dockerd!.docker(['image', 'inspect', '--format', '{{.Id}} {{index .Config.Labels "org.example.built"}} {{json .RepoDigests}}', ref]);
    const [id, label, repoDigests] = inspected.stdout.trim().split(' ', 3);
    assert.equal(id, built);
    assert.equal(label, 'by-docker-build');
    assert.deepEqual(JSON.parse(repoDigests!), [`${registry}/team/built@${pushed.digest}`]);
  });
});
