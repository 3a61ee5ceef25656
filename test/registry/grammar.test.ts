import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MAX_NAME_LENGTH, isValidName, isValidTag } from '../../src/registry/grammar.ts';
import { digestOf, parseDigest, tryParseDigest } from '../../src/registry/digest.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { blobKey, digestFromBlobKey } from '../../src/registry/storage-keys.ts';

const lowerAlnum = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split(''));
const alnumRun = fc.array(lowerAlnum, { minLength: 1, maxLength: 8 }).map((chars) => chars.join(''));
const separator = fc.constantFrom('.', '_', '__', '-', '--');
const component = fc
  .tuple(alnumRun, fc.array(fc.tuple(separator, alnumRun), { maxLength: 3 }))
  .map(([head, rest]) => head + rest.map(([sep, run]) => sep + run).join(''));
const validName = fc.array(component, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'));

test('every name built from the spec grammar is accepted, up to 255 characters', () => {
  fc.assert(
    fc.property(validName, (name) => {
      assert.equal(isValidName(name), name.length <= MAX_NAME_LENGTH);
    }),
  );
});

test('names that could escape a path or break a query are refused', () => {
  const hostile = ['..', '../etc', 'a/../b', 'a/./b', '/abs', 'abs/', 'a//b', '%2e%2e', 'a/%2e%2e/b', 'A', 'Team/app', 'a b', 'a\\b', 'a\0b', "a'b", 'a;b', '', '.', '-a', 'a-', '_a', 'a.', 'a___b'];
  for (const name of hostile) assert.equal(isValidName(name), false, JSON.stringify(name));
  assert.equal(isValidName('a'.repeat(MAX_NAME_LENGTH)), true);
  assert.equal(isValidName('a'.repeat(MAX_NAME_LENGTH + 1)), false);
  fc.assert(
    fc.property(validName, fc.constantFrom('..', '/', '%', ' ', 'A', '\n', '\\'), fc.nat(), (name, bad, at) => {
      const position = at % (name.length + 1);
      const mutated = name.slice(0, position) + bad + name.slice(position);
      if (bad === '/' && isValidName(mutated)) return; // a slash between two components is legal
      assert.equal(isValidName(mutated), false, mutated);
    }),
  );
});

test('tags follow [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'aZ9_.-/:@'.split('')), maxLength: 140 }), (tag) => {
      assert.equal(isValidTag(tag), /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(tag));
    }),
  );
  assert.equal(isValidTag('v'.repeat(128)), true);
  assert.equal(isValidTag('v'.repeat(129)), false);
  for (const tag of ['', '.hidden', '-dash', 'a/b', 'a:b', 'sha256:abc', 'a b']) assert.equal(isValidTag(tag), false, tag);
});

test('digests: sha256 and sha512 with exact lowercase hex lengths, everything else refused with DIGEST_INVALID', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), fc.constantFrom('sha256', 'sha512') as fc.Arbitrary<'sha256' | 'sha512'>, (bytes, algorithm) => {
      const value = digestOf(bytes, algorithm);
      assert.equal(value, `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`);
      assert.deepEqual(tryParseDigest(value)?.value, value);
    }),
  );
  const hex64 = 'a'.repeat(64);
  const refused = [`sha256:${hex64.slice(1)}`, `sha256:${hex64}0`, `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, `sha512:${hex64}`, `sha256:`, hex64, `sha256:${'g'.repeat(64)}`, `sha256:../../${'a'.repeat(58)}`, `SHA256:${hex64}`];
  for (const value of refused) {
    assert.equal(tryParseDigest(value), undefined, value);
    assert.throws(() => parseDigest(value), (error: unknown) => error instanceof RegistryError && error.code === 'DIGEST_INVALID');
  }
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (value) => {
      const parsed = tryParseDigest(value);
      if (parsed) assert.match(parsed.value, /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/);
    }),
  );
});

test('a blob storage key is derived from the digest alone and maps back to it', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('sha256', 'sha512') as fc.Arbitrary<'sha256' | 'sha512'>, (bytes, algorithm) => {
      const digest = parseDigest(digestOf(bytes, algorithm));
      const key = blobKey(digest);
      assert.match(key, /^blobs\/sha(256|512)\/[a-f0-9]{2}\/[a-f0-9]+\/data$/);
      assert.equal(digestFromBlobKey(key), digest.value);
    }),
  );
});
