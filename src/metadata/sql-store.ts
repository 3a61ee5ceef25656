import { Kysely, Migrator, type Selectable, type Transaction } from 'kysely';
import type { Database, ReferenceKind } from './schema.ts';
import { InlineMigrationProvider, type SqlDialectName } from './migrations.ts';
import type {
  BlobRecord,
  ManifestRecord,
  ManifestSummary,
  MetadataStore,
  NewManifest,
  Page,
  PutManifestResult,
  ReferrerRecord,
  RefreshTokenRecord,
  RobotTokenRecord,
  UserRecord,
  UploadRecord,
  NewAccessRule,
  AccessRuleRecord,
} from './store.ts';

/** Keeps `IN (…)` lists under every dialect's bound-parameter limit. */
const inListChunk = 500;

export interface SqlStoreOptions {
  db: Kysely<Database>;
  dialect: SqlDialectName;
  /** Makes acknowledged writes durable; a no-op when durability is the database's own job or disabled. */
  sync: () => Promise<void>;
  onClose?: () => Promise<void> | void;
}

/** The metadata store over any Kysely dialect: the same queries run on SQLite and PostgreSQL. */
export class SqlMetadataStore implements MetadataStore {
  readonly dialect: SqlDialectName;
  readonly #db: Kysely<Database>;
  readonly #sync: () => Promise<void>;
  readonly #onClose: (() => Promise<void> | void) | undefined;

  constructor(options: SqlStoreOptions) {
    this.#db = options.db;
    this.dialect = options.dialect;
    this.#sync = options.sync;
    this.#onClose = options.onClose;
  }

