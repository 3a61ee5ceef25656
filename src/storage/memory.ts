import { Readable } from 'node:stream';
import { assertSafeKey, StorageNotFoundError, type ByteRange, type StorageDriver, type StorageStat } from './driver.ts';

interface MemoryObject {
  chunks: Buffer[];
  size: number;
  modifiedAt: Date;
}

/** Objects in process memory. For tests only: it buffers everything it is given. */
export class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  readonly #objects = new Map<string, MemoryObject>();

  async stat(key: string): Promise<StorageStat | undefined> {
    assertSafeKey(key);
    const object = this.#objects.get(key);
    return object ? { size: object.size, modifiedAt: object.modifiedAt } : undefined;
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    assertSafeKey(key);
    const object = this.#objects.get(key);
    if (!object) throw new StorageNotFoundError(key);
    const whole = Buffer.concat(object.chunks);
    return Readable.from([range ? whole.subarray(range.start, range.end + 1) : whole]);
  }

  async append(key: string, source: Readable, signal?: AbortSignal): Promise<number> {
    assertSafeKey(key);
    let object = this.#objects.get(key);
    if (!object) {
      object = { chunks: [], size: 0, modifiedAt: new Date() };
      this.#objects.set(key, object);
    }
    for await (const chunk of source) {
      signal?.throwIfAborted();
      const buffer = Buffer.from(chunk as Uint8Array);
      object.chunks.push(buffer);
      object.size += buffer.length;
    }
    object.modifiedAt = new Date();
    return object.size;
  }

  async truncate(key: string, size: number): Promise<void> {
    assertSafeKey(key);
    const object = this.#objects.get(key);
    if (!object) throw new StorageNotFoundError(key);
    const whole = Buffer.concat(object.chunks).subarray(0, size);
    object.chunks = [Buffer.from(whole)];
    object.size = whole.length;
  }

  async commit(from: string, to: string): Promise<void> {
    assertSafeKey(from);
    assertSafeKey(to);
    const object = this.#objects.get(from);
    if (!object) throw new StorageNotFoundError(from);
    if (!this.#objects.has(to)) this.#objects.set(to, object);
    this.#objects.delete(from);
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    assertSafeKey(key);
    this.#objects.set(key, { chunks: [Buffer.from(data)], size: data.length, modifiedAt: new Date() });
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    this.#objects.delete(key);
  }

  async *list(prefix: string): AsyncIterable<string> {
    for (const key of [...this.#objects.keys()]) if (key.startsWith(prefix)) yield key;
  }

  async close(): Promise<void> {
    this.#objects.clear();
  }
}
