import path from 'node:path';
import type { BerthConfig } from '../config/index.ts';
import { openSqliteStore, type SqlMetadataStore } from '../metadata/index.ts';
import { Registry } from '../registry/index.ts';
import { FilesystemDriver } from '../storage/index.ts';

/** Builds the domain from configuration: storage driver, metadata store, registry. */
export async function openRegistry(config: BerthConfig): Promise<Registry> {
  const root = config.storage.filesystem.rootdirectory;
  const storage = new FilesystemDriver({ root, fsync: config.storage.fsync });
  const metadata = await openMetadataStore(config);
  return new Registry({
    storage,
    metadata,
    deleteEnabled: config.storage.delete.enabled,
    maxManifestBytes: config.limits.manifestbytes,
    maxPageSize: config.limits.pagesize,
    uploadExpiryMs: config.storage.maintenance.uploadpurging.age,
    foreignLayerUrls: {
      allow: config.validation.manifests.urls.allow.map((p) => new RegExp(p)),
      deny: config.validation.manifests.urls.deny.map((p) => new RegExp(p)),
    },
    manifestCacheBytes: config.cache.manifestbytes,
  });
}

/** The metadata store alone, as configured (for commands that need no blob storage). */
export function openMetadataStore(config: BerthConfig): Promise<SqlMetadataStore> {
  return openSqliteStore({
    path: config.database.sqlite.path ?? path.join(config.storage.filesystem.rootdirectory, 'berth.db'),
    fsync: config.storage.fsync,
  });
}
