import type { BlobInfo } from '../../registry/blobs.ts';
import { assertValidName, RegistryError } from '../../registry/index.ts';
import { parseRange } from '../range.ts';
import type { Handler } from './context.ts';

type BlobRoute = { name: string; digest: string };

function blobHeaders(info: BlobInfo): Record<string, string | number> {
  return {
    'content-type': 'application/octet-stream',
    'docker-content-digest': info.digest,
    etag: `"${info.digest}"`,
    'accept-ranges': 'bytes',
    'cache-control': 'max-age=31536000',
  };
}

export const headBlob: Handler<BlobRoute> = async ({ registry }, route, _request, reply) => {
  assertValidName(route.name);
  const info = await registry.blobs.stat(route.name, route.digest);
  return reply.code(200).headers(blobHeaders(info)).header('content-length', info.size).send();
};

export const getBlob: Handler<BlobRoute> = async ({ registry }, route, request, reply) => {
  assertValidName(route.name);
  const info = await registry.blobs.stat(route.name, route.digest);
  if (request.headers['if-none-match'] === `"${info.digest}"`) {
    return reply.code(304).headers(blobHeaders(info)).send();
  }
  const wanted = parseRange(request.headers.range, info.size);
  if (wanted.kind === 'unsatisfiable') {
    return reply
      .code(416)
      .header('content-range', `bytes */${info.size}`)
      .header('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: `range not satisfiable for a blob of ${info.size} bytes` }] }));
  }
  const range = wanted.kind === 'range' ? wanted.range : undefined;
  const { body } = await registry.blobs.open(route.name, route.digest, range);
  reply.headers(blobHeaders(info));
  if (range) {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${info.size}`).header('content-length', range.end - range.start + 1);
  } else {
    reply.code(200).header('content-length', info.size);
  }
  return reply.send(body);
};

export const deleteBlob: Handler<BlobRoute> = async ({ registry }, route, _request, reply) => {
  assertValidName(route.name);
  registry.assertDeleteEnabled();
  await registry.blobs.delete(route.name, route.digest);
  return reply.code(202).header('docker-content-digest', route.digest).header('content-length', 0).send();
};

export function unsupportedMethod(method: string, what: string): RegistryError {
  return new RegistryError('UNSUPPORTED', `${method} is not supported on ${what}`);
}
