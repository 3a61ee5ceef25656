/**
 * The one error type the domain throws. `code` is an OCI distribution spec error code;
 * the HTTP layer owns the table that turns it into a status and the spec's JSON body.
 */
export type ErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'PAGINATION_NUMBER_INVALID'
  // Berth's finer distinctions; the HTTP table answers each with a spec code and status.
  | 'RANGE_INVALID'
  | 'MANIFEST_TOO_LARGE'
  | 'MANIFEST_REFERENCE_UNKNOWN';

export interface RegistryErrorOptions {
  detail?: unknown;
  /** Extra facts the HTTP layer turns into headers (for example the current upload range). */
  uploadedBytes?: number;
  cause?: unknown;
}

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  readonly uploadedBytes: number | undefined;

  constructor(code: ErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.detail = options.detail;
    this.uploadedBytes = options.uploadedBytes;
  }
}

export function isRegistryError(error: unknown): error is RegistryError {
  return error instanceof RegistryError;
}
