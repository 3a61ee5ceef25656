import { randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MetadataStore } from '../metadata/index.ts';
import type { StorageDriver } from '../storage/index.ts';
import { createDigester, parseDigest, type Digest } from './digest.ts';
import { RegistryError } from './errors.ts';
import { isValidUploadId } from './grammar.ts';
import { HashingCounter, hashStream } from './hashing.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import { blobKey, uploadKey } from './storage-keys.ts';

/** Inclusive byte range a client says its chunk covers (`Content-Range`). */
export interface ChunkRange {
  start: number;
  end: number;
}

export interface Chunk {
  body: Readable;
  range?: ChunkRange | undefined;
  /** Declared `Content-Length`, when the client sent one. */
  length?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface UploadStatus {
  id: string;
  /** Bytes received so far. */
  offset: number;
}

/**
 * The running sha256 of an upload. Only an optimisation: when it is missing (another
 * process took the chunk, the server restarted) the stored bytes are hashed again.
 */
interface HashState {
  hash: Hash;
  offset: number;
}

export interface UploadServiceOptions {
  storage: StorageDriver;
  metadata: MetadataStore;
  /** Uploads untouched for longer than this are purged. */
  expiryMs: number;
}

/** Resumable blob uploads: start, append chunks, complete with digest verification, cancel, mount. */
export class UploadService {
  readonly #storage: StorageDriver;
  readonly #metadata: MetadataStore;
  readonly #expiryMs: number;
  readonly #hashes = new Map<string, HashState>();
  readonly #locks = new KeyedMutex();

  constructor(options: UploadServiceOptions) {
    this.#storage = options.storage;
    this.#metadata = options.metadata;
    this.#expiryMs = options.expiryMs;
  }

  async start(repository: string): Promise<UploadStatus> {
    const id = randomUUID();
    await this.#metadata.createUpload(repository, id, Date.now());
    this.#hashes.set(id, { hash: createDigester('sha256'), offset: 0 });
    return { id, offset: 0 };
  }

  async status(repository: string, id: string): Promise<UploadStatus> {
    await this.#requireUpload(repository, id);
    return { id, offset: await this.#storedSize(id) };
  }

  async appendChunk(repository: string, id: string, chunk: Chunk): Promise<UploadStatus> {
    await this.#requireUpload(repository, id);
    return this.#locks.run(id, async () => {
      const offset = await this.#append(id, chunk);
      await this.#metadata.touchUpload(id, Date.now());
      return { id, offset };
    });
  }

