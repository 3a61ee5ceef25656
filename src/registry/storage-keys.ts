import type { Digest } from './digest.ts';

/**
 * Where the registry keeps bytes in a storage driver. Keys come only from validated
 * digests and from upload ids the registry generated, never from repository names.
 */
export function blobKey(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.hex.slice(0, 2)}/${digest.hex}/data`;
}

/** One flat file per session: a directory per upload would be left behind by every commit. */
export function uploadKey(uploadId: string): string {
  return `uploads/${uploadId}`;
}

export const blobsPrefix = 'blobs/';
export const uploadsPrefix = 'uploads/';

/** Reverses blobKey for storage walks (fsck, orphan cleanup); undefined for other keys. */
export function digestFromBlobKey(key: string): string | undefined {
  const match = /^blobs\/([a-z0-9]+)\/[a-f0-9]{2}\/([a-f0-9]+)\/data$/.exec(key);
  return match ? `${match[1]}:${match[2]}` : undefined;
}
