import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, containersClientEnv, fetchServedBlob, fetchServedManifest, killRunningCommands, makeLayerTar, run, type CommandResult, type Descriptor } from '../support/clients.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { isRoot, needsCommand, requirement } from '../support/services.ts';

// Real podman with private storage (vfs) and configuration against an in-process Berth over
// plain HTTP (--tls-verify=false). No network: images come from `podman import` of a tar.

/** Checks that Berth serves every blob of an image manifest with the bytes of its digest. */
async function assertBlobsServed(baseUrl: string, repository: string, descriptors: Descriptor[]): Promise<void> {
  for (const descriptor of descriptors) await fetchServedBlob(baseUrl, repository, descriptor);
}

describe('podman against Berth', { skip: requirement(isRoot(), 'podman with private storage needs root here') || needsCommand('podman'), timeout: 240_000 }, () => {
  let server: TestServer | undefined;
  let dir = '';
  let registry = '';
  let env: NodeJS.ProcessEnv = {};
  let globalArgs: string[] = [];

  const podman = (args: string[], timeoutMs = 90_000): Promise<CommandResult> => run('podman', [...globalArgs, ...args], { env, timeoutMs });
  const inspect = async (ref: string, format: string): Promise<string> => (await podman(['image', 'inspect', '--format', format, ref])).stdout.trim();
  /** Removes every image, so that the next pull really fetches from Berth. */
  const removeAllImages = async () => {
    await podman(['rmi', '--all', '--force']);
    assert.equal((await podman(['images', '--quiet'])).stdout.trim(), '', 'local storage is empty before the pull');
  };

  /** Imports a tar of a few random files as `ref` with a label; returns the image id and the label value. */
  const importImage = async (ref: string): Promise<{ id: string; label: string }> => {
    const label = randomBytes(8).toString('hex');
    const tar = await makeLayerTar(dir, `rootfs-${label}`);
    await podman(['import', '--change', `LABEL org.example.podman=${label}`, tar, ref]);
    return { id: await inspect(ref, '{{.Id}}'), label };
  };

  before(async () => {
    server = await startTestServer();
    registry = new URL(server.url).host;
    dir = await makeTempDir('berth-podman-');
    env = { ...(await containersClientEnv(path.join(dir, 'config'))).env, TMPDIR: path.join(dir, 'tmp') };
    await mkdir(env.TMPDIR!, { recursive: true });
    globalArgs = [
      '--root', path.join(dir, 'root'),
      '--runroot', path.join(dir, 'runroot'),
      '--tmpdir', path.join(dir, 'libpod'),
      '--storage-driver', 'vfs',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
    ];
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  for (const [format, mediaType, kind] of [
    ['v2s2', DOCKER_MANIFEST, 'a Docker schema 2'],
    ['oci', OCI_MANIFEST, 'an OCI'],
  ] as const) {
    test(`podman push --format ${format} stores ${kind} manifest that podman pulls back with the same image id and digest`, async () => {
      const local = `localhost/team/podman-${format}:src`;
      const ref = `${registry}/team/podman:${format}`;
      const image = await importImage(local);
      const digestFile = path.join(dir, `digest-${format}`);
      await podman(['push', '--tls-verify=false', '--format', format, '--digestfile', digestFile, local, ref]);
      const pushed = (await readFile(digestFile, 'utf8')).trim();

      const served = await fetchServedManifest(server!.url, 'team/podman', format);
      assert.equal(served.mediaType, mediaType);
      assert.equal(served.digest, pushed, 'the tag names the manifest podman pushed');
      assert.equal(served.body.config?.digest, `sha256:${image.id}`, 'the config is the imported image config');
      assert.equal(served.body.layers?.length, 1);
      await assertBlobsServed(server!.url, 'team/podman', [served.body.config!, ...served.body.layers!]);

      await removeAllImages();
      await podman(['pull', '--tls-verify=false', ref]);
      assert.equal(await inspect(ref, '{{.Id}}'), image.id, 'the pulled image is the pushed image');
      assert.equal(await inspect(ref, '{{.Digest}}'), pushed);
      assert.equal(await inspect(ref, '{{.ManifestType}}'), mediaType);
      assert.equal(await inspect(ref, '{{index .Labels "org.example.podman"}}'), image.label);
    });
  }

  test('podman push --compression-format zstd stores an OCI image with a zstd layer that podman pulls back', async () => {
    const local = 'localhost/team/podman-zstd:src';
    const ref = `${registry}/team/podman-zstd:v1`;
    const image = await importImage(local);
    const digestFile = path.join(dir, 'digest-zstd');
    await podman(['push', '--tls-verify=false', '--format', 'oci', '--compression-format', 'zstd', '--digestfile', digestFile, local, ref]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();

    const served = await fetchServedManifest(server!.url, 'team/podman-zstd', 'v1');
    assert.equal(served.mediaType, OCI_MANIFEST);
    assert.equal(served.digest, pushed);
    assert.deepEqual(served.body.layers?.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+zstd']);
    await assertBlobsServed(server!.url, 'team/podman-zstd', [served.body.config!, ...served.body.layers!]);

    await removeAllImages();
    await podman(['pull', '--tls-verify=false', ref]);
    assert.equal(await inspect(ref, '{{.Id}}'), image.id);
    assert.equal(await inspect(ref, '{{.Digest}}'), pushed);
  });

  test('podman search finds a pushed repository through the catalog and lists its tags', async () => {
    const local = 'localhost/team/podman-search:src';
    await importImage(local);
    const repository = `team/searchable-${randomBytes(4).toString('hex')}`;
    for (const tag of ['v1', 'v2']) await podman(['push', '--tls-verify=false', local, `${registry}/${repository}:${tag}`]);

    const found = JSON.parse((await podman(['search', '--tls-verify=false', '--format', 'json', `${registry}/searchable`])).stdout) as Array<{ Name: string }>;
    assert.deepEqual(found.map((r) => r.Name), [`${registry}/${repository}`]);
    const tags = JSON.parse((await podman(['search', '--tls-verify=false', '--list-tags', '--format', 'json', `${registry}/${repository}`])).stdout) as Array<{ Name: string; Tags: string[] }>;
    assert.deepEqual(tags.map((t) => [t.Name, [...t.Tags].sort()]), [[`${registry}/${repository}`, ['v1', 'v2']]]);
  });

  test('podman manifest push --all stores an image index whose image podman pulls back through the index', async () => {
    const image = await importImage('localhost/team/podman-list:src');
    const list = 'localhost/team/podman-list:v1';
    const ref = `${registry}/team/podman-list:v1`;
    await podman(['manifest', 'create', list]);
    await podman(['manifest', 'add', list, 'containers-storage:localhost/team/podman-list:src']);
    const digestFile = path.join(dir, 'digest-list');
    await podman(['manifest', 'push', '--all', '--tls-verify=false', '--digestfile', digestFile, list, `docker://${ref}`]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();

    const index = await fetchServedManifest(server!.url, 'team/podman-list', 'v1');
    assert.ok(index.mediaType === OCI_INDEX || index.mediaType === DOCKER_MANIFEST_LIST, `an index, not ${index.mediaType}`);
    assert.equal(index.digest, pushed);
    assert.equal(index.body.manifests?.length, 1);
    const child = index.body.manifests![0]!;
    assert.deepEqual(child.platform, { architecture: await inspect('localhost/team/podman-list:src', '{{.Architecture}}'), os: 'linux' });
    const childManifest = await fetchServedManifest(server!.url, 'team/podman-list', child.digest);
    assert.equal(childManifest.mediaType, child.mediaType);
    assert.equal(childManifest.body.config?.digest, `sha256:${image.id}`);
    await assertBlobsServed(server!.url, 'team/podman-list', [childManifest.body.config!, ...childManifest.body.layers!]);

    await podman(['manifest', 'rm', list]);
    await removeAllImages();
    await podman(['pull', '--tls-verify=false', ref]);
    assert.equal(await inspect(ref, '{{.Id}}'), image.id, 'the index resolves to the pushed image for this platform');
    const repoDigests = JSON.parse(await inspect(ref, '{{json .RepoDigests}}')) as string[];
    assert.ok(repoDigests.includes(`${registry}/team/podman-list@${pushed}`), `the index digest: ${repoDigests.join(' ')}`);
    assert.ok(repoDigests.includes(`${registry}/team/podman-list@${child.digest}`), `the image digest: ${repoDigests.join(' ')}`);
  });
});
