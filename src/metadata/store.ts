import type { ReferenceKind } from './schema.ts';

/**
 * The metadata seam: everything the registry knows besides blob bytes. One SQL
 * implementation serves SQLite and PostgreSQL; another store would implement this.
 * All names, digests and tags reaching a store were validated by the registry.
 */
export interface MetadataStore {
  readonly dialect: string;

  listRepositories(page: Page): Promise<string[]>;
  repositoryExists(name: string): Promise<boolean>;

  /** Size of a blob linked to the repository (pushed, mounted), or undefined. */
  findLinkedBlob(repository: string, digest: string): Promise<BlobRecord | undefined>;
  /** A blob known anywhere in the registry, or undefined. */
  findBlob(digest: string): Promise<BlobRecord | undefined>;
  /** Records a committed blob and links it to the repository, in one transaction. */
  linkBlob(repository: string, blob: BlobRecord, completedUploadId?: string): Promise<void>;
  unlinkBlob(repository: string, digest: string): Promise<boolean>;
  listBlobs(): AsyncIterable<BlobRecord>;

  createUpload(repository: string, id: string, now: number): Promise<void>;
  findUpload(repository: string, id: string): Promise<UploadRecord | undefined>;
  touchUpload(id: string, now: number): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  listUploadsUpdatedBefore(time: number, limit: number): Promise<UploadRecord[]>;

  findManifestByDigest(repository: string, digest: string): Promise<ManifestRecord | undefined>;
  findManifestByTag(repository: string, tag: string): Promise<ManifestRecord | undefined>;
  /**
   * Stores a manifest and optionally points a tag at it, in one transaction, after
   * checking inside that transaction that everything it references is present.
   */
  putManifest(repository: string, manifest: NewManifest, tag: string | undefined, now: number): Promise<PutManifestResult>;
  /** Deletes a manifest and every tag pointing at it. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** Tags in lexical order after `page.after`; undefined when the repository does not exist. */
  listTags(repository: string, page: Page): Promise<string[] | undefined>;
  listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<ReferrerRecord[]>;
  listManifests(): AsyncIterable<ManifestSummary>;
  listTagTargets(): AsyncIterable<{ repository: string; tag: string; digest: string | undefined }>;

  /**
   * Stores a new robot token (its hash, never the secret). False when a token that is not
   * revoked already has the name.
   */
  createRobotToken(token: RobotTokenRecord): Promise<boolean>;
  /** One token by its id (the public part of the token text), revoked and expired ones included. */
  findRobotToken(id: string): Promise<RobotTokenRecord | undefined>;
  /** Every token, revoked and expired ones included, oldest first. */
  listRobotTokens(): Promise<RobotTokenRecord[]>;
  /** Records a use of the token. */
  touchRobotToken(id: string, now: number): Promise<void>;
  /** Marks the token revoked; false when it does not exist or was revoked already. */
  revokeRobotToken(id: string, now: number): Promise<boolean>;

  /** Stores a refresh token of the token service (its hash only) and drops expired ones. */
  putRefreshToken(token: RefreshTokenRecord): Promise<void>;
  /** One refresh token by the hash of its secret, expired ones included. */
  findRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined>;
  deleteRefreshToken(hash: string): Promise<void>;

  /** Stores a new user with its bcrypt hash and groups; false when the name is taken. */
  createUser(user: UserRecord): Promise<boolean>;
  /** One user with its groups (one indexed query), or undefined. */
  findUser(name: string): Promise<UserRecord | undefined>;
  /** Every user with its groups, by name. */
  listUsers(): Promise<UserRecord[]>;
  /** Replaces the user's bcrypt hash; false when there is no such user. */
  setUserPassword(name: string, passwordHash: string, now: number): Promise<boolean>;
  /** Replaces the user's groups; false when there is no such user. */
  setUserGroups(name: string, groups: readonly string[], now: number): Promise<boolean>;
  /** Deletes the user and its group memberships; false when there was no such user. */
  deleteUser(name: string): Promise<boolean>;

  /** Stores an access rule (validated by the caller); returns it with its id. */
  createAccessRule(rule: NewAccessRule): Promise<AccessRuleRecord>;
  /** Every access rule in the database, by id (one query over a small table). */
  listAccessRules(): Promise<AccessRuleRecord[]>;
  /** Deletes an access rule; false when there was no such rule. */
  deleteAccessRule(id: number): Promise<boolean>;

  /** Resolves once every write acknowledged so far is durable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface Page {
  after?: string | undefined;
  limit: number;
}

export interface BlobRecord {
  digest: string;
  size: number;
}

export interface UploadRecord {
  id: string;
  repository: string;
  createdAt: number;
  updatedAt: number;
}

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  payload: Uint8Array;
  subjectDigest: string | null;
}

export interface NewManifest {
  digest: string;
  mediaType: string;
  artifactType: string | undefined;
  subjectDigest: string | undefined;
  annotations: Record<string, string> | undefined;
  payload: Uint8Array;
  references: Array<{ kind: ReferenceKind; digest: string }>;
}

export type PutManifestResult =
  | { ok: true }
  | { ok: false; missingBlobs: string[]; missingManifests: string[] };

export interface ReferrerRecord {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | undefined;
}

export interface ManifestSummary {
  repository: string;
  digest: string;
  payload: Uint8Array;
  references: Array<{ kind: ReferenceKind; digest: string }>;
}

/** A refresh token of the token service as stored: `hash` is the hex sha256 of the secret. Times are epoch ms. */
export interface RefreshTokenRecord {
  hash: string;
  subject: string;
  /** JSON of the identity; the store does not interpret it. */
  identity: string;
  service: string;
  clientId: string;
  createdAt: number;
  expiresAt: number;
}

/** A CI / robot token as stored: `secretHash` is the hex sha256 of the token text. Times are epoch ms. */
export interface RobotTokenRecord {
  id: string;
  name: string;
  secretHash: string;
  /** Scope strings as `repository:NAME:ACTIONS`; the store does not interpret them. */
  scopes: string[];
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** A user stored in the database: `passwordHash` is a bcrypt hash. Times are epoch ms. */
export interface UserRecord {
  name: string;
  passwordHash: string;
  /** Group names, sorted (`group:NAME` in access rules). */
  groups: string[];
  createdAt: number;
  updatedAt: number;
  disabled: boolean;
}

/** An access rule kept in the database (`berth access add`), as its columns were stored. */
export interface NewAccessRule {
  repositories: string[];
  subjects: string[];
  actions: string[];
  /** CIDRs the rule is limited to; undefined: any address. */
  from?: string[] | undefined;
  note?: string | undefined;
  createdAt: number;
}

/**
 * A stored access rule. The lists are read back as stored JSON and are not checked here:
 * the policy validates every row with the same schema as `access.rules` in the config file.
 */
export interface AccessRuleRecord {
  id: number;
  repositories: unknown;
  subjects: unknown;
  actions: unknown;
  from?: unknown;
  note?: string | undefined;
  createdAt: number;
}
