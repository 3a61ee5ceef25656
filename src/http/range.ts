import type { ByteRange } from '../storage/index.ts';

export type RangeRequest = { kind: 'none' } | { kind: 'range'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * Parses a `Range` header for a resource of `size` bytes (RFC 9110 §14.1.2), single
 * ranges only. Anything we do not understand, multiple ranges included, is ignored and
 * the whole resource is served, as the RFC allows.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (!header) return { kind: 'none' };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'none' };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' };
  if (end < start) return { kind: 'none' };
  return { kind: 'range', range: { start, end } };
}

/**
 * Parses a chunk's `Content-Range` on PATCH: `start-end` as the distribution spec writes
 * it, also accepting the RFC forms `bytes start-end/total` and `bytes=start-end`.
 * Returns undefined when absent, null when malformed.
 */
export function parseContentRange(header: string | undefined): ByteRange | undefined | null {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d{1,16})-(\d{1,16})(?:\/(?:\d{1,16}|\*))?$/.exec(header.trim());
  if (!match) return null;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) return null;
  return { start, end };
}
