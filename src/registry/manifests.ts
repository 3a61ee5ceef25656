import type { Readable } from 'node:stream';
import type { ManifestRecord, MetadataStore, NewManifest, ReferenceKind } from '../metadata/index.ts';
import { digestOf, looksLikeDigest, parseDigest } from './digest.ts';
import { RegistryError } from './errors.ts';
import { assertValidTag } from './grammar.ts';
import { parseManifest, type ParsedManifest } from './manifest.ts';
import { ManifestCache } from './manifest-cache.ts';
import { isForeignLayer, MediaType } from './media-types.ts';

export interface ManifestServiceOptions {
  metadata: MetadataStore;
  maxManifestBytes: number;
  /** Regular expressions a foreign layer URL must match (any) and must not match (all). */
  foreignLayerUrls: { allow: RegExp[]; deny: RegExp[] };
  cacheBytes: number;
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  size: number;
  payload: Uint8Array;
  subjectDigest: string | null;
}

export interface PutManifestOutcome {
  digest: string;
  subjectDigest: string | undefined;
}

export type Reference = { tag: string; digest?: undefined } | { digest: string; tag?: undefined };

/** Parses a manifest reference from a URL: a digest if it has a colon, else a tag. */
export function parseReference(reference: string): Reference {
  if (looksLikeDigest(reference)) return { digest: parseDigest(reference).value };
  assertValidTag(reference);
  return { tag: reference };
}

/** Manifests: validation on PUT, reads by tag or digest, deletes, referrers. */
export class ManifestService {
  readonly #metadata: MetadataStore;
  readonly #maxBytes: number;
  readonly #foreignLayerUrls: ManifestServiceOptions['foreignLayerUrls'];
  readonly #cache: ManifestCache;

  constructor(options: ManifestServiceOptions) {
    this.#metadata = options.metadata;
    this.#maxBytes = options.maxManifestBytes;
    this.#foreignLayerUrls = options.foreignLayerUrls;
    this.#cache = new ManifestCache(options.cacheBytes);
  }

  /** Reads a manifest body as received, refusing it as soon as it passes the size limit. */
  async readBody(body: Readable, declaredLength: number | undefined): Promise<Buffer> {
    // Past the limit the body is left unread, not destroyed: destroying the request would close
    // the connection before the 413 is sent. The HTTP layer closes the connection after answering.
    if (declaredLength !== undefined && declaredLength > this.#maxBytes) throw this.#tooLarge(declaredLength);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      size += (chunk as Buffer).length;
      if (size > this.#maxBytes) throw this.#tooLarge(size);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, size);
  }

  #tooLarge(size: number): RegistryError {
    return new RegistryError('MANIFEST_TOO_LARGE', `manifest of ${size}+ bytes exceeds the limit of ${this.#maxBytes} bytes`, {
      detail: { limit: this.#maxBytes },
    });
  }

  async put(repository: string, referenceText: string, body: Buffer, contentType: string | undefined): Promise<PutManifestOutcome> {
    const reference = parseReference(referenceText);
    if (body.length > this.#maxBytes) throw this.#tooLarge(body.length);
    const parsed = parseManifest(body, contentType);
    const digest = reference.digest
      ? digestOf(body, parseDigest(reference.digest).algorithm)
      : digestOf(body);
    if (reference.digest && digest !== reference.digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest body has digest ${digest}, not the ${reference.digest} in the URL`, {
        detail: { expected: reference.digest, actual: digest },
      });
    }
    this.#checkForeignLayers(parsed);
    const manifest: NewManifest = {
      digest,
      mediaType: parsed.mediaType,
      artifactType: parsed.artifactType,
      subjectDigest: parsed.subject?.digest,
      annotations: parsed.annotations,
      payload: body,
      references: referencesOf(parsed),
    };
    this.#cache.invalidateRepository(repository);
    const result = await this.#metadata.putManifest(repository, manifest, reference.tag, Date.now());
    this.#cache.invalidateRepository(repository);
    if (!result.ok) {
      if (result.missingBlobs.length > 0) {
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references blobs this repository does not have: ${listSome(result.missingBlobs)}`, {
          detail: { digests: result.missingBlobs.slice(0, 20) },
        });
      }
      throw new RegistryError('MANIFEST_REFERENCE_UNKNOWN', `index references manifests this repository does not have: ${listSome(result.missingManifests)}`, {
        detail: { digests: result.missingManifests.slice(0, 20) },
      });
    }
    return { digest, subjectDigest: parsed.subject?.digest };
  }

  async get(repository: string, referenceText: string): Promise<StoredManifest> {
    const reference = parseReference(referenceText);
    const key = reference.digest ?? reference.tag!;
    const cached = this.#cache.get(repository, key);
    if (cached) return cached;
    const generation = this.#cache.generation(repository);
    const record = reference.digest
      ? await this.#metadata.findManifestByDigest(repository, reference.digest)
      : await this.#metadata.findManifestByTag(repository, reference.tag!);
    if (!record) throw await this.#unknown(repository, referenceText);
    this.#cache.set(repository, key, record, generation);
    return record;
  }

  /** A manifest by digest for serving through the blob endpoint, as distribution allows. */
  async findByDigest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    return this.#metadata.findManifestByDigest(repository, digest);
  }

