import { Readable } from 'node:stream';
import type { MetadataStore } from '../metadata/index.ts';
import type { ByteRange, StorageDriver } from '../storage/index.ts';
import { StorageNotFoundError } from '../storage/index.ts';
import { parseDigest } from './digest.ts';
import { RegistryError } from './errors.ts';
import type { ManifestService } from './manifests.ts';
import { blobKey } from './storage-keys.ts';

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface BlobServiceOptions {
  storage: StorageDriver;
  metadata: MetadataStore;
  manifests: ManifestService;
}

/** Blob reads, existence, repository-scoped deletes and cross-repository mounts. */
export class BlobService {
  readonly #storage: StorageDriver;
  readonly #metadata: MetadataStore;
  readonly #manifests: ManifestService;

  constructor(options: BlobServiceOptions) {
    this.#storage = options.storage;
    this.#metadata = options.metadata;
    this.#manifests = options.manifests;
  }

  /** A blob as seen through one repository: linked there, or a manifest of that repository. */
  async stat(repository: string, digestValue: string): Promise<BlobInfo> {
    const digest = parseDigest(digestValue).value;
    const linked = await this.#metadata.findLinkedBlob(repository, digest);
    if (linked) return linked;
    const manifest = await this.#manifests.findByDigest(repository, digest);
    if (manifest) return { digest, size: manifest.size };
    throw unknownBlob(repository, digest);
  }

  async open(repository: string, digestValue: string, range?: ByteRange): Promise<{ info: BlobInfo; body: Readable }> {
    const digest = parseDigest(digestValue);
    const linked = await this.#metadata.findLinkedBlob(repository, digest.value);
    if (linked) {
      try {
        return { info: linked, body: await this.#storage.read(blobKey(digest), range) };
      } catch (error) {
        if (error instanceof StorageNotFoundError) {
          throw new RegistryError('BLOB_UNKNOWN', `blob ${digest.value} is recorded but its bytes are missing from storage; run \`berth fsck\``, {
            detail: { digest: digest.value },
            cause: error,
          });
        }
        throw error;
      }
    }
    const manifest = await this.#manifests.findByDigest(repository, digest.value);
    if (manifest) {
      const bytes = Buffer.from(manifest.payload);
      return { info: { digest: digest.value, size: bytes.length }, body: Readable.from([range ? bytes.subarray(range.start, range.end + 1) : bytes]) };
    }
    throw unknownBlob(repository, digest.value);
  }

  /** Removes the blob from the repository; the bytes stay until garbage collection finds them unused. */
  async delete(repository: string, digestValue: string): Promise<void> {
    const digest = parseDigest(digestValue).value;
    if (!(await this.#metadata.unlinkBlob(repository, digest))) throw unknownBlob(repository, digest);
  }

  /** Links a blob of `from` into `repository` without copying bytes; false when `from` lacks it. */
  async mount(repository: string, digestValue: string, from: string): Promise<BlobInfo | undefined> {
    const digest = parseDigest(digestValue);
    const source = await this.#metadata.findLinkedBlob(from, digest.value);
    if (!source) return undefined;
    // Storage before metadata: never link bytes that have gone missing.
    if (!(await this.#storage.stat(blobKey(digest)))) return undefined;
    await this.#metadata.linkBlob(repository, source);
    return source;
  }
}

function unknownBlob(repository: string, digest: string): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not known in ${repository}`, { detail: { digest } });
}
