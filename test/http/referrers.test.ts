import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, makeArtifact, makeBlob, makeImage, makeIndex, pushBlob, pushImage, putManifest, type Image } from '../support/oci.ts';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SBOM = 'application/vnd.example.sbom.v1';
const SIGNATURE = 'application/vnd.example.signature.v1';

let server: TestServer;
before(async () => {
  server = await startTestServer({ config: { storage: { delete: { enabled: true } } } });
});
after(async () => {
  await server?.close();
});

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Array<{ mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }>;
}

async function referrers(repository: string, digest: string, artifactType?: string): Promise<{ response: Response; index: ReferrersIndex }> {
  const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
  const response = await fetch(`${server.url}/v2/${repository}/referrers/${digest}${query}`);
  assert.equal(response.status, 200, `referrers answered ${response.status}`);
  assert.equal(response.headers.get('content-type'), OCI_INDEX);
  const index = (await response.json()) as ReferrersIndex;
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.mediaType, OCI_INDEX);
  assert.ok(Array.isArray(index.manifests));
  return { response, index };
}

function subjectOf(image: { mediaType: string; digest: string; manifest: Buffer }) {
  return { mediaType: image.mediaType, digest: image.digest, size: image.manifest.length };
}

async function pushByDigest(repository: string, image: Image): Promise<void> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(server.url, repository, blob);
  const response = await putManifest(server.url, repository, image.digest, image.manifest, image.mediaType);
  assert.equal(response.status, 201, await response.clone().text());
  await response.arrayBuffer();
}

test('referrers lists every manifest whose subject is the digest, with mediaType, digest, size, artifactType and annotations', async () => {
  const repository = 'referrers/list';
  const subject = makeImage({ layerCount: 1 });
  await pushImage(server.url, repository, 'v1', subject);
  const sbom = makeArtifact({ artifactType: SBOM, subject: subjectOf(subject), annotations: { 'org.example.format': 'spdx' } });
  const signature = makeArtifact({ artifactType: SIGNATURE, subject: subjectOf(subject), annotations: { 'org.example.key': 'abc' } });
  // An image manifest without artifactType: the config media type stands in for it.
  const configTyped = makeArtifact({ subject: subjectOf(subject), configMediaType: 'application/vnd.example.config.v1+json' });
  for (const artifact of [sbom, signature, configTyped]) await pushByDigest(repository, artifact);
  // An index with a subject and no artifactType: artifactType is omitted.
  const child = makeImage({ layerCount: 1 });
  await pushByDigest(repository, child);
  const index = makeIndex([child], { extra: { subject: subjectOf(subject), annotations: { 'org.example.kind': 'index' } } });
  const put = await putManifest(server.url, repository, index.digest, index.manifest, index.mediaType);
  assert.equal(put.status, 201, await put.clone().text());
  await put.arrayBuffer();
  // Not a referrer: no subject.
  await pushImage(server.url, repository, 'unrelated', makeImage({ layerCount: 1 }));

  const { response, index: list } = await referrers(repository, subject.digest);
  assert.equal(response.headers.get('oci-filters-applied'), null);
  const byDigest = new Map(list.manifests.map((d) => [d.digest, d]));
  assert.equal(list.manifests.length, 4);
  assert.deepEqual(byDigest.get(sbom.digest), {
    mediaType: sbom.mediaType,
    digest: sbom.digest,
    size: sbom.manifest.length,
    artifactType: SBOM,
    annotations: { 'org.example.format': 'spdx' },
  });
  assert.deepEqual(byDigest.get(signature.digest), {
    mediaType: signature.mediaType,
    digest: signature.digest,
    size: signature.manifest.length,
    artifactType: SIGNATURE,
    annotations: { 'org.example.key': 'abc' },
  });
  assert.deepEqual(byDigest.get(configTyped.digest), {
    mediaType: configTyped.mediaType,
    digest: configTyped.digest,
    size: configTyped.manifest.length,
    artifactType: 'application/vnd.example.config.v1+json',
  });
  assert.deepEqual(byDigest.get(index.digest), {
    mediaType: OCI_INDEX,
    digest: index.digest,
    size: index.manifest.length,
    annotations: { 'org.example.kind': 'index' },
  });
});

