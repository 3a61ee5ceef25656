import { RegistryError } from './errors.ts';
import { tryParseDigest } from './digest.ts';
import { MediaType, manifestKinds, type ManifestKind } from './media-types.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: unknown;
}

/** What the registry needs to know of a manifest: its kind, and every digest it references. */
export interface ParsedManifest {
  mediaType: string;
  kind: ManifestKind;
  /** OCI 1.1: `artifactType`, or the config's media type for images that have none. */
  artifactType: string | undefined;
  config: Descriptor | undefined;
  layers: Descriptor[];
  manifests: Descriptor[];
  subject: Descriptor | undefined;
  annotations: Record<string, string> | undefined;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, { detail });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalid(`${where}.annotations must be an object of strings`);
  }
  return value as Record<string, string>;
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size, urls, artifactType } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0 || mediaType.length > 255) {
    throw invalid(`${where}.mediaType must be a non-empty string`);
  }
  if (typeof digest !== 'string' || !tryParseDigest(digest)) {
    throw invalid(`${where}.digest is not a valid digest`, { digest: typeof digest === 'string' ? digest.slice(0, 150) : digest });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) {
    throw invalid(`${where}.urls must be an array of strings`);
  }
  if (artifactType !== undefined && typeof artifactType !== 'string') {
    throw invalid(`${where}.artifactType must be a string`);
  }
  const descriptor: Descriptor = { mediaType, digest, size };
  if (urls !== undefined) descriptor.urls = urls as string[];
  if (artifactType !== undefined) descriptor.artifactType = artifactType as string;
  const annotations = parseAnnotations(value.annotations, where);
  if (annotations) descriptor.annotations = annotations;
  if (value.platform !== undefined) descriptor.platform = value.platform;
  return descriptor;
}

function parseDescriptorList(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((item, index) => parseDescriptor(item, `${where}[${index}]`));
}

/** Strips media type parameters: `application/json; charset=utf-8` → `application/json`. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const base = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return base.length > 0 ? base : undefined;
}

/**
 * Parses and validates a manifest body exactly as received. The media type comes from
 * the body's `mediaType`, which must agree with `Content-Type` when both are present.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(document)) throw invalid('manifest must be a JSON object');

  const declared = document.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('mediaType must be a string');
  const headerType = baseMediaType(contentType);
  if (declared !== undefined && headerType !== undefined && declared !== headerType) {
    throw invalid(`manifest mediaType "${declared}" does not match Content-Type "${headerType}"`, {
      mediaType: declared,
      contentType: headerType,
    });
  }
  const mediaType = declared ?? headerType;
  if (mediaType === undefined) throw invalid('manifest has no mediaType and the request no Content-Type');
  if (mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed) {
    throw invalid('Docker schema 1 manifests are not supported; push with a current client (schema 2 or OCI)');
  }
  const kind = manifestKinds.get(mediaType);
  if (kind === undefined) {
    throw invalid(`unsupported manifest media type "${mediaType.slice(0, 255)}"`, {
      supported: [...manifestKinds.keys()],
    });
  }
  if (document.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  // CVE-2021-41190: a document that could be read both as a manifest and as an index is refused.
  const hasIndexFields = document.manifests !== undefined;
  const hasImageFields = document.layers !== undefined || document.config !== undefined;
  if (hasIndexFields && hasImageFields) {
    throw invalid('ambiguous manifest: it has both "manifests" and "layers"/"config"');
  }

  const artifactTypeField = document.artifactType;
  if (artifactTypeField !== undefined && typeof artifactTypeField !== 'string') {
    throw invalid('artifactType must be a string');
  }
  const subject = document.subject === undefined ? undefined : parseDescriptor(document.subject, 'subject');
  const annotations = parseAnnotations(document.annotations, 'manifest');

  if (kind === 'image') {
    if (hasIndexFields) throw invalid(`an image manifest (${mediaType}) cannot have "manifests"`);
    const config = parseDescriptor(document.config, 'config');
    const layers = parseDescriptorList(document.layers ?? [], 'layers');
    if (document.layers === undefined && mediaType !== MediaType.ociManifest) throw invalid('layers is required');
    return {
      mediaType,
      kind,
      artifactType: (artifactTypeField as string | undefined) ?? config.mediaType,
      config,
      layers,
      manifests: [],
      subject,
      annotations,
    };
  }
  if (hasImageFields) throw invalid(`an index (${mediaType}) cannot have "layers" or "config"`);
  const manifests = parseDescriptorList(document.manifests, 'manifests');
  return {
    mediaType,
    kind,
    artifactType: artifactTypeField as string | undefined,
    config: undefined,
    layers: [],
    manifests,
    subject,
    annotations,
  };
}
