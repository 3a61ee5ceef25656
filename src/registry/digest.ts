import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.ts';

/** The algorithms Berth accepts, with the exact hex length each must have. */
const algorithms = {
  sha256: 64,
  sha512: 128,
} as const;

export type DigestAlgorithm = keyof typeof algorithms;

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** `algorithm:hex`, the canonical form. */
  value: string;
}

const digestPattern = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-f0-9]+)$/;

/** Parses a digest; returns undefined for anything that is not a supported, well-formed digest. */
export function tryParseDigest(value: string): Digest | undefined {
  const match = digestPattern.exec(value);
  if (!match) return undefined;
  const algorithm = match[1] as string;
  const hex = match[2] as string;
  if (!Object.hasOwn(algorithms, algorithm)) return undefined;
  if (hex.length !== algorithms[algorithm as DigestAlgorithm]) return undefined;
  return { algorithm: algorithm as DigestAlgorithm, hex, value };
}

export function parseDigest(value: string): Digest {
  const digest = tryParseDigest(value);
  if (!digest) {
    const shown = value.length > 150 ? `${value.slice(0, 150)}…` : value;
    throw new RegistryError('DIGEST_INVALID', `invalid or unsupported digest "${shown}"`, {
      detail: { digest: shown, supported: Object.keys(algorithms) },
    });
  }
  return digest;
}

export function looksLikeDigest(reference: string): boolean {
  return reference.includes(':');
}

export function createDigester(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
