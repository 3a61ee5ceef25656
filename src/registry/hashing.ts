import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Hash } from 'node:crypto';
import { createDigester, type DigestAlgorithm } from './digest.ts';

/** Passes bytes through while feeding them to a hash and counting them: hashing while streaming. */
export class HashingCounter extends Transform {
  readonly hash: Hash;
  bytes = 0;

  constructor(hash: Hash) {
    super();
    this.hash = hash;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/** Hashes a whole stream without keeping it. */
export async function hashStream(source: Readable, algorithm: DigestAlgorithm): Promise<{ hex: string; size: number }> {
  const hash = createDigester(algorithm);
  let size = 0;
  await pipeline(source, async function (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      hash.update(chunk);
      size += chunk.length;
    }
  });
  return { hex: hash.digest('hex'), size };
}