  /** Brings the schema to the newest version; safe to call on every start. */
  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.#db, provider: new InlineMigrationProvider(this.dialect) });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(`database migration ${failed ?? ''} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async listRepositories(page: Page): Promise<string[]> {
    let query = this.#db.selectFrom('repositories').select('name').orderBy('name').limit(page.limit);
    if (page.after !== undefined) query = query.where('name', '>', page.after);
    return (await query.execute()).map((row) => row.name);
  }

  async repositoryExists(name: string): Promise<boolean> {
    return (await this.#repositoryId(this.#db, name)) !== undefined;
  }

  async findLinkedBlob(repository: string, digest: string): Promise<BlobRecord | undefined> {
    const row = await this.#db
      .selectFrom('repository_blobs as l')
      .innerJoin('repositories as r', 'r.id', 'l.repository_id')
      .innerJoin('blobs as b', 'b.digest', 'l.digest')
      .select(['b.digest', 'b.size'])
      .where('r.name', '=', repository)
      .where('l.digest', '=', digest)
      .executeTakeFirst();
    return row ? { digest: row.digest, size: Number(row.size) } : undefined;
  }

  async findBlob(digest: string): Promise<BlobRecord | undefined> {
    const row = await this.#db.selectFrom('blobs').select(['digest', 'size']).where('digest', '=', digest).executeTakeFirst();
    return row ? { digest: row.digest, size: Number(row.size) } : undefined;
  }

  async linkBlob(repository: string, blob: BlobRecord, completedUploadId?: string): Promise<void> {
    const now = Date.now();
    await this.#db.transaction().execute(async (trx) => {
      const repositoryId = await this.#ensureRepository(trx, repository, now);
      await trx
        .insertInto('blobs')
        .values({ digest: blob.digest, size: blob.size, created_at: now })
        .onConflict((oc) => oc.column('digest').doNothing())
        .execute();
      await trx
        .insertInto('repository_blobs')
        .values({ repository_id: repositoryId, digest: blob.digest, linked_at: now })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ linked_at: now }))
        .execute();
      if (completedUploadId !== undefined) await trx.deleteFrom('uploads').where('id', '=', completedUploadId).execute();
    });
    await this.#sync();
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    const repositoryId = await this.#repositoryId(this.#db, repository);
    if (repositoryId === undefined) return false;
    const result = await this.#db
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    await this.#sync();
    return Number(result.numDeletedRows) > 0;
  }

  async *listBlobs(): AsyncIterable<BlobRecord> {
    let after = '';
    for (;;) {
      const rows = await this.#db.selectFrom('blobs').select(['digest', 'size']).where('digest', '>', after).orderBy('digest').limit(1000).execute();
      for (const row of rows) yield { digest: row.digest, size: Number(row.size) };
      if (rows.length < 1000) return;
      after = rows[rows.length - 1]!.digest;
    }
  }

  async createUpload(repository: string, id: string, now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const repositoryId = await this.#ensureRepository(trx, repository, now);
      await trx.insertInto('uploads').values({ id, repository_id: repositoryId, created_at: now, updated_at: now }).execute();
    });
    await this.#sync();
  }

  async findUpload(repository: string, id: string): Promise<UploadRecord | undefined> {
    const row = await this.#db
      .selectFrom('uploads as u')
      .innerJoin('repositories as r', 'r.id', 'u.repository_id')
      .select(['u.id', 'r.name', 'u.created_at', 'u.updated_at'])
      .where('u.id', '=', id)
      .where('r.name', '=', repository)
      .executeTakeFirst();
    return row ? { id: row.id, repository: row.name, createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) } : undefined;
  }

  async touchUpload(id: string, now: number): Promise<void> {
    await this.#db.updateTable('uploads').set({ updated_at: now }).where('id', '=', id).execute();
  }

  async deleteUpload(id: string): Promise<void> {
    await this.#db.deleteFrom('uploads').where('id', '=', id).execute();
  }

  async listUploadsUpdatedBefore(time: number, limit: number): Promise<UploadRecord[]> {
    const rows = await this.#db
      .selectFrom('uploads as u')
      .innerJoin('repositories as r', 'r.id', 'u.repository_id')
      .select(['u.id', 'r.name', 'u.created_at', 'u.updated_at'])
      .where('u.updated_at', '<', time)
      .orderBy('u.updated_at')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ id: row.id, repository: row.name, createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) }));
  }

  async findManifestByDigest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const row = await this.#db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.digest', 'm.media_type', 'm.size', 'm.payload', 'm.subject_digest'])
      .where('r.name', '=', repository)
      .where('m.digest', '=', digest)
      .executeTakeFirst();
    return row ? toManifestRecord(row) : undefined;
  }

  async findManifestByTag(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const row = await this.#db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['m.digest', 'm.media_type', 'm.size', 'm.payload', 'm.subject_digest'])
      .where('r.name', '=', repository)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return row ? toManifestRecord(row) : undefined;
  }

  async putManifest(repository: string, manifest: NewManifest, tag: string | undefined, now: number): Promise<PutManifestResult> {
    const result = await this.#db.transaction().execute(async (trx): Promise<PutManifestResult> => {
      const repositoryId = await this.#ensureRepository(trx, repository, now);
      const blobDigests = unique(manifest.references.filter((r) => r.kind !== 'manifest').map((r) => r.digest));
      const childDigests = unique(manifest.references.filter((r) => r.kind === 'manifest').map((r) => r.digest));
      const presentBlobs = await selectPresent(blobDigests, (chunk) =>
        trx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', repositoryId).where('digest', 'in', chunk).execute(),
      );
      const presentChildren = await selectPresent(childDigests, (chunk) =>
        trx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).where('digest', 'in', chunk).execute(),
      );
      const missingBlobs = blobDigests.filter((d) => !presentBlobs.has(d));
      const missingManifests = childDigests.filter((d) => !presentChildren.has(d));
      if (missingBlobs.length > 0 || missingManifests.length > 0) return { ok: false, missingBlobs, missingManifests };

      let manifestId = (
        await trx
          .selectFrom('manifests')
          .select('id')
          .where('repository_id', '=', repositoryId)
          .where('digest', '=', manifest.digest)
          .executeTakeFirst()
      )?.id;
      if (manifestId === undefined) {
        const inserted = await trx
          .insertInto('manifests')
          .values({
            repository_id: repositoryId,
            digest: manifest.digest,
            media_type: manifest.mediaType,
            artifact_type: manifest.artifactType ?? null,
            subject_digest: manifest.subjectDigest ?? null,
            annotations: manifest.annotations ? JSON.stringify(manifest.annotations) : null,
            size: manifest.payload.length,
            payload: manifest.payload,
            created_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        manifestId = Number(inserted.id);
        const references = uniqueReferences(manifest.references);
        for (let i = 0; i < references.length; i += inListChunk) {
          await trx
            .insertInto('manifest_references')
            .values(references.slice(i, i + inListChunk).map((r) => ({ manifest_id: manifestId!, kind: r.kind, digest: r.digest })))
            .execute();
        }
      }
      if (tag !== undefined) {
        await trx
          .insertInto('tags')
          .values({ repository_id: repositoryId, name: tag, manifest_id: manifestId, updated_at: now })
          .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_id: manifestId!, updated_at: now }))
          .execute();
      }
      return { ok: true };
    });
    if (result.ok) await this.#sync();
    return result;
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const deleted = await this.#db.transaction().execute(async (trx) => {
      const repositoryId = await this.#repositoryId(trx, repository);
      if (repositoryId === undefined) return false;
      const row = await trx
        .selectFrom('manifests')
        .select('id')
        .where('repository_id', '=', repositoryId)
        .where('digest', '=', digest)
        .executeTakeFirst();
      if (!row) return false;
      await trx.deleteFrom('tags').where('manifest_id', '=', row.id).execute();
      await trx.deleteFrom('manifest_references').where('manifest_id', '=', row.id).execute();
      await trx.deleteFrom('manifests').where('id', '=', row.id).execute();
      return true;
    });
    if (deleted) await this.#sync();
    return deleted;
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const repositoryId = await this.#repositoryId(this.#db, repository);
    if (repositoryId === undefined) return false;
    const result = await this.#db.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
    const deleted = Number(result.numDeletedRows) > 0;
    if (deleted) await this.#sync();
    return deleted;
  }

  async listTags(repository: string, page: Page): Promise<string[] | undefined> {
    const repositoryId = await this.#repositoryId(this.#db, repository);
    if (repositoryId === undefined) return undefined;
    let query = this.#db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name').limit(page.limit);
    if (page.after !== undefined) query = query.where('name', '>', page.after);
    return (await query.execute()).map((row) => row.name);
  }

  async listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<ReferrerRecord[]> {
    let query = this.#db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.digest', 'm.media_type', 'm.size', 'm.artifact_type', 'm.annotations'])
      .where('r.name', '=', repository)
      .where('m.subject_digest', '=', subjectDigest)
      .orderBy('m.digest');
    if (artifactType !== undefined) query = query.where('m.artifact_type', '=', artifactType);
    const rows = await query.execute();
    return rows.map((row) => ({
      digest: row.digest,
      mediaType: row.media_type,
      size: Number(row.size),
      artifactType: row.artifact_type,
      annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : undefined,
    }));
  }

  async *listManifests(): AsyncIterable<ManifestSummary> {
    let after = 0;
    for (;;) {
      const rows = await this.#db
        .selectFrom('manifests as m')
        .innerJoin('repositories as r', 'r.id', 'm.repository_id')
        .select(['m.id', 'r.name', 'm.digest', 'm.payload'])
        .where('m.id', '>', after)
        .orderBy('m.id')
        .limit(200)
        .execute();
      for (const row of rows) {
        const references = await this.#db
          .selectFrom('manifest_references')
          .select(['kind', 'digest'])
          .where('manifest_id', '=', row.id)
          .execute();
        yield {
          repository: row.name,
          digest: row.digest,
          payload: row.payload,
          references: references.map((r) => ({ kind: r.kind as ReferenceKind, digest: r.digest })),
        };
      }
      if (rows.length < 200) return;
      after = Number(rows[rows.length - 1]!.id);
    }
  }

  async *listTagTargets(): AsyncIterable<{ repository: string; tag: string; digest: string | undefined }> {
    const rows = await this.#db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .leftJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['r.name as repository', 't.name as tag', 'm.digest'])
      .execute();
    for (const row of rows) yield { repository: row.repository, tag: row.tag, digest: row.digest ?? undefined };
  }

  async createRobotToken(token: RobotTokenRecord): Promise<boolean> {
    const created = await this.#db.transaction().execute(async (trx) => {
      const taken = await trx.selectFrom('robot_tokens').select('id').where('name', '=', token.name).where('revoked_at', 'is', null).executeTakeFirst();
      if (taken) return false;
      await trx
        .insertInto('robot_tokens')
        .values({
          id: token.id,
          name: token.name,
          secret_hash: token.secretHash,
          scopes: JSON.stringify(token.scopes),
          created_at: token.createdAt,
          expires_at: token.expiresAt,
          last_used_at: token.lastUsedAt,
          revoked_at: token.revokedAt,
        })
        .execute();
      return true;
    });
    if (created) await this.#sync();
    return created;
  }

  async findRobotToken(id: string): Promise<RobotTokenRecord | undefined> {
    const row = await this.#db.selectFrom('robot_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRobotTokenRecord(row) : undefined;
  }

  async listRobotTokens(): Promise<RobotTokenRecord[]> {
    const rows = await this.#db.selectFrom('robot_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toRobotTokenRecord);
  }

  async touchRobotToken(id: string, now: number): Promise<void> {
    await this.#db.updateTable('robot_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  async revokeRobotToken(id: string, now: number): Promise<boolean> {
    const result = await this.#db.updateTable('robot_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    const revoked = Number(result.numUpdatedRows) > 0;
    if (revoked) await this.#sync();
    return revoked;
  }

  async putRefreshToken(token: RefreshTokenRecord): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('refresh_tokens').where('expires_at', '<=', token.createdAt).execute();
      await trx
        .insertInto('refresh_tokens')
        .values({
          hash: token.hash,
          subject: token.subject,
          identity: token.identity,
          service: token.service,
          client_id: token.clientId,
          created_at: token.createdAt,
          expires_at: token.expiresAt,
        })
        .execute();
    });
    await this.#sync();
  }

  async findRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined> {
    const row = await this.#db.selectFrom('refresh_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
    if (!row) return undefined;
    return {
      hash: row.hash,
      subject: row.subject,
      identity: row.identity,
      service: row.service,
      clientId: row.client_id,
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
    };
  }

  async deleteRefreshToken(hash: string): Promise<void> {
    await this.#db.deleteFrom('refresh_tokens').where('hash', '=', hash).execute();
  }

  async createUser(user: UserRecord): Promise<boolean> {
    const created = await this.#db.transaction().execute(async (trx) => {
      const taken = await trx.selectFrom('users').select('name').where('name', '=', user.name).executeTakeFirst();
      if (taken) return false;
      await trx
        .insertInto('users')
        .values({ name: user.name, password_hash: user.passwordHash, created_at: user.createdAt, updated_at: user.updatedAt, disabled: user.disabled ? 1 : 0 })
        .execute();
      const groups = unique(user.groups);
      if (groups.length > 0) await trx.insertInto('user_groups').values(groups.map((group) => ({ user_name: user.name, group_name: group }))).execute();
      return true;
    });
    if (created) await this.#sync();
    return created;
  }

  async findUser(name: string): Promise<UserRecord | undefined> {
    const rows = await this.#db
      .selectFrom('users as u')
      .leftJoin('user_groups as g', 'g.user_name', 'u.name')
      .select(['u.name', 'u.password_hash', 'u.created_at', 'u.updated_at', 'u.disabled', 'g.group_name'])
      .where('u.name', '=', name)
      .execute();
    return toUserRecords(rows)[0];
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.#db
      .selectFrom('users as u')
      .leftJoin('user_groups as g', 'g.user_name', 'u.name')
      .select(['u.name', 'u.password_hash', 'u.created_at', 'u.updated_at', 'u.disabled', 'g.group_name'])
      .orderBy('u.name')
      .execute();
    return toUserRecords(rows);
  }

  async setUserPassword(name: string, passwordHash: string, now: number): Promise<boolean> {
    const result = await this.#db.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('name', '=', name).executeTakeFirst();
    const changed = Number(result.numUpdatedRows) > 0;
    if (changed) await this.#sync();
    return changed;
  }

  async setUserGroups(name: string, groups: readonly string[], now: number): Promise<boolean> {
    const changed = await this.#db.transaction().execute(async (trx) => {
      const result = await trx.updateTable('users').set({ updated_at: now }).where('name', '=', name).executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await trx.deleteFrom('user_groups').where('user_name', '=', name).execute();
      const wanted = unique([...groups]);
      if (wanted.length > 0) await trx.insertInto('user_groups').values(wanted.map((group) => ({ user_name: name, group_name: group }))).execute();
      return true;
    });
    if (changed) await this.#sync();
    return changed;
  }

  async deleteUser(name: string): Promise<boolean> {
    const deleted = await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('user_groups').where('user_name', '=', name).execute();
      const result = await trx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
    if (deleted) await this.#sync();
    return deleted;
  }

  async createAccessRule(rule: NewAccessRule): Promise<AccessRuleRecord> {
    const row = await this.#db
      .insertInto('access_rules')
      .values({
        repositories: JSON.stringify(rule.repositories),
        subjects: JSON.stringify(rule.subjects),
        actions: JSON.stringify(rule.actions),
        from_networks: rule.from === undefined ? null : JSON.stringify(rule.from),
        note: rule.note ?? null,
        created_at: rule.createdAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await this.#sync();
    return toAccessRuleRecord({ id: Number(row.id), repositories: JSON.stringify(rule.repositories), subjects: JSON.stringify(rule.subjects), actions: JSON.stringify(rule.actions), from_networks: rule.from === undefined ? null : JSON.stringify(rule.from), note: rule.note ?? null, created_at: rule.createdAt });
  }

  async listAccessRules(): Promise<AccessRuleRecord[]> {
    const rows = await this.#db.selectFrom('access_rules').selectAll().orderBy('id').execute();
    return rows.map(toAccessRuleRecord);
  }

  async deleteAccessRule(id: number): Promise<boolean> {
    const result = await this.#db.deleteFrom('access_rules').where('id', '=', id).executeTakeFirst();
    const deleted = Number(result.numDeletedRows) > 0;
    if (deleted) await this.#sync();
    return deleted;
  }

  sync(): Promise<void> {
    return this.#sync();
  }

  async close(): Promise<void> {
    await this.#db.destroy();
    await this.#onClose?.();
  }

  async #repositoryId(db: Kysely<Database> | Transaction<Database>, name: string): Promise<number | undefined> {
    const row = await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
    return row ? Number(row.id) : undefined;
  }

  async #ensureRepository(trx: Transaction<Database>, name: string, now: number): Promise<number> {
    const existing = await this.#repositoryId(trx, name);
    if (existing !== undefined) return existing;
    await trx.insertInto('repositories').values({ name, created_at: now }).onConflict((oc) => oc.column('name').doNothing()).execute();
    const id = await this.#repositoryId(trx, name);
    if (id === undefined) throw new Error(`repository ${name} could not be created`);
    return id;
  }
}

