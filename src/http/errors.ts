import type { FastifyReply } from 'fastify';
import type { ErrorCode, RegistryError } from '../registry/index.ts';

/** The one table from domain error codes to the spec's code and HTTP status. */
const errorTable: Record<ErrorCode, { status: number; code: string }> = {
  BLOB_UNKNOWN: { status: 404, code: 'BLOB_UNKNOWN' },
  BLOB_UPLOAD_INVALID: { status: 400, code: 'BLOB_UPLOAD_INVALID' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, code: 'BLOB_UPLOAD_UNKNOWN' },
  DIGEST_INVALID: { status: 400, code: 'DIGEST_INVALID' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
  MANIFEST_INVALID: { status: 400, code: 'MANIFEST_INVALID' },
  MANIFEST_UNKNOWN: { status: 404, code: 'MANIFEST_UNKNOWN' },
  NAME_INVALID: { status: 400, code: 'NAME_INVALID' },
  NAME_UNKNOWN: { status: 404, code: 'NAME_UNKNOWN' },
  SIZE_INVALID: { status: 400, code: 'SIZE_INVALID' },
  TAG_INVALID: { status: 400, code: 'TAG_INVALID' },
  UNAUTHORIZED: { status: 401, code: 'UNAUTHORIZED' },
  DENIED: { status: 403, code: 'DENIED' },
  UNSUPPORTED: { status: 405, code: 'UNSUPPORTED' },
  TOOMANYREQUESTS: { status: 429, code: 'TOOMANYREQUESTS' },
  PAGINATION_NUMBER_INVALID: { status: 400, code: 'PAGINATION_NUMBER_INVALID' },
  RANGE_INVALID: { status: 416, code: 'BLOB_UPLOAD_INVALID' },
  MANIFEST_TOO_LARGE: { status: 413, code: 'SIZE_INVALID' },
  // Spec v1.1 (Push): a manifest refused for a descriptor naming an unknown manifest or blob MUST
  // give MANIFEST_BLOB_UNKNOWN, index children included.
  MANIFEST_REFERENCE_UNKNOWN: { status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
};

export function statusOf(code: ErrorCode): number {
  return errorTable[code].status;
}

export function errorBody(code: string, message: string, detail?: unknown): string {
  return JSON.stringify({ errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] });
}

export function sendRegistryError(reply: FastifyReply, error: RegistryError): FastifyReply {
  const entry = errorTable[error.code];
  return sendError(reply, entry.status, entry.code, error.message, error.detail);
}

export function sendError(reply: FastifyReply, status: number, code: string, message: string, detail?: unknown): FastifyReply {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(errorBody(code, message, detail));
}
