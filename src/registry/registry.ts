import type { MetadataStore } from '../metadata/index.ts';
import type { StorageDriver } from '../storage/index.ts';
import { BlobService } from './blobs.ts';
import { RegistryError } from './errors.ts';
import { assertValidName, isValidName } from './grammar.ts';
import { ManifestService } from './manifests.ts';
import { UploadService } from './uploads.ts';

export interface RegistryOptions {
  storage: StorageDriver;
  metadata: MetadataStore;
  deleteEnabled: boolean;
  maxManifestBytes: number;
  /** Largest `n` a listing answers at once; bigger requests get this many and a `next` link. */
  maxPageSize: number;
  uploadExpiryMs: number;
  foreignLayerUrls: { allow: RegExp[]; deny: RegExp[] };
  manifestCacheBytes: number;
}

export interface ListPage {
  items: string[];
  /** The `last` value for the next page, when there is one. */
  next: string | undefined;
}

/**
 * The domain: every rule of the distribution spec lives here, once, free of HTTP.
 * Handlers call these services with validated inputs and map RegistryErrors to responses.
 */
export class Registry {
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly blobs: BlobService;
  readonly metadata: MetadataStore;
  readonly storage: StorageDriver;
  readonly #options: RegistryOptions;

  constructor(options: RegistryOptions) {
    this.#options = options;
    this.metadata = options.metadata;
    this.storage = options.storage;
    this.uploads = new UploadService({ storage: options.storage, metadata: options.metadata, expiryMs: options.uploadExpiryMs });
    this.manifests = new ManifestService({
      metadata: options.metadata,
      maxManifestBytes: options.maxManifestBytes,
      foreignLayerUrls: options.foreignLayerUrls,
      cacheBytes: options.manifestCacheBytes,
    });
    this.blobs = new BlobService({ storage: options.storage, metadata: options.metadata, manifests: this.manifests });
  }

  get deleteEnabled(): boolean {
    return this.#options.deleteEnabled;
  }

  assertDeleteEnabled(): void {
    if (!this.#options.deleteEnabled) {
      throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry (storage.delete.enabled: false)');
    }
  }

  /**
   * A page of repository names in lexical order. With `visible`, only names it accepts are
   * listed (access rules): rows are read in batches until the page is full, so pages stay
   * full and `last` keeps working.
   */
  async catalog(requested: number | undefined, last: string | undefined, visible?: (repository: string) => boolean): Promise<ListPage> {
    const limit = this.#pageSize(requested);
    if (last !== undefined && last !== '' && !isValidName(last)) {
      // An invalid `last` sorts somewhere; it is only a position, but keep it bounded.
      last = last.slice(0, 256);
    }
    if (!visible) return paginate(limit, (n) => this.metadata.listRepositories({ after: last || undefined, limit: n }));
    return paginate(limit, async (n) => {
      const found: string[] = [];
      let after = last || undefined;
      const batch = Math.max(n, 500);
      for (;;) {
        const rows = await this.metadata.listRepositories({ after, limit: batch });
        for (const name of rows) {
          if (visible(name)) found.push(name);
          if (found.length === n) return found;
        }
        if (rows.length < batch) return found;
        after = rows[rows.length - 1];
      }
    });
  }

  async tags(repository: string, requested: number | undefined, last: string | undefined): Promise<ListPage> {
    assertValidName(repository);
    const limit = this.#pageSize(requested);
    // n=0 reads no rows, but an unknown repository is still unknown.
    if (limit === 0 && !(await this.metadata.repositoryExists(repository))) {
      throw new RegistryError('NAME_UNKNOWN', `repository ${repository} is not known`, { detail: { name: repository } });
    }
    const page = await paginate(limit, async (n) => {
      const tags = await this.metadata.listTags(repository, { after: last ? last.slice(0, 256) : undefined, limit: n });
      if (tags === undefined) {
        throw new RegistryError('NAME_UNKNOWN', `repository ${repository} is not known`, { detail: { name: repository } });
      }
      return tags;
    });
    return page;
  }

  #pageSize(requested: number | undefined): number {
    if (requested === undefined) return this.#options.maxPageSize;
    if (!Number.isSafeInteger(requested) || requested < 0) {
      throw new RegistryError('PAGINATION_NUMBER_INVALID', `page size n must be a whole number from 0 to ${this.#options.maxPageSize}`);
    }
    return Math.min(requested, this.#options.maxPageSize);
  }

  async close(): Promise<void> {
    await this.metadata.close();
    await this.storage.close();
  }
}

/** Asks for one row more than the page to learn whether a next page exists. */
async function paginate(limit: number, query: (n: number) => Promise<string[]>): Promise<ListPage> {
  if (limit === 0) return { items: [], next: undefined };
  const rows = await query(limit + 1);
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? items[items.length - 1] : undefined };
}
