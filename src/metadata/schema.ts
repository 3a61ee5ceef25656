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
}

/** What a manifest points at: a blob (`config`, `layer`) or another manifest (`manifest`). */
export type ReferenceKind = 'config' | 'layer' | 'manifest';
