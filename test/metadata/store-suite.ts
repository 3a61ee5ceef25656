import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore, NewManifest, RobotTokenRecord, UserRecord } from '../../src/metadata/index.ts';
import { sha256 } from '../support/oci.ts';

export interface StoreHarness {
  store: MetadataStore;
  cleanup(): Promise<void>;
}

function manifest(name: string, references: NewManifest['references'], extra: Partial<NewManifest> = {}): NewManifest {
  const payload = Buffer.from(JSON.stringify({ name, references }));
  return {
    digest: sha256(payload),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: undefined,
    subjectDigest: undefined,
    annotations: undefined,
    payload,
    references,
    ...extra,
  };
}

/** The behaviour every metadata store must have, whatever database is behind it. */
export function runMetadataSuite(name: string, create: () => Promise<StoreHarness>): void {
  describe(`metadata store conformance: ${name}`, () => {
    let harness: StoreHarness;
    let store: MetadataStore;
    const blobA = { digest: sha256('a'), size: 1 };
    const blobB = { digest: sha256('bb'), size: 2 };
    before(async () => {
      harness = await create();
      store = harness.store;
    });
    after(async () => {
      await harness.cleanup();
    });

    it('links a blob to one repository only', async () => {
      await store.linkBlob('links/one', blobA);
      assert.deepEqual(await store.findLinkedBlob('links/one', blobA.digest), blobA);
      assert.equal(await store.findLinkedBlob('links/two', blobA.digest), undefined);
      assert.deepEqual(await store.findBlob(blobA.digest), blobA);
      assert.equal(await store.repositoryExists('links/one'), true);
      assert.equal(await store.repositoryExists('links/two'), false);
    });

    it('unlinks a blob from a repository and reports whether it was linked', async () => {
      await store.linkBlob('unlink/repo', blobB);
      assert.equal(await store.unlinkBlob('unlink/repo', blobB.digest), true);
      assert.equal(await store.unlinkBlob('unlink/repo', blobB.digest), false);
      assert.equal(await store.findLinkedBlob('unlink/repo', blobB.digest), undefined);
    });

    it('refuses a manifest whose blobs or children are missing, naming them', async () => {
      const child = sha256('child');
      const result = await store.putManifest(
        'refs/repo',
        manifest('m', [
          { kind: 'config', digest: blobA.digest },
          { kind: 'manifest', digest: child },
        ]),
        'latest',
        1,
      );
      assert.deepEqual(result, { ok: false, missingBlobs: [blobA.digest], missingManifests: [child] });
      assert.equal(await store.findManifestByTag('refs/repo', 'latest'), undefined);
    });

    it('stores a manifest with its tag and finds it by tag and by digest', async () => {
      await store.linkBlob('tags/repo', blobA);
      const m = manifest('one', [{ kind: 'layer', digest: blobA.digest }]);
      assert.deepEqual(await store.putManifest('tags/repo', m, 'v1', 10), { ok: true });
      const byTag = await store.findManifestByTag('tags/repo', 'v1');
      assert.equal(byTag?.digest, m.digest);
      assert.deepEqual(Buffer.from(byTag!.payload), m.payload);
      assert.equal((await store.findManifestByDigest('tags/repo', m.digest))?.mediaType, m.mediaType);
    });

    it('moves a tag to a new manifest and keeps the old one by digest', async () => {
      await store.linkBlob('retag/repo', blobA);
      const first = manifest('first', [{ kind: 'layer', digest: blobA.digest }]);
      const second = manifest('second', [{ kind: 'layer', digest: blobA.digest }]);
      await store.putManifest('retag/repo', first, 'latest', 1);
      await store.putManifest('retag/repo', second, 'latest', 2);
      assert.equal((await store.findManifestByTag('retag/repo', 'latest'))?.digest, second.digest);
      assert.equal((await store.findManifestByDigest('retag/repo', first.digest))?.digest, first.digest);
    });

    it('deletes a manifest together with every tag pointing at it', async () => {
      await store.linkBlob('delete/repo', blobA);
      const m = manifest('gone', [{ kind: 'layer', digest: blobA.digest }]);
      await store.putManifest('delete/repo', m, 'a', 1);
      await store.putManifest('delete/repo', m, 'b', 1);
      assert.equal(await store.deleteManifest('delete/repo', m.digest), true);
      assert.equal(await store.findManifestByTag('delete/repo', 'a'), undefined);
      assert.equal(await store.findManifestByTag('delete/repo', 'b'), undefined);
      assert.equal(await store.deleteManifest('delete/repo', m.digest), false);
    });

    it('deletes one tag and leaves the manifest and other tags', async () => {
      await store.linkBlob('untag/repo', blobA);
      const m = manifest('kept', [{ kind: 'layer', digest: blobA.digest }]);
      await store.putManifest('untag/repo', m, 'a', 1);
      await store.putManifest('untag/repo', m, 'b', 1);
      assert.equal(await store.deleteTag('untag/repo', 'a'), true);
      assert.equal(await store.deleteTag('untag/repo', 'a'), false);
      assert.equal((await store.findManifestByTag('untag/repo', 'b'))?.digest, m.digest);
    });

    it('lists tags in byte-wise lexical order, page by page', async () => {
      await store.linkBlob('order/repo', blobA);
      const m = manifest('ordered', [{ kind: 'layer', digest: blobA.digest }]);
      const tags = ['b', 'B', 'a', 'a-1', 'A_2', '10', '9', 'z.z'];
      for (const tag of tags) await store.putManifest('order/repo', m, tag, 1);
      const expected = [...tags].sort((x, y) => (Buffer.from(x) < Buffer.from(y) ? -1 : 1));
      assert.deepEqual(await store.listTags('order/repo', { limit: 100 }), expected);
      assert.deepEqual(await store.listTags('order/repo', { limit: 3, after: expected[2] }), expected.slice(3, 6));
      assert.equal(await store.listTags('order/none', { limit: 10 }), undefined);
    });

    it('lists repositories after a name, in order', async () => {
      for (const name of ['cat/c', 'cat/a', 'cat/b']) await store.linkBlob(name, blobA);
      const all = await store.listRepositories({ limit: 1000 });
      const cats = all.filter((n) => n.startsWith('cat/'));
      assert.deepEqual(cats, ['cat/a', 'cat/b', 'cat/c']);
      assert.deepEqual(await store.listRepositories({ after: 'cat/a', limit: 2 }), ['cat/b', 'cat/c']);
    });

    it('finds referrers of a subject, optionally by artifact type', async () => {
      await store.linkBlob('ref/repo', blobA);
      const subject = sha256('subject');
      const sig = manifest('sig', [{ kind: 'config', digest: blobA.digest }], { subjectDigest: subject, artifactType: 'application/vnd.example.sig', annotations: { a: 'b' } });
      const sbom = manifest('sbom', [{ kind: 'config', digest: blobA.digest }], { subjectDigest: subject, artifactType: 'application/vnd.example.sbom' });
      await store.putManifest('ref/repo', sig, undefined, 1);
      await store.putManifest('ref/repo', sbom, undefined, 1);
      const all = await store.listReferrers('ref/repo', subject);
      assert.equal(all.length, 2);
      const filtered = await store.listReferrers('ref/repo', subject, 'application/vnd.example.sig');
      assert.deepEqual(filtered.map((r) => [r.digest, r.annotations]), [[sig.digest, { a: 'b' }]]);
      assert.deepEqual(await store.listReferrers('other/repo', subject), []);
    });

    it('keeps upload sessions per repository and lists the stale ones', async () => {
      const id = '00000000-0000-4000-8000-000000000001';
      await store.createUpload('uploads/repo', id, 100);
      assert.equal((await store.findUpload('uploads/repo', id))?.createdAt, 100);
      assert.equal(await store.findUpload('uploads/other', id), undefined);
      await store.touchUpload(id, 200);
      assert.deepEqual((await store.listUploadsUpdatedBefore(150, 10)).map((u) => u.id), []);
      assert.deepEqual((await store.listUploadsUpdatedBefore(250, 10)).map((u) => u.id), [id]);
      await store.deleteUpload(id);
      assert.equal(await store.findUpload('uploads/repo', id), undefined);
    });

    it('completes an upload and links its blob in one step', async () => {
      const id = '00000000-0000-4000-8000-000000000002';
      await store.createUpload('complete/repo', id, 1);
      await store.linkBlob('complete/repo', blobB, id);
      assert.equal(await store.findUpload('complete/repo', id), undefined);
      assert.deepEqual(await store.findLinkedBlob('complete/repo', blobB.digest), blobB);
    });

    it('iterates blobs, manifests and tag targets for consistency checks', async () => {
      const blobs: string[] = [];
      for await (const blob of store.listBlobs()) blobs.push(blob.digest);
      assert.ok(blobs.includes(blobA.digest));
      let manifests = 0;
      for await (const m of store.listManifests()) {
        manifests++;
        assert.ok(m.references.length > 0);
      }
      assert.ok(manifests > 0);
      for await (const tag of store.listTagTargets()) assert.ok(tag.digest);
    });

    const robot = (id: string, name: string, extra: Partial<RobotTokenRecord> = {}): RobotTokenRecord => ({
      id,
      name,
      secretHash: sha256(`secret-${id}`).slice('sha256:'.length),
      scopes: ['repository:team/app:pull,push'],
      createdAt: 1000,
      expiresAt: 5000,
      lastUsedAt: null,
      revokedAt: null,
      ...extra,
    });

    it('stores a robot token and finds it by id with its hash and scopes', async () => {
      const token = robot('0000000000000001', 'store-ci', { scopes: ['repository:team/app:pull,push', 'repository:team/lib:pull'], expiresAt: null });
      assert.equal(await store.createRobotToken(token), true);
      assert.deepEqual(await store.findRobotToken(token.id), token);
      assert.equal(await store.findRobotToken('000000000000ffff'), undefined);
    });

    it('allows one unrevoked robot token per name, and the name again once it is revoked', async () => {
      assert.equal(await store.createRobotToken(robot('0000000000000002', 'store-dup')), true);
      assert.equal(await store.createRobotToken(robot('0000000000000003', 'store-dup')), false);
      assert.equal(await store.findRobotToken('0000000000000003'), undefined);
      assert.equal(await store.revokeRobotToken('0000000000000002', 7000), true);
      assert.equal(await store.revokeRobotToken('0000000000000002', 8000), false, 'revoking twice reports nothing to do');
      assert.equal((await store.findRobotToken('0000000000000002'))?.revokedAt, 7000);
      assert.equal(await store.createRobotToken(robot('0000000000000004', 'store-dup')), true);
      assert.equal(await store.revokeRobotToken('000000000000fffe', 9000), false);
    });

    it('records the last use of a robot token and lists tokens oldest first', async () => {
      await store.createRobotToken(robot('0000000000000006', 'store-later', { createdAt: 3000 }));
      await store.createRobotToken(robot('0000000000000005', 'store-earlier', { createdAt: 2000 }));
      await store.touchRobotToken('0000000000000005', 4242);
      assert.equal((await store.findRobotToken('0000000000000005'))?.lastUsedAt, 4242);
      const listed = (await store.listRobotTokens()).filter((t) => t.name === 'store-later' || t.name === 'store-earlier');
      assert.deepEqual(listed.map((t) => t.name), ['store-earlier', 'store-later']);
      assert.deepEqual(listed[0], robot('0000000000000005', 'store-earlier', { createdAt: 2000, lastUsedAt: 4242 }));
    });

    it('makes writes durable on request', async () => {
      await Promise.all(Array.from({ length: 20 }, () => store.sync()));
    });
    const user = (name: string, extra: Partial<UserRecord> = {}): UserRecord => ({
      name,
      passwordHash: `$2b$10$${'a'.repeat(53)}`,
      groups: [],
      createdAt: 1000,
      updatedAt: 1000,
      disabled: false,
      ...extra,
    });

    it('stores a user with its groups, refuses the name twice, and lists users by name', async () => {
      const dev = user('store-dev', { groups: ['devs', 'admins'] });
      assert.equal(await store.createUser(dev), true);
      assert.equal(await store.createUser(user('store-dev')), false);
      assert.deepEqual(await store.findUser('store-dev'), { ...dev, groups: ['admins', 'devs'] });
      assert.equal(await store.findUser('store-nobody'), undefined);
      assert.equal(await store.createUser(user('store-bare')), true);
      const listed = (await store.listUsers()).filter((u) => u.name.startsWith('store-'));
      assert.deepEqual(
        listed.map((u) => [u.name, u.groups]),
        [
          ['store-bare', []],
          ['store-dev', ['admins', 'devs']],
        ],
      );
    });

    it('changes a user\'s password hash and groups, and deletes the user with its groups', async () => {
      assert.equal(await store.createUser(user('store-change', { groups: ['a'] })), true);
      const newHash = `$2b$10$${'b'.repeat(53)}`;
      assert.equal(await store.setUserPassword('store-change', newHash, 2000), true);
      assert.equal(await store.setUserPassword('store-missing', newHash, 2000), false);
      assert.equal(await store.setUserGroups('store-change', ['b', 'c', 'b'], 3000), true);
      assert.equal(await store.setUserGroups('store-missing', ['b'], 3000), false);
      assert.deepEqual(await store.findUser('store-change'), user('store-change', { passwordHash: newHash, groups: ['b', 'c'], updatedAt: 3000 }));
      assert.equal(await store.deleteUser('store-change'), true);
      assert.equal(await store.findUser('store-change'), undefined);
      assert.equal(await store.deleteUser('store-change'), false);
      // The name is free again, and the old groups do not come back with it.
      assert.equal(await store.createUser(user('store-change')), true);
      assert.deepEqual((await store.findUser('store-change'))?.groups, []);
    });

    it('stores access rules with their lists as given, lists them by id, and deletes one by id', async () => {
      const before = (await store.listAccessRules()).length;
      const first = await store.createAccessRule({ repositories: ['team/*'], subjects: ['group:devs'], actions: ['pull', 'push'], createdAt: 1000 });
      const second = await store.createAccessRule({ repositories: ['**'], subjects: ['user:ci'], actions: ['pull'], from: ['10.0.0.0/8'], note: 'CI runners', createdAt: 2000 });
      assert.ok(second.id > first.id);
      assert.deepEqual(first, { id: first.id, repositories: ['team/*'], subjects: ['group:devs'], actions: ['pull', 'push'], createdAt: 1000 });
      const listed = await store.listAccessRules();
      assert.equal(listed.length, before + 2);
      assert.deepEqual(listed.slice(-2), [first, { id: second.id, repositories: ['**'], subjects: ['user:ci'], actions: ['pull'], from: ['10.0.0.0/8'], note: 'CI runners', createdAt: 2000 }]);
      assert.equal(await store.deleteAccessRule(first.id), true);
      assert.equal(await store.deleteAccessRule(first.id), false);
      assert.deepEqual((await store.listAccessRules()).map((rule) => rule.id).filter((id) => id === first.id || id === second.id), [second.id]);
      assert.equal(await store.deleteAccessRule(second.id), true);
    });
  });
}