test('an artifactType filter returns only matching referrers and answers OCI-Filters-Applied: artifactType', async () => {
  const repository = 'referrers/filter';
  const subject = makeImage({ layerCount: 1 });
  await pushImage(server.url, repository, 'v1', subject);
  const sboms = [makeArtifact({ artifactType: SBOM, subject: subjectOf(subject) }), makeArtifact({ artifactType: SBOM, subject: subjectOf(subject) })];
  const signature = makeArtifact({ artifactType: SIGNATURE, subject: subjectOf(subject) });
  for (const artifact of [...sboms, signature]) await pushByDigest(repository, artifact);

  const { response, index } = await referrers(repository, subject.digest, SBOM);
  assert.equal(response.headers.get('oci-filters-applied'), 'artifactType');
  assert.deepEqual(index.manifests.map((d) => d.digest).sort(), sboms.map((s) => s.digest).sort());
  assert.ok(index.manifests.every((d) => d.artifactType === SBOM));

  const none = await referrers(repository, subject.digest, 'application/vnd.example.nothing');
  assert.equal(none.response.headers.get('oci-filters-applied'), 'artifactType');
  assert.deepEqual(none.index.manifests, []);
});

test('a referrer pushed before its subject exists is listed, before and after the subject arrives', async () => {
  const repository = 'referrers/early';
  const subject = makeImage({ layerCount: 1 });
  const artifact = makeArtifact({ artifactType: SIGNATURE, subject: subjectOf(subject) });
  await pushByDigest(repository, artifact);
  assert.deepEqual((await referrers(repository, subject.digest)).index.manifests.map((d) => d.digest), [artifact.digest]);
  await pushImage(server.url, repository, 'v1', subject);
  assert.deepEqual((await referrers(repository, subject.digest)).index.manifests.map((d) => d.digest), [artifact.digest]);
});

test('an unknown subject, or an unknown repository, gives an empty index with 200, never 404', async () => {
  const repository = 'referrers/empty';
  await pushImage(server.url, repository, 'v1', makeImage({ layerCount: 1 }));
  assert.deepEqual((await referrers(repository, makeBlob().digest)).index.manifests, []);
  assert.deepEqual((await referrers('referrers/no-such-repository', makeBlob().digest)).index.manifests, []);
  // Asking did not create the repository.
  const catalog = (await (await fetch(`${server.url}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.ok(!catalog.repositories.includes('referrers/no-such-repository'));
});

test('referrers are scoped to the repository', async () => {
  const subject = makeImage({ layerCount: 1 });
  await pushImage(server.url, 'referrers/scope-a', 'v1', subject);
  await pushImage(server.url, 'referrers/scope-b', 'v1', subject);
  const artifact = makeArtifact({ artifactType: SBOM, subject: subjectOf(subject) });
  await pushByDigest('referrers/scope-a', artifact);
  assert.equal((await referrers('referrers/scope-a', subject.digest)).index.manifests.length, 1);
  assert.deepEqual((await referrers('referrers/scope-b', subject.digest)).index.manifests, []);
});

test('a deleted referrer is no longer listed', async () => {
  const repository = 'referrers/deleted';
  const subject = makeImage({ layerCount: 1 });
  await pushImage(server.url, repository, 'v1', subject);
  const kept = makeArtifact({ artifactType: SBOM, subject: subjectOf(subject) });
  const removed = makeArtifact({ artifactType: SBOM, subject: subjectOf(subject) });
  for (const artifact of [kept, removed]) await pushByDigest(repository, artifact);
  const response = await fetch(`${server.url}/v2/${repository}/manifests/${removed.digest}`, { method: 'DELETE' });
  assert.equal(response.status, 202);
  await response.arrayBuffer();
  assert.deepEqual((await referrers(repository, subject.digest)).index.manifests.map((d) => d.digest), [kept.digest]);
});

test('an invalid subject digest answers 400 DIGEST_INVALID', async () => {
  const repository = 'referrers/invalid';
  await pushImage(server.url, repository, 'v1', makeImage({ layerCount: 1 }));
  for (const digest of ['latest', 'sha256:abc', `sha256:${'Z'.repeat(64)}`, `md5:${'a'.repeat(32)}`]) {
    await assertError(await fetch(`${server.url}/v2/${repository}/referrers/${digest}`), 400, 'DIGEST_INVALID');
  }
  await assertError(await fetch(`${server.url}/v2/Bad_Name/referrers/${makeBlob().digest}`), 400, 'NAME_INVALID');
});
