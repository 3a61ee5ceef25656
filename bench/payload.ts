import { createHash, randomBytes, type Hash } from 'node:crypto';
import type { BodySource } from './http-client.ts';

const tailBytes = 32;

/**
 * A large blob that costs the client almost nothing to send: one random buffer written
 * again and again, then a 32-byte random tail that makes each blob distinct. Every blob of
 * a family shares the prefix, so the sha256 of the prefix is computed once and each
 * blob's digest is a copy of that state plus its tail.
 */
export interface LargeBlob extends BodySource {
  digest: string;
  /** The bytes in [start, end) as a body (a PATCH chunk). */
  range(start: number, end: number): BodySource;
}

export class LargeBlobFamily {
  readonly size: number;
  readonly #base: Buffer;
  readonly #prefixLength: number;
  #prefixHash: Hash | undefined;

  constructor(size: number, bufferSize = 16 * 1024 * 1024) {
    if (size <= tailBytes) throw new Error(`blob size ${size} is too small`);
    this.size = size;
    this.#base = randomBytes(Math.min(bufferSize, size));
    this.#prefixLength = size - tailBytes;
  }

  /** A new distinct blob of the family (the first call hashes the shared prefix). */
  create(): LargeBlob {
    const tail = randomBytes(tailBytes);
    const digest = `sha256:${this.#hashOfPrefix().copy().update(tail).digest('hex')}`;
    const size = this.size;
    const chunks = (start: number, end: number) => this.#chunks(tail, start, end);
    return {
      size,
      digest,
      chunks: () => chunks(0, size),
      range: (start, end) => ({ size: end - start, chunks: () => chunks(start, end) }),
    };
  }

  #hashOfPrefix(): Hash {
    if (!this.#prefixHash) {
      const hash = createHash('sha256');
      for (const chunk of this.#chunks(Buffer.alloc(0), 0, this.#prefixLength)) hash.update(chunk);
      this.#prefixHash = hash;
    }
    return this.#prefixHash;
  }

  *#chunks(tail: Buffer, start: number, end: number): Generator<Uint8Array> {
    const base = this.#base;
    let position = start;
    while (position < end && position < this.#prefixLength) {
      const offset = position % base.length;
      const length = Math.min(base.length - offset, this.#prefixLength - position, end - position);
      yield base.subarray(offset, offset + length);
      position += length;
    }
    if (position < end) yield tail.subarray(position - this.#prefixLength, end - this.#prefixLength);
  }
}
