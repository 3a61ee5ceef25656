import { blobKey, blobsPrefix, digestFromBlobKey, digestOf, hashStream, parseDigest, parseManifest, tryParseDigest, uploadsPrefix, type Registry } from '../registry/index.ts';

export interface FsckReport {
  blobsChecked: number;
  manifestsChecked: number;
  tagsChecked: number;
  /** Inconsistencies: metadata without bytes, bytes that do not match their digest, dangling references. */
  problems: string[];
  /** Not inconsistencies, but worth knowing: bytes no metadata points at (garbage collection removes them). */
  notes: string[];
}

export interface FsckOptions {
  /** Re-hash every blob's bytes (reads the whole store); otherwise only sizes are compared. */
  verifyDigests: boolean;
}

/**
 * Checks that the metadata and the storage agree: every blob row has bytes of its size
 * (and, with verifyDigests, of its digest), every manifest parses, hashes to its digest
 * and references only what exists, every tag points at a manifest.
 */
export async function fsck(registry: Registry, options: FsckOptions): Promise<FsckReport> {
  const report: FsckReport = { blobsChecked: 0, manifestsChecked: 0, tagsChecked: 0, problems: [], notes: [] };
  const { storage, metadata } = registry;
  const knownBlobs = new Set<string>();

  for await (const blob of metadata.listBlobs()) {
    report.blobsChecked++;
    knownBlobs.add(blob.digest);
    const digest = tryParseDigest(blob.digest);
    if (!digest) {
      report.problems.push(`blob row ${blob.digest}: not a valid digest`);
      continue;
    }
    const stat = await storage.stat(blobKey(digest));
    if (!stat) {
      report.problems.push(`blob ${blob.digest}: recorded but its bytes are missing`);
      continue;
    }
    if (stat.size !== blob.size) {
      report.problems.push(`blob ${blob.digest}: recorded as ${blob.size} bytes, storage has ${stat.size}`);
      continue;
    }
    if (options.verifyDigests) {
      const { hex } = await hashStream(await storage.read(blobKey(digest)), digest.algorithm);
      if (hex !== digest.hex) report.problems.push(`blob ${blob.digest}: bytes hash to ${digest.algorithm}:${hex}`);
    }
  }

  for await (const manifest of metadata.listManifests()) {
    report.manifestsChecked++;
    const where = `manifest ${manifest.repository}@${manifest.digest}`;
    const digest = parseDigest(manifest.digest);
    if (digestOf(manifest.payload, digest.algorithm) !== manifest.digest) report.problems.push(`${where}: payload does not hash to its digest`);
    try {
      parseManifest(Buffer.from(manifest.payload), undefined);
    } catch (error) {
      report.problems.push(`${where}: stored payload no longer parses: ${(error as Error).message}`);
    }
    for (const reference of manifest.references) {
      if (reference.kind === 'manifest') {
        if (!(await metadata.findManifestByDigest(manifest.repository, reference.digest))) {
          report.notes.push(`${where}: child manifest ${reference.digest} has been deleted`);
        }
      } else if (!knownBlobs.has(reference.digest)) {
        report.problems.push(`${where}: ${reference.kind} ${reference.digest} has no blob`);
      }
    }
  }

  for await (const tag of metadata.listTagTargets()) {
    report.tagsChecked++;
    if (tag.digest === undefined) report.problems.push(`tag ${tag.repository}:${tag.tag}: points at a missing manifest`);
  }

  let orphans = 0;
  for await (const key of storage.list(blobsPrefix)) {
    const digest = digestFromBlobKey(key);
    if (digest && !knownBlobs.has(digest)) orphans++;
  }
  if (orphans > 0) report.notes.push(`${orphans} stored blob(s) have no metadata (left by interrupted uploads; garbage collection removes them)`);
  let uploads = 0;
  for await (const _key of storage.list(uploadsPrefix)) uploads++;
  if (uploads > 0) report.notes.push(`${uploads} upload session file(s) in progress or abandoned`);
  return report;
}
