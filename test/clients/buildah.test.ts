import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DOCKER_MANIFEST, OCI_MANIFEST, containersClientEnv, fetchServedBlob, fetchServedManifest, killRunningCommands, recordRequests, run, type CommandResult, type Descriptor } from '../support/clients.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { isRoot, needsCommand, requirement } from '../support/services.ts';

// Real buildah with private storage (vfs) and configuration against an in-process Berth over
// plain HTTP. Nothing runs inside a container (FROM scratch, COPY, LABEL), so no runtime or
// namespaces are needed; builds use --isolation chroot.

interface ServedImage {
  mediaType: string;
  digest: string;
  config: Descriptor;
  layers: Descriptor[];
  labels: Record<string, string>;
  /** Decompressed layer archives, in order. */
  layerTars: Buffer[];
}

/** Reads an image manifest, its config and layers back from Berth, checking every digest. */
async function fetchServedImage(baseUrl: string, repository: string, reference: string): Promise<ServedImage> {
  const manifest = await fetchServedManifest(baseUrl, repository, reference);
  const { config, layers } = manifest.body as { config: Descriptor; layers: Descriptor[] };
  const configBody = JSON.parse((await fetchServedBlob(baseUrl, repository, config)).toString('utf8')) as { config?: { Labels?: Record<string, string> } };
  const layerTars: Buffer[] = [];
  for (const layer of layers) layerTars.push(gunzipSync(await fetchServedBlob(baseUrl, repository, layer)));
  return { mediaType: manifest.mediaType, digest: manifest.digest, config, layers, labels: configBody.config?.Labels ?? {}, layerTars };
}