  /** DELETE by tag removes the tag only; DELETE by digest removes the manifest and its tags. */
  async delete(repository: string, referenceText: string): Promise<void> {
    const reference = parseReference(referenceText);
    this.#cache.invalidateRepository(repository);
    const deleted = reference.digest
      ? await this.#metadata.deleteManifest(repository, reference.digest)
      : await this.#metadata.deleteTag(repository, reference.tag!);
    this.#cache.invalidateRepository(repository);
    if (!deleted) throw await this.#unknown(repository, referenceText);
  }

  async referrers(repository: string, subjectDigest: string, artifactType: string | undefined): Promise<{ index: object; filtered: boolean }> {
    parseDigest(subjectDigest);
    // Spec v1.1: a registry with the referrers API MUST NOT answer 404 (clients would fall back
    // to the tag schema), so an unknown repository has an empty list like an unknown subject.
    const records = await this.#metadata.listReferrers(repository, subjectDigest, artifactType);
    return {
      filtered: artifactType !== undefined,
      index: {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: records.map((r) => ({
          mediaType: r.mediaType,
          digest: r.digest,
          size: r.size,
          ...(r.artifactType ? { artifactType: r.artifactType } : {}),
          ...(r.annotations ? { annotations: r.annotations } : {}),
        })),
      },
    };
  }

  async #unknown(repository: string, reference: string): Promise<RegistryError> {
    if (!(await this.#metadata.repositoryExists(repository))) {
      return new RegistryError('NAME_UNKNOWN', `repository ${repository} is not known`, { detail: { name: repository } });
    }
    return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not known in ${repository}`, {
      detail: { name: repository, reference },
    });
  }

  #checkForeignLayers(parsed: ParsedManifest): void {
    const descriptors = [...(parsed.config ? [parsed.config] : []), ...parsed.layers];
    for (const descriptor of descriptors) {
      if (!descriptor.urls) continue;
      if (!isForeignLayer(descriptor.mediaType) && descriptor.urls.length > 0) {
        // A distributable layer's bytes must be in the registry; its URLs would only be a way around that.
        throw new RegistryError('MANIFEST_INVALID', `layer ${descriptor.digest} is distributable but lists URLs`, {
          detail: { digest: descriptor.digest },
        });
      }
      for (const url of descriptor.urls) {
        const allowed =
          this.#foreignLayerUrls.allow.some((pattern) => pattern.test(url)) &&
          !this.#foreignLayerUrls.deny.some((pattern) => pattern.test(url));
        if (!allowed) {
          throw new RegistryError('MANIFEST_INVALID', `foreign layer URL ${url.slice(0, 200)} is not allowed by this registry's configuration`, {
            detail: { digest: descriptor.digest, url: url.slice(0, 200) },
          });
        }
      }
    }
  }
}

/** Every digest a manifest depends on. Foreign layers live elsewhere, so they are not required here. */
function referencesOf(parsed: ParsedManifest): Array<{ kind: ReferenceKind; digest: string }> {
  const references: Array<{ kind: ReferenceKind; digest: string }> = [];
  if (parsed.config) references.push({ kind: 'config', digest: parsed.config.digest });
  for (const layer of parsed.layers) {
    if (!isForeignLayer(layer.mediaType)) references.push({ kind: 'layer', digest: layer.digest });
  }
  for (const child of parsed.manifests) references.push({ kind: 'manifest', digest: child.digest });
  return references;
}

function listSome(digests: string[]): string {
  return digests.length > 3 ? `${digests.slice(0, 3).join(', ')} and ${digests.length - 3} more` : digests.join(', ');
}
