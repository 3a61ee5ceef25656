import { mkdir, open, readdir, rename, rm, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { assertSafeKey, StorageNotFoundError, type ByteRange, type StorageDriver, type StorageStat } from './driver.ts';

export interface FilesystemDriverOptions {
  root: string;
  /** fsync files and their directories before a commit or put returns. */
  fsync: boolean;
}

// 256 KiB reads stream as fast as 1 MiB ones here, and each read's buffer is garbage once sent:
// smaller buffers are collected sooner (a 1 MiB size let a pull's RSS reach ~175 MB).
const readChunkSize = 256 * 1024;
/**
 * With fsync on, dirty bytes are flushed in the background every this many bytes while an
 * upload streams, so the fsync at commit only waits for the tail instead of the whole blob.
 */
const backgroundFlushBytes = 32 * 1024 * 1024;

/** Objects as files under one root directory; commits are renames within that filesystem. */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly #root: string;
  readonly #fsync: boolean;

  constructor(options: FilesystemDriverOptions) {
    this.#root = path.resolve(options.root);
    this.#fsync = options.fsync;
  }

  #path(key: string): string {
    assertSafeKey(key);
    return path.join(this.#root, key);
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    try {
      const info = await stat(this.#path(key));
      return info.isFile() ? { size: info.size, modifiedAt: info.mtime } : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    let handle;
    try {
      handle = await open(this.#path(key), 'r');
    } catch (error) {
      if (isNotFound(error)) throw new StorageNotFoundError(key);
      throw error;
    }
    return handle.createReadStream({
      start: range?.start,
      end: range?.end,
      highWaterMark: readChunkSize,
      autoClose: true,
    });
  }

  async append(key: string, source: Readable, signal?: AbortSignal): Promise<number> {
    const file = this.#path(key);
    await mkdir(path.dirname(file), { recursive: true });
    const sink = new FileAppender(await open(file, 'a'), this.#fsync ? backgroundFlushBytes : 0);
    await pipeline(source, sink, signal ? { signal } : {});
    return (await stat(file)).size;
  }

  async truncate(key: string, size: number): Promise<void> {
    await truncate(this.#path(key), size);
  }

  async commit(from: string, to: string): Promise<void> {
    const source = this.#path(from);
    const target = this.#path(to);
    if (await this.stat(to)) {
      await rm(source, { force: true });
      return;
    }
    if (this.#fsync) await syncFile(source);
    await mkdir(path.dirname(target), { recursive: true });
    await rename(source, target);
    if (this.#fsync) await syncFile(path.dirname(target));
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const target = this.#path(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.${randomUUID()}.tmp`;
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(data);
      if (this.#fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
    if (this.#fsync) await syncFile(path.dirname(target));
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.#path(key));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const start = prefix === '' ? this.#root : this.#path(prefix.replace(/\/$/, ''));
    yield* walk(start, prefix.replace(/\/$/, ''));
  }

  async close(): Promise<void> {}
}

/**
 * Appends to an open file with vectored writes (many small network chunks, one syscall) and
 * optional background flushing. Owns the handle: closes it when finished or destroyed.
 */
class FileAppender extends Writable {
  readonly #handle: FileHandle;
  readonly #flushEvery: number;
  #unflushed = 0;
  #flushing: Promise<void> | undefined;
  #flushError: Error | undefined;

  constructor(handle: FileHandle, flushEvery: number) {
    super({ highWaterMark: 1024 * 1024 });
    this.#handle = handle;
    this.#flushEvery = flushEvery;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    this.#writeAll(buffers).then(() => callback(), callback);
  }

  async #writeAll(buffers: Buffer[]): Promise<void> {
    if (this.#flushError) throw this.#flushError;
    let total = 0;
    for (const buffer of buffers) total += buffer.length;
    const written = (await this.#handle.writev(buffers)).bytesWritten;
    // A short vectored write is rare but legal; finish the rest.
    if (written < total) {
      const rest = Buffer.concat(buffers).subarray(written);
      for (let offset = 0; offset < rest.length; ) offset += (await this.#handle.write(rest.subarray(offset))).bytesWritten;
    }
    this.#unflushed += total;
    if (this.#flushEvery > 0 && this.#unflushed >= this.#flushEvery && !this.#flushing) {
      this.#unflushed = 0;
      this.#flushing = this.#handle
        .datasync()
        .catch((error: Error) => {
          this.#flushError = error;
        })
        .finally(() => (this.#flushing = undefined));
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    Promise.resolve(this.#flushing).then(() => callback(this.#flushError), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    Promise.resolve(this.#flushing)
      .catch(() => {})
      .then(() => this.#handle.close())
      .then(
        () => callback(error),
        (closeError: Error) => callback(error ?? closeError),
      );
  }
}

async function* walk(directory: string, keyPrefix: string): AsyncIterable<string> {
  let entries;
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw error;
  }
  for (const entry of entries) {
    const key = keyPrefix === '' ? entry.name : `${keyPrefix}/${entry.name}`;
    if (entry.isDirectory()) yield* walk(path.join(directory, entry.name), key);
    else if (entry.isFile() && !entry.name.endsWith('.tmp')) yield key;
  }
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