function toManifestRecord(row: { digest: string; media_type: string; size: number; payload: Uint8Array; subject_digest: string | null }): ManifestRecord {
  return {
    digest: row.digest,
    mediaType: row.media_type,
    size: Number(row.size),
    payload: row.payload,
    subjectDigest: row.subject_digest,
  };
}

function toRobotTokenRecord(row: Database['robot_tokens']): RobotTokenRecord {
  const time = (value: number | null) => (value === null ? null : Number(value));
  return {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    scopes: JSON.parse(row.scopes) as string[],
    createdAt: Number(row.created_at),
    expiresAt: time(row.expires_at),
    lastUsedAt: time(row.last_used_at),
    revokedAt: time(row.revoked_at),
  };
}

interface UserRow {
  name: string;
  password_hash: string;
  created_at: number;
  updated_at: number;
  disabled: number;
  group_name: string | null;
}

/** Folds user rows joined with their groups (one row per group) into records, in row order. */
function toUserRecords(rows: UserRow[]): UserRecord[] {
  const users = new Map<string, UserRecord>();
  for (const row of rows) {
    let user = users.get(row.name);
    if (!user) {
      user = { name: row.name, passwordHash: row.password_hash, groups: [], createdAt: Number(row.created_at), updatedAt: Number(row.updated_at), disabled: Number(row.disabled) !== 0 };
      users.set(row.name, user);
    }
    if (row.group_name !== null) user.groups.push(row.group_name);
  }
  for (const user of users.values()) user.groups.sort();
  return [...users.values()];
}

type AccessRuleRow = Selectable<Database['access_rules']>;

/** A row as stored; a column that is not JSON comes back as its text, for the policy to refuse. */
function toAccessRuleRecord(row: AccessRuleRow): AccessRuleRecord {
  const record: AccessRuleRecord = { id: Number(row.id), repositories: parseJson(row.repositories), subjects: parseJson(row.subjects), actions: parseJson(row.actions), createdAt: Number(row.created_at) };
  if (row.from_networks !== null) record.from = parseJson(row.from_networks);
  if (row.note !== null) record.note = row.note;
  return record;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function uniqueReferences(references: NewManifest['references']): NewManifest['references'] {
  const seen = new Set<string>();
  return references.filter((r) => {
    const key = `${r.kind}\0${r.digest}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function selectPresent(digests: string[], query: (chunk: string[]) => Promise<Array<{ digest: string }>>): Promise<Set<string>> {
  const present = new Set<string>();
  for (let i = 0; i < digests.length; i += inListChunk) {
    for (const row of await query(digests.slice(i, i + inListChunk))) present.add(row.digest);
  }
  return present;
}