describe('buildah against Berth', { skip: requirement(isRoot(), 'buildah with private storage needs root here') || needsCommand('buildah'), timeout: 240_000 }, () => {
  let server: TestServer | undefined;
  let dir = '';
  let registry = '';
  let env: NodeJS.ProcessEnv = {};
  let globalArgs: string[] = [];

  const buildah = (args: string[], timeoutMs = 90_000): Promise<CommandResult> => run('buildah', [...globalArgs, ...args], { env, timeoutMs });
  /** Removes every working container and image, so that the next pull really fetches from Berth. */
  const removeEverything = async () => {
    await buildah(['rm', '--all']);
    await buildah(['rmi', '--all', '--force']);
    assert.equal((await buildah(['images', '--quiet'])).stdout.trim(), '', 'local storage is empty before the pull');
  };

  /** buildah from scratch + copy + config --label + commit; returns the image id and the copied payload. */
  const commitScratchImage = async (name: string, label: string): Promise<{ id: string; payload: string }> => {
    const payload = `payload ${randomBytes(16).toString('hex')}\n`;
    const file = path.join(dir, `${name}.txt`);
    await writeFile(file, payload);
    const container = (await buildah(['from', '--name', `${name}-working`, 'scratch'])).stdout.trim();
    await buildah(['copy', container, file, `/${name}.txt`]);
    await buildah(['config', '--label', `org.example.buildah=${label}`, '--cmd', `/${name}.txt`, container]);
    const id = (await buildah(['commit', '--quiet', container, `localhost/team/${name}:src`])).stdout.trim();
    await buildah(['rm', container]);
    return { id, payload };
  };

  before(async () => {
    server = await startTestServer();
    registry = new URL(server.url).host;
    dir = await makeTempDir('berth-buildah-');
    env = { ...(await containersClientEnv(path.join(dir, 'config'))).env, TMPDIR: path.join(dir, 'tmp') };
    await mkdir(env.TMPDIR!, { recursive: true });
    globalArgs = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--storage-driver', 'vfs'];
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  test('buildah from scratch, copy, config and commit; push stores an OCI image that buildah pulls back with its label and digest', async () => {
    const label = randomBytes(8).toString('hex');
    const image = await commitScratchImage('scratch-image', label);
    const ref = `${registry}/team/buildah:v1`;
    const digestFile = path.join(dir, 'digest-scratch');
    await buildah(['push', '--tls-verify=false', '--digestfile', digestFile, 'localhost/team/scratch-image:src', ref]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();

    const served = await fetchServedImage(server!.url, 'team/buildah', 'v1');
    assert.equal(served.mediaType, OCI_MANIFEST, 'buildah pushes OCI manifests by default');
    assert.equal(served.digest, pushed);
    assert.equal(served.config.digest, `sha256:${image.id}`);
    assert.equal(served.labels['org.example.buildah'], label);
    assert.equal(served.layers.length, 1);
    assert.ok(served.layerTars[0]!.includes('scratch-image.txt') && served.layerTars[0]!.includes(image.payload), 'the layer holds the copied file');

    await removeEverything();
    await buildah(['pull', '--tls-verify=false', ref]);
    const inspected = JSON.parse((await buildah(['inspect', '--type', 'image', ref])).stdout) as {
      FromImageID: string;
      FromImageDigest: string;
      OCIv1: { config?: { Labels?: Record<string, string> } };
    };
    assert.equal(inspected.FromImageID, image.id, 'the pulled image is the pushed image');
    assert.equal(inspected.FromImageDigest, pushed);
    assert.equal(inspected.OCIv1.config?.Labels?.['org.example.buildah'], label);
  });

  test('buildah build FROM an image in Berth adds a layer and pushes a Docker schema 2 image without re-uploading the base layer', async () => {
    const baseLabel = randomBytes(8).toString('hex');
    await commitScratchImage('base-image', baseLabel);
    const base = `${registry}/team/buildah-base:v1`;
    await buildah(['push', '--tls-verify=false', 'localhost/team/base-image:src', base]);
    const baseServed = await fetchServedImage(server!.url, 'team/buildah-base', 'v1');
    await removeEverything();

    const context = path.join(dir, 'context');
    await mkdir(context, { recursive: true });
    const payload = `second ${randomBytes(16).toString('hex')}\n`;
    await writeFile(path.join(context, 'second.txt'), payload);
    await writeFile(path.join(context, 'Containerfile'), `FROM ${base}\nCOPY second.txt /second.txt\nLABEL org.example.stage=two\n`);
    await buildah(['build', '--isolation', 'chroot', '--tls-verify=false', '--format', 'docker', '--tag', 'localhost/team/built:src', context], 120_000);

    const ref = `${registry}/team/buildah-built:v1`;
    const digestFile = path.join(dir, 'digest-built');
    const recorder = recordRequests(server!);
    try {
      await buildah(['push', '--tls-verify=false', '--digestfile', digestFile, 'localhost/team/built:src', ref]);
    } finally {
      recorder.stop();
    }
    const pushed = (await readFile(digestFile, 'utf8')).trim();
    const served = await fetchServedImage(server!.url, 'team/buildah-built', 'v1');
    assert.equal(served.mediaType, DOCKER_MANIFEST, 'a --format docker build is pushed as Docker schema 2');
    assert.equal(served.digest, pushed);
    assert.equal(served.layers.length, 2);
    assert.equal(served.layers[0]!.digest, baseServed.layers[0]!.digest, 'the base layer is the one pulled from Berth');
    assert.ok(served.layerTars[1]!.includes(payload), 'the new layer holds the copied file');
    assert.equal(served.labels['org.example.stage'], 'two');
    assert.equal(served.labels['org.example.buildah'], baseLabel, 'labels of the base image are inherited');
    const uploaded = recorder.requests
      .filter((r) => r.method === 'PUT' && r.url.includes('/blobs/uploads/'))
      .map((r) => new URL(r.url, server!.url).searchParams.get('digest'));
    assert.ok(!uploaded.includes(baseServed.layers[0]!.digest), `the base layer is not uploaded again: ${JSON.stringify(recorder.requests)}`);
    assert.ok(uploaded.includes(served.layers[1]!.digest), 'the new layer is uploaded');

    await removeEverything();
    await buildah(['pull', '--tls-verify=false', ref]);
    const inspected = JSON.parse((await buildah(['inspect', '--type', 'image', ref])).stdout) as { FromImageDigest: string; Docker: { config?: { Labels?: Record<string, string> } } };
    assert.equal(inspected.FromImageDigest, pushed);
    assert.equal(inspected.Docker.config?.Labels?.['org.example.stage'], 'two');
  });
});
