import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseManifest } from '../../src/registry/manifest.ts';
import { MediaType } from '../../src/registry/media-types.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { sha256 } from '../support/oci.ts';

const isManifestInvalid = (error: unknown) => error instanceof RegistryError && error.code === 'MANIFEST_INVALID';
const descriptor = (mediaType: string, content = 'x') => ({ mediaType, digest: sha256(content), size: content.length });

test('arbitrary bytes and arbitrary JSON never crash the parser: they parse or are MANIFEST_INVALID', () => {
  const mediaType = fc.constantFrom(undefined, MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, 'application/json', 'text/plain');
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.json().map((j) => Buffer.from(j))), mediaType, (body, contentType) => {
      try {
        parseManifest(body, contentType);
      } catch (error) {
        assert.ok(isManifestInvalid(error), String(error));
      }
    }),
    { numRuns: 500 },
  );
});

test('manifests shaped like the spec but with random field values are judged without crashing', () => {
  const anything = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }));
  const field = fc.option(anything, { nil: undefined });
  fc.assert(
    fc.property(field, field, field, field, field, field, (config, layers, manifests, subject, annotations, artifactType) => {
      const document = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers, manifests, subject, annotations, artifactType };
      try {
        parseManifest(Buffer.from(JSON.stringify(document)), MediaType.ociManifest);
      } catch (error) {
        assert.ok(isManifestInvalid(error), String(error));
      }
    }),
    { numRuns: 500 },
  );
});

test('a document that is both an image and an index is refused (CVE-2021-41190)', () => {
  for (const mediaType of [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList]) {
    const ambiguous = {
      schemaVersion: 2,
      mediaType,
      config: descriptor('application/vnd.oci.image.config.v1+json'),
      layers: [descriptor('application/vnd.oci.image.layer.v1.tar+gzip', 'l')],
      manifests: [descriptor(MediaType.ociManifest, 'm')],
    };
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify(ambiguous)), mediaType), (e: unknown) => isManifestInvalid(e) && /ambiguous/.test((e as Error).message));
  }
});

test('the body mediaType must agree with Content-Type; parameters on Content-Type are ignored', () => {
  const image = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: descriptor('application/vnd.oci.image.config.v1+json'), layers: [] }));
  assert.equal(parseManifest(image, `${MediaType.ociManifest}; charset=utf-8`).kind, 'image');
  assert.throws(() => parseManifest(image, MediaType.dockerManifest), isManifestInvalid);
  const untyped = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
  assert.equal(parseManifest(untyped, MediaType.ociIndex).kind, 'index');
  assert.throws(() => parseManifest(untyped, undefined), isManifestInvalid);
});

test('an OCI 1.1 artifact takes its artifactType, or its config media type when it has none', () => {
  const empty = { mediaType: MediaType.ociEmpty, digest: sha256('{}'), size: 2 };
  const artifact = { schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/vnd.example.sbom', config: empty, layers: [empty], subject: descriptor(MediaType.ociManifest, 's') };
  const parsed = parseManifest(Buffer.from(JSON.stringify(artifact)), MediaType.ociManifest);
  assert.equal(parsed.artifactType, 'application/vnd.example.sbom');
  assert.equal(parsed.subject?.digest, sha256('s'));
  const image = { ...artifact, artifactType: undefined, config: descriptor('application/vnd.example.config') };
  assert.equal(parseManifest(Buffer.from(JSON.stringify(image)), MediaType.ociManifest).artifactType, 'application/vnd.example.config');
});

test('schema 1 and unknown media types are refused with a reason', () => {
  for (const mediaType of [MediaType.dockerSchema1, MediaType.dockerSchema1Signed, 'application/vnd.example.unknown']) {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, layers: [] }));
    assert.throws(() => parseManifest(body, undefined), isManifestInvalid);
  }
});
