import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from '../../registry/index.ts';

export interface HandlerContext {
  registry: Registry;
  /** External base URL (`http.host`), or '' for relative links. */
  baseUrl: string;
}

export type Handler<Route> = (context: HandlerContext, route: Route, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export function queryOf(request: FastifyRequest): URLSearchParams {
  const url = request.raw.url ?? '';
  const index = url.indexOf('?');
  return new URLSearchParams(index === -1 ? '' : url.slice(index + 1));
}

export function contentLengthOf(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined) return undefined;
  const value = Number(header);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** True when the request carries a body (a Content-Length above zero, or chunked transfer). */
export function hasBody(request: FastifyRequest): boolean {
  const length = contentLengthOf(request);
  return (length !== undefined && length > 0) || request.headers['transfer-encoding'] !== undefined;
}

/** Paths inside URLs: names and digests are validated grammar, so only `:` needs no escaping. */
export function v2Path(name: string, ...rest: string[]): string {
  return `/v2/${name}/${rest.join('/')}`;
}
