import type { Readable } from 'node:stream';

/**
 * Bytes only. A driver maps keys (slash-separated, relative, no `..`) to objects and knows
 * nothing of repositories, digests or the database. Every backend implements this one
 * interface and passes the shared conformance suite in `test/storage/driver-suite.ts`.
 */
export interface StorageDriver {
  readonly name: string;
  /** Size and modification time, or undefined when the key does not exist. */
  stat(key: string): Promise<StorageStat | undefined>;
  /** A stream of the object's bytes, or of the inclusive `range`. Throws StorageNotFoundError. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * Appends `source` to the object (creating it), honouring backpressure, and resolves
   * with the object's new size once the bytes are durable (when the driver syncs). On
   * failure the object may hold part of `source`: callers that need all-or-nothing call
   * `truncate` back to the size they knew.
   */
  append(key: string, source: Readable, signal?: AbortSignal): Promise<number>;
  /** Cuts the object back to `size` bytes. */
  truncate(key: string, size: number): Promise<void>;
  /**
   * Makes the object at `from` appear at `to` atomically and durably (when the driver
   * syncs) and removes `from`. Content-addressed callers rely on: if `to` already exists
   * it is kept and `from` is discarded.
   */
  commit(from: string, to: string): Promise<void>;
  /** Writes a small object atomically and durably (when the driver syncs). */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Removes an object; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Every key under `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<string>;
  close(): Promise<void>;
}

export interface StorageStat {
  size: number;
  modifiedAt: Date;
}

/** Inclusive byte range, as HTTP writes it. */
export interface ByteRange {
  start: number;
  end: number;
}

export class StorageNotFoundError extends Error {
  readonly key: string;
  constructor(key: string) {
    super(`storage object not found: ${key}`);
    this.name = 'StorageNotFoundError';
    this.key = key;
  }
}

const keyPattern = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/** Refuses keys that could escape the driver's root. Keys are built by the registry, so this is a last guard. */
export function assertSafeKey(key: string): void {
  if (!keyPattern.test(key) || key.split('/').some((part) => part === '.' || part === '..')) {
    throw new Error(`unsafe storage key: ${JSON.stringify(key)}`);
  }
}
