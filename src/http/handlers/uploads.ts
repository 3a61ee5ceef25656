import type { FastifyReply, FastifyRequest } from 'fastify';
import { assertValidName, isRegistryError, isValidName, tryParseDigest, type Chunk } from '../../registry/index.ts';
import { RegistryError } from '../../registry/index.ts';
import { parseContentRange } from '../range.ts';
import { contentLengthOf, hasBody, queryOf, v2Path, type Handler, type HandlerContext } from './context.ts';

/** `mountAllowed: false` when the caller may not pull the mount source: the mount is not tried. */
type UploadsRoute = { name: string; mountAllowed?: boolean | undefined };
type UploadRoute = { name: string; id: string };

function uploadLocation(context: HandlerContext, name: string, id: string): string {
  return context.baseUrl + v2Path(name, 'blobs', 'uploads', id);
}

/** `Range: 0-<last byte>` as the spec writes upload progress (`0-0` when nothing arrived yet). */
function progress(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}

function sendProgress(context: HandlerContext, reply: FastifyReply, status: number, name: string, id: string, offset: number): FastifyReply {
  return reply
    .code(status)
    .header('location', uploadLocation(context, name, id))
    .header('range', progress(offset))
    .header('docker-upload-uuid', id)
    .header('content-length', 0)
    .send();
}

function chunkOf(request: FastifyRequest, withRange: boolean): Chunk {
  const range = withRange ? parseContentRange(request.headers['content-range']) : undefined;
  if (range === null) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `Content-Range "${String(request.headers['content-range']).slice(0, 60)}" is not of the form start-end`);
  }
  return { body: request.raw, range, length: contentLengthOf(request) };
}

/** Answers a refused chunk with the progress the client must resume from. */
async function withUploadProgress<T>(context: HandlerContext, reply: FastifyReply, route: UploadRoute, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isRegistryError(error) && error.code === 'RANGE_INVALID' && error.uploadedBytes !== undefined) {
      reply
        .header('location', uploadLocation(context, route.name, route.id))
        .header('range', progress(error.uploadedBytes))
        .header('docker-upload-uuid', route.id);
    }
    throw error;
  }
}

export const startUpload: Handler<UploadsRoute> = async (context, route, request, reply) => {
  assertValidName(route.name);
  const { registry } = context;
  const query = queryOf(request);
  const mount = query.get('mount');
  const from = query.get('from');
  const digest = query.get('digest');
  // A mount that cannot be made, malformed arguments included, falls back to an upload session (spec).
  if (mount !== null && from !== null && route.mountAllowed !== false && isValidName(from) && tryParseDigest(mount)) {
    const mounted = await registry.blobs.mount(route.name, mount, from);
    if (mounted) {
      return reply
        .code(201)
        .header('location', context.baseUrl + v2Path(route.name, 'blobs', mounted.digest))
        .header('docker-content-digest', mounted.digest)
        .header('content-length', 0)
        .send();
    }
  }
  if (digest !== null && mount === null) {
    const blob = await registry.uploads.uploadWhole(route.name, digest, chunkOf(request, false));
    return reply
      .code(201)
      .header('location', context.baseUrl + v2Path(route.name, 'blobs', blob.digest))
      .header('docker-content-digest', blob.digest)
      .header('content-length', 0)
      .send();
  }
  const upload = await registry.uploads.start(route.name);
  return sendProgress(context, reply, 202, route.name, upload.id, 0);
};

export const patchUpload: Handler<UploadRoute> = async (context, route, request, reply) => {
  assertValidName(route.name);
  const status = await withUploadProgress(context, reply, route, () =>
    context.registry.uploads.appendChunk(route.name, route.id, chunkOf(request, true)),
  );
  return sendProgress(context, reply, 202, route.name, route.id, status.offset);
};

export const putUpload: Handler<UploadRoute> = async (context, route, request, reply) => {
  assertValidName(route.name);
  const digest = queryOf(request).get('digest');
  if (digest === null) throw new RegistryError('DIGEST_INVALID', 'completing an upload needs ?digest= with the blob’s digest');
  const lastChunk = hasBody(request) ? chunkOf(request, true) : undefined;
  const blob = await withUploadProgress(context, reply, route, () => context.registry.uploads.complete(route.name, route.id, digest, lastChunk));
  return reply
    .code(201)
    .header('location', context.baseUrl + v2Path(route.name, 'blobs', blob.digest))
    .header('docker-content-digest', blob.digest)
    .header('content-length', 0)
    .send();
};

export const getUpload: Handler<UploadRoute> = async (context, route, _request, reply) => {
  assertValidName(route.name);
  const status = await context.registry.uploads.status(route.name, route.id);
  return sendProgress(context, reply, 204, route.name, route.id, status.offset);
};

export const deleteUpload: Handler<UploadRoute> = async (context, route, _request, reply) => {
  assertValidName(route.name);
  await context.registry.uploads.cancel(route.name, route.id);
  return reply.code(204).header('content-length', 0).send();
};
