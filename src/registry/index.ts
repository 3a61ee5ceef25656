export { Registry, type RegistryOptions, type ListPage } from './registry.ts';
export { RegistryError, isRegistryError, type ErrorCode } from './errors.ts';
export { assertValidName, isValidName, isValidTag, isValidUploadId, MAX_NAME_LENGTH } from './grammar.ts';
export { parseDigest, tryParseDigest, digestOf, type Digest } from './digest.ts';
export { MediaType } from './media-types.ts';
export { parseManifest, type ParsedManifest, type Descriptor } from './manifest.ts';
export { blobKey, uploadKey, digestFromBlobKey, blobsPrefix, uploadsPrefix } from './storage-keys.ts';
export { hashStream } from './hashing.ts';
export type { Chunk, ChunkRange } from './uploads.ts';
