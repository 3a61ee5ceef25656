import type { Generated } from 'kysely';

/** Table shapes, shared by every SQL dialect. Times are epoch milliseconds. */
export interface Database {
  repositories: {
    id: Generated<number>;
    name: string;
    created_at: number;
  };
  blobs: {
    digest: string;
    size: number;
    created_at: number;
  };
  repository_blobs: {
    repository_id: number;
    digest: string;
    linked_at: number;
  };
  manifests: {
    id: Generated<number>;
    repository_id: number;
    digest: string;
    media_type: string;
    artifact_type: string | null;
    subject_digest: string | null;
    annotations: string | null;
    size: number;
    payload: Uint8Array;
    created_at: number;
  };
  manifest_references: {
    manifest_id: number;
    kind: ReferenceKind;
    digest: string;
  };
  tags: {
    repository_id: number;
    name: string;
    manifest_id: number;
    updated_at: number;
  };
  uploads: {
    id: string;
    repository_id: number;
    created_at: number;
    updated_at: number;
  };
  robot_tokens: {
    /** The public part of the token (it is in the token text); never secret. */
    id: string;
    name: string;
    /** Hex sha256 of the whole token text; the token itself is never stored. */
    secret_hash: string;
    /** JSON array of scope strings (`repository:NAME:ACTIONS`). */
    scopes: string;
    created_at: number;
    expires_at: number | null;
    last_used_at: number | null;
    revoked_at: number | null;
  };
  refresh_tokens: {
    /** Hex sha256 of the refresh token; the token itself is never stored. */
    hash: string;
    subject: string;
    /** JSON of the identity the token stands for (name, groups, source). */
    identity: string;
    service: string;
    client_id: string;
    created_at: number;
    expires_at: number;
  };
  users: {
    name: string;
    /** bcrypt hash of the password; the password itself is never stored. */
    password_hash: string;
    created_at: number;
    updated_at: number;
    /** 1: the user may not log in (kept for an administrator to re-enable). */
    disabled: number;
  };
  user_groups: {
    user_name: string;
    group_name: string;
  };
  access_rules: {
    id: Generated<number>;
    /** JSON arrays of strings, as in `access.rules`. */
    repositories: string;
    subjects: string;
    actions: string;
    /** JSON array of CIDRs, or null: any address. */
    from_networks: string | null;
    note: string | null;
    created_at: number;
  };
}

/** What a manifest points at: a blob (`config`, `layer`) or another manifest (`manifest`). */
export type ReferenceKind = 'config' | 'layer' | 'manifest';
