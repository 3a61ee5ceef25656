import { createHash, randomBytes } from 'node:crypto';

/** Small helpers that speak the distribution API with fetch, for tests. */

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

export function makeBlob(content?: Uint8Array | string): Blob {
  const bytes = Buffer.from(content ?? randomBytes(64 + Math.floor(Math.random() * 512)));
  return { digest: sha256(bytes), size: bytes.length, bytes };
}

/** Monolithic upload: POST then PUT with the whole body. */
/** `headers` (e.g. Authorization) go with every request. */
export async function pushBlob(baseUrl: string, repository: string, blob: Blob, headers: Record<string, string> = {}): Promise<Response> {
  const start = await fetch(`${baseUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`POST upload answered ${start.status}: ${await start.text()}`);
  const location = new URL(start.headers.get('location')!, baseUrl);
  location.searchParams.set('digest', blob.digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(blob.bytes),
  });
  if (put.status !== 201) throw new Error(`PUT upload answered ${put.status}: ${await put.text()}`);
  return put;
}

export interface Image {
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
  digest: string;
  mediaType: string;
}

/** An OCI image manifest over a fresh config and `layerCount` random layers (not yet pushed). */
export function makeImage(options: { layerCount?: number; layers?: Blob[]; mediaType?: string; extra?: Record<string, unknown> } = {}): Image {
  const config = makeBlob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const layers = options.layers ?? Array.from({ length: options.layerCount ?? 2 }, () => makeBlob());
  const mediaType = options.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
  const docker = mediaType === 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
      ...options.extra,
    }),
  );
  return { config, layers, manifest, digest: sha256(manifest), mediaType };
}

export async function putManifest(baseUrl: string, repository: string, reference: string, body: Uint8Array, mediaType: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}/v2/${repository}/manifests/${reference}`, { method: 'PUT', headers: { ...headers, "content-type": mediaType }, body: new Uint8Array(body) });
}

/** Pushes every blob of the image and its manifest under `reference`. */
export async function pushImage(baseUrl: string, repository: string, reference: string, image: Image, headers: Record<string, string> = {}): Promise<Response> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(baseUrl, repository, blob, headers);
  const response = await putManifest(baseUrl, repository, reference, image.manifest, image.mediaType, headers);
  if (response.status !== 201) throw new Error(`PUT manifest answered ${response.status}: ${await response.text()}`);
  return response;
}

export async function errorCodes(response: Response): Promise<string[]> {
  const body = (await response.json()) as { errors?: Array<{ code: string }> };
  return (body.errors ?? []).map((e) => e.code);
}

/** Asserts an error response in the spec's shape: the status, and `code` as the first error. Consumes the body. */
export async function assertError(response: Response, status: number, code: string): Promise<void> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`expected ${status} ${code}, got ${response.status}: ${text.slice(0, 300)}`);
  if (!/^application\/json/.test(response.headers.get('content-type') ?? '')) {
    throw new Error(`error response is not JSON (${response.headers.get('content-type')}): ${text.slice(0, 300)}`);
  }
  const body = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
  if (!Array.isArray(body.errors) || body.errors.length === 0) throw new Error(`no "errors" array in ${text.slice(0, 300)}`);
  for (const error of body.errors) {
    if (typeof error.code !== 'string' || !/^[A-Z_]+$/.test(error.code)) throw new Error(`error code ${String(error.code)} is not of the spec's form`);
    if (error.message !== undefined && typeof error.message !== 'string') throw new Error('error message is not a string');
  }
  if (body.errors[0]!.code !== code) throw new Error(`expected code ${code}, got ${body.errors.map((e) => e.code).join(', ')}`);
}

/** Starts an upload session (`POST /v2/<name>/blobs/uploads/`) and returns its absolute location. */
export async function startUpload(baseUrl: string, repository: string): Promise<URL> {
  const response = await fetch(`${baseUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  if (response.status !== 202) throw new Error(`POST upload answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
  return new URL(response.headers.get('location')!, baseUrl);
}

/** The OCI 1.1 empty descriptor's content: `{}`. */
export const emptyConfig: Blob = makeBlob('{}');

/**
 * An OCI 1.1 artifact manifest: `artifactType`, the empty config, the given layers and
 * optionally a `subject` and annotations (blobs not yet pushed).
 */
export function makeArtifact(options: {
  artifactType?: string;
  layers?: Blob[];
  subject?: { mediaType: string; digest: string; size: number };
  annotations?: Record<string, string>;
  configMediaType?: string;
}): Image {
  const layers = options.layers ?? [makeBlob()];
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      ...(options.artifactType ? { artifactType: options.artifactType } : {}),
      config: { mediaType: options.configMediaType ?? 'application/vnd.oci.empty.v1+json', digest: emptyConfig.digest, size: emptyConfig.size },
      layers: layers.map((l) => ({ mediaType: 'application/octet-stream', digest: l.digest, size: l.size })),
      ...(options.subject ? { subject: options.subject } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    }),
  );
  return { config: emptyConfig, layers, manifest, digest: sha256(manifest), mediaType };
}

/** An image index (OCI, or a Docker manifest list) over manifests already built; `extra` adds top-level fields. */
export function makeIndex(children: Image[], options: { mediaType?: string; extra?: Record<string, unknown> } = {}): { manifest: Buffer; digest: string; mediaType: string } {
  const mediaType = options.mediaType ?? 'application/vnd.oci.image.index.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: children.map((child, i) => ({
        mediaType: child.mediaType,
        digest: child.digest,
        size: child.manifest.length,
        platform: { architecture: i % 2 === 0 ? 'amd64' : 'arm64', os: 'linux' },
      })),
      ...options.extra,
    }),
  );
  return { manifest, digest: sha256(manifest), mediaType };
}