  /** Appends an optional last chunk, verifies the digest and commits the blob. */
  async complete(repository: string, id: string, digestValue: string, lastChunk?: Chunk): Promise<{ digest: string; size: number }> {
    const digest = parseDigest(digestValue);
    await this.#requireUpload(repository, id);
    return this.#locks.run(id, async () => {
      let size = lastChunk ? await this.#append(id, lastChunk) : (await this.#storage.stat(uploadKey(id)))?.size;
      // An empty blob never had a chunk appended, so its file may not exist yet.
      if (size === undefined) {
        await this.#storage.put(uploadKey(id), new Uint8Array());
        size = 0;
      }
      const actual = await this.#digestOf(id, digest, size);
      if (actual !== digest.value) {
        await this.#discard(id);
        throw new RegistryError('DIGEST_INVALID', `uploaded content has digest ${actual}, not the ${digest.value} given`, {
          detail: { expected: digest.value, actual, size },
        });
      }
      await this.#storage.commit(uploadKey(id), blobKey(digest));
      await this.#metadata.linkBlob(repository, { digest: digest.value, size }, id);
      this.#hashes.delete(id);
      return { digest: digest.value, size };
    });
  }

  /** Monolithic upload (`POST ?digest=`): a session that lives for one request. */
  async uploadWhole(repository: string, digestValue: string, chunk: Chunk): Promise<{ digest: string; size: number }> {
    parseDigest(digestValue);
    const { id } = await this.start(repository);
    try {
      return await this.complete(repository, id, digestValue, chunk);
    } catch (error) {
      await this.#discard(id).catch(() => {});
      throw error;
    }
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.#requireUpload(repository, id);
    await this.#locks.run(id, () => this.#discard(id));
  }

  /** Removes uploads nobody touched within the expiry (or only counts them); returns how many. */
  async purgeExpired(now = Date.now(), dryRun = false): Promise<number> {
    let purged = 0;
    for (;;) {
      const expired = await this.#metadata.listUploadsUpdatedBefore(now - this.#expiryMs, dryRun ? 100_000 : 100);
      if (dryRun) return expired.length;
      for (const upload of expired) {
        await this.#locks.run(upload.id, () => this.#discard(upload.id));
        purged++;
      }
      if (expired.length < 100) return purged;
    }
  }

  async #requireUpload(repository: string, id: string): Promise<void> {
    if (!isValidUploadId(id) || !(await this.#metadata.findUpload(repository, id))) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} is unknown, finished or cancelled`, {
        detail: { uuid: id.slice(0, 64) },
      });
    }
  }

  async #storedSize(id: string): Promise<number> {
    return (await this.#storage.stat(uploadKey(id)))?.size ?? 0;
  }

  /** Appends one chunk all-or-nothing: on any failure the stored bytes and hash go back to where they were. */
  async #append(id: string, chunk: Chunk): Promise<number> {
    const offset = await this.#storedSize(id);
    if (chunk.range) {
      if (chunk.range.start !== offset || chunk.range.end < chunk.range.start) {
        throw new RegistryError('RANGE_INVALID', `chunk starts at ${chunk.range.start} but the upload has ${offset} bytes`, {
          uploadedBytes: offset,
          detail: { start: chunk.range.start, end: chunk.range.end, uploaded: offset },
        });
      }
      const rangeLength = chunk.range.end - chunk.range.start + 1;
      if (chunk.length !== undefined && chunk.length !== rangeLength) {
        throw new RegistryError('RANGE_INVALID', `Content-Range covers ${rangeLength} bytes but Content-Length is ${chunk.length}`, {
          uploadedBytes: offset,
        });
      }
    }
    let state = this.#hashes.get(id);
    if (state && state.offset !== offset) {
      this.#hashes.delete(id);
      state = undefined;
    }
    const checkpoint = state?.hash.copy();
    const counter = new HashingCounter(state?.hash ?? createDigester('sha256'));
    try {
      // Two pipelines joined at the counter: a failure on either side destroys it and so ends both.
      const [fed, written] = await Promise.allSettled([
        pipeline(chunk.body, counter, chunk.signal ? { signal: chunk.signal } : {}),
        this.#storage.append(uploadKey(id), counter, chunk.signal),
      ]);
      if (fed.status === 'rejected') throw fed.reason;
      if (written.status === 'rejected') throw written.reason;
      const newSize = written.value;
      const expected = chunk.range ? chunk.range.end - chunk.range.start + 1 : chunk.length;
      if (expected !== undefined && counter.bytes !== expected) {
        throw new RegistryError('SIZE_INVALID', `chunk has ${counter.bytes} bytes but ${expected} were declared`, {
          uploadedBytes: offset,
        });
      }
      if (state) state.offset = newSize;
      return newSize;
    } catch (error) {
      await this.#storage.truncate(uploadKey(id), offset).catch(() => {});
      if (state && checkpoint) this.#hashes.set(id, { hash: checkpoint, offset });
      else this.#hashes.delete(id);
      throw error;
    }
  }

  async #digestOf(id: string, digest: Digest, size: number): Promise<string> {
    const state = this.#hashes.get(id);
    if (state && state.offset === size && digest.algorithm === 'sha256') {
      this.#hashes.delete(id);
      return `sha256:${state.hash.digest('hex')}`;
    }
    const { hex } = await hashStream(await this.#storage.read(uploadKey(id)), digest.algorithm);
    return `${digest.algorithm}:${hex}`;
  }

  async #discard(id: string): Promise<void> {
    this.#hashes.delete(id);
    await this.#storage.delete(uploadKey(id));
    await this.#metadata.deleteUpload(id);
  }
}
