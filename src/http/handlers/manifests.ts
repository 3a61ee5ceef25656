import { assertValidName, isRegistryError, MediaType } from '../../registry/index.ts';
import { contentLengthOf, queryOf, v2Path, type Handler } from './context.ts';

type ManifestRoute = { name: string; reference: string };
type ReferrersRoute = { name: string; digest: string };

export const getManifest: Handler<ManifestRoute> = async ({ registry }, route, request, reply) => {
  assertValidName(route.name);
  const manifest = await registry.manifests.get(route.name, route.reference);
  reply
    .code(200)
    .header('content-type', manifest.mediaType)
    .header('docker-content-digest', manifest.digest)
    .header('etag', `"${manifest.digest}"`)
    .header('content-length', manifest.size);
  if (request.method === 'HEAD') return reply.send();
  return reply.send(Buffer.from(manifest.payload.buffer, manifest.payload.byteOffset, manifest.payload.byteLength));
};

export const putManifest: Handler<ManifestRoute> = async (context, route, request, reply) => {
  assertValidName(route.name);
  const { manifests } = context.registry;
  let body: Buffer;
  try {
    body = await manifests.readBody(request.raw, contentLengthOf(request));
  } catch (error) {
    // The rest of an oversize body is never read: close the connection once the 413 is sent.
    if (isRegistryError(error) && error.code === 'MANIFEST_TOO_LARGE') reply.header('connection', 'close');
    throw error;
  }
  const outcome = await manifests.put(route.name, route.reference, body, request.headers['content-type']);
  reply
    .code(201)
    .header('location', context.baseUrl + v2Path(route.name, 'manifests', outcome.digest))
    .header('docker-content-digest', outcome.digest)
    .header('content-length', 0);
  if (outcome.subjectDigest) reply.header('oci-subject', outcome.subjectDigest);
  return reply.send();
};

export const deleteManifest: Handler<ManifestRoute> = async ({ registry }, route, _request, reply) => {
  assertValidName(route.name);
  registry.assertDeleteEnabled();
  await registry.manifests.delete(route.name, route.reference);
  return reply.code(202).header('content-length', 0).send();
};

export const getReferrers: Handler<ReferrersRoute> = async ({ registry }, route, request, reply) => {
  assertValidName(route.name);
  const artifactType = queryOf(request).get('artifactType') ?? undefined;
  const { index, filtered } = await registry.manifests.referrers(route.name, route.digest, artifactType);
  reply.code(200).header('content-type', MediaType.ociIndex);
  if (filtered) reply.header('oci-filters-applied', 'artifactType');
  // A Buffer, not a string: Fastify would append `; charset=utf-8`, and the spec wants the bare media type.
  return reply.send(Buffer.from(JSON.stringify(index)));
};
