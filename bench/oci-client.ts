import type { Blob, Image } from '../test/support/oci.ts';
import { expectStatus, locationOf, nextLink, request, type BodySource, type HttpResponse } from './http-client.ts';
import type { LargeBlob } from './payload.ts';
import type { RegistryProcess } from './servers.ts';

/** The distribution API operations the scenarios time, over the lean keep-alive client. */

const octetStream = { 'content-type': 'application/octet-stream' };

function url(registry: RegistryProcess, path: string): URL {
  return new URL(path, registry.base);
}

async function startUpload(registry: RegistryProcess, repository: string): Promise<URL> {
  const started = expectStatus(await request(url(registry, `/v2/${repository}/blobs/uploads/`), { method: 'POST', agent: registry.agent }), 202, 'POST upload');
  return locationOf(started, registry.base);
}

function withDigest(location: URL, digest: string): URL {
  const target = new URL(location);
  target.searchParams.set('digest', digest);
  return target;
}

/** POST, then one PUT ?digest= carrying the whole blob. */
export async function pushMonolithic(registry: RegistryProcess, repository: string, blob: { digest: string; body: Uint8Array | BodySource }): Promise<void> {
  const location = await startUpload(registry, repository);
  const put = await request(withDigest(location, blob.digest), { method: 'PUT', headers: octetStream, body: blob.body, agent: registry.agent });
  expectStatus(put, 201, 'PUT upload');
}

/** POST, PATCH chunks of `chunkSize` with Content-Range, then PUT ?digest= without a body. */
export async function pushChunked(registry: RegistryProcess, repository: string, blob: LargeBlob, chunkSize: number): Promise<void> {
  let location = await startUpload(registry, repository);
  for (let start = 0; start < blob.size; start += chunkSize) {
    const end = Math.min(start + chunkSize, blob.size);
    const patch = await request(location, {
      method: 'PATCH',
      headers: { ...octetStream, 'content-range': `${start}-${end - 1}` },
      body: blob.range(start, end),
      agent: registry.agent,
    });
    location = locationOf(expectStatus(patch, 202, `PATCH ${start}-${end - 1}`), registry.base);
  }
  expectStatus(await request(withDigest(location, blob.digest), { method: 'PUT', agent: registry.agent }), 201, 'PUT upload');
}

/** What a client such as skopeo does per blob: HEAD, and if missing POST + PUT. */
export async function pushSmallBlob(registry: RegistryProcess, repository: string, blob: Blob): Promise<void> {
  const head = await request(url(registry, `/v2/${repository}/blobs/${blob.digest}`), { method: 'HEAD', agent: registry.agent });
  if (head.status === 200) return;
  await pushMonolithic(registry, repository, { digest: blob.digest, body: blob.bytes });
}

/** Cross-repository mount, falling back to a monolithic push if the registry opens an upload instead. */
export async function mountBlob(registry: RegistryProcess, repository: string, blob: Blob, from: string): Promise<void> {
  const target = url(registry, `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}`);
  const response = await request(target, { method: 'POST', agent: registry.agent });
  if (response.status === 201) return;
  expectStatus(response, 202, 'POST mount');
  const put = await request(withDigest(locationOf(response, registry.base), blob.digest), { method: 'PUT', headers: octetStream, body: blob.bytes, agent: registry.agent });
  expectStatus(put, 201, 'PUT upload');
}

export async function putManifest(registry: RegistryProcess, repository: string, reference: string, image: Image): Promise<void> {
  const response = await request(url(registry, `/v2/${repository}/manifests/${reference}`), {
    method: 'PUT',
    headers: { 'content-type': image.mediaType },
    body: image.manifest,
    agent: registry.agent,
  });
  expectStatus(response, 201, `PUT manifest ${repository}:${reference}`);
}

export async function pushImage(registry: RegistryProcess, repository: string, reference: string, image: Image): Promise<void> {
  for (const blob of [...image.layers, image.config]) await pushSmallBlob(registry, repository, blob);
  await putManifest(registry, repository, reference, image);
}

export const manifestAccept = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface ListWalk {
  items: number;
  pages: number;
  /** Entries on the first page, to tell whether `n` was honoured. */
  firstPage: number;
}

/** GETs a catalog or tag list and follows `Link: rel="next"` to the end. */
export async function walkList(registry: RegistryProcess, path: string, field: 'repositories' | 'tags'): Promise<ListWalk> {
  let next: URL | undefined = url(registry, path);
  let items = 0;
  let pages = 0;
  let firstPage = 0;
  while (next) {
    const response: HttpResponse = expectStatus(await request(next, { agent: registry.agent }), 200, `GET ${next.pathname}${next.search}`);
    const list = (JSON.parse(response.body.toString('utf8')) as Record<string, unknown>)[field];
    const count = Array.isArray(list) ? list.length : 0;
    if (pages === 0) firstPage = count;
    items += count;
    pages += 1;
    next = nextLink(response, registry.base);
  }
  return { items, pages, firstPage };
}
