import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseContentRange, parseRange } from '../../src/http/range.ts';

test('any Range header on any size yields nothing, an in-bounds range, or unsatisfiable', () => {
  const header = fc.oneof(
    fc.string(),
    fc.tuple(fc.option(fc.nat({ max: 2000 }), { nil: undefined }), fc.option(fc.nat({ max: 2000 }), { nil: undefined })).map(([a, b]) => `bytes=${a ?? ''}-${b ?? ''}`),
  );
  fc.assert(
    fc.property(header, fc.nat({ max: 1500 }), (value, size) => {
      const result = parseRange(value, size);
      if (result.kind === 'range') {
        assert.ok(result.range.start >= 0 && result.range.start <= result.range.end && result.range.end < size, JSON.stringify({ value, size, result }));
      }
    }),
    { numRuns: 2000 },
  );
});

test('Range forms of RFC 9110: first-last, open-ended, suffix, and past-the-end', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'range', range: { start: 0, end: 9 } });
  assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'range', range: { start: 90, end: 99 } });
  assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'range', range: { start: 90, end: 99 } });
  assert.deepEqual(parseRange('bytes=50-500', 100), { kind: 'range', range: { start: 50, end: 99 } });
  assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-1,5-6', 100), { kind: 'none' });
  assert.deepEqual(parseRange(undefined, 100), { kind: 'none' });
});

test('PATCH Content-Range accepts the spec form and RFC forms, and refuses reversed or malformed ranges', () => {
  assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('bytes 100-199/*'), { start: 100, end: 199 });
  assert.deepEqual(parseContentRange('bytes=100-199'), { start: 100, end: 199 });
  assert.equal(parseContentRange(undefined), undefined);
  for (const bad of ['', '99-0', '-1-5', 'a-b', '0-', '1e3-2e3', '0-99999999999999999']) assert.equal(parseContentRange(bad), null, bad);
});
