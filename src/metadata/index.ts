import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.ts';
import { SqlMetadataStore } from './sql-store.ts';
import { NodeSqliteDatabase, openSqlite, WalSyncer } from './sqlite.ts';

export type { MetadataStore, BlobRecord, ManifestRecord, NewManifest, UploadRecord, ReferrerRecord, Page, RobotTokenRecord, RefreshTokenRecord, UserRecord, NewAccessRule, AccessRuleRecord } from './store.ts';
export type { ReferenceKind } from './schema.ts';
export { SqlMetadataStore } from './sql-store.ts';

export interface SqliteStoreOptions {
  path: string;
  /** fsync the write-ahead log before a write is acknowledged. */
  fsync: boolean;
}

/** Opens (and migrates) the embedded SQLite metadata store. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqlMetadataStore> {
  const file = path.resolve(options.path);
  mkdirSync(path.dirname(file), { recursive: true });
  const database = new NodeSqliteDatabase(openSqlite(file));
  const syncer = new WalSyncer(file);
  const store = new SqlMetadataStore({
    db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }),
    dialect: 'sqlite',
    sync: options.fsync ? () => syncer.sync() : () => Promise.resolve(),
  });
  await store.migrate();
  return store;
}
