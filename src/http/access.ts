import type { FastifyReply, FastifyRequest } from 'fastify';
import { normalizeAddress, type AccessControl, type Action, type Challenge, type ClientNetwork, type Credentials, type Identity, type RepositoryScope } from '../auth/index.ts';
import { sendError } from './errors.ts';
import type { V2Route } from './routes.ts';

/** What a request needs before it reaches its handler. */
export interface RequiredAccess {
  scopes: RepositoryScope[];
  /** `GET /v2/`: any authenticated caller, as `docker login` expects. */
  requireIdentity: boolean;
  /** The catalog: with bearer tokens it needs the `registry:catalog:*` scope. */
  catalog?: boolean;
}

const PULL: readonly Action[] = ['pull'];
const PUSH: readonly Action[] = ['pull', 'push'];
const DELETE: readonly Action[] = ['delete'];

/**
 * The scope a request needs, from its route and method: reads need pull; uploads and
 * manifest PUTs need push (and pull, as clients check what exists); deleting a manifest,
 * tag or blob needs delete. The catalog needs nothing here: it is filtered instead.
 * Methods a route does not serve need nothing: the handler answers 405 anyway.
 */
export function requiredAccess(route: V2Route, method: string): RequiredAccess {
  const read = method === 'GET' || method === 'HEAD';
  const scope = (repository: string, actions: readonly Action[] | undefined): RequiredAccess => ({
    scopes: actions ? [{ repository, actions }] : [],
    requireIdentity: false,
  });
  switch (route.kind) {
    case 'base':
      return { scopes: [], requireIdentity: true };
    case 'catalog':
      return { scopes: [], requireIdentity: false, catalog: true };
    case 'tags':
    case 'referrers':
      return scope(route.name, read ? PULL : undefined);
    case 'manifest':
    case 'blob':
      if (read) return scope(route.name, PULL);
      if (method === 'DELETE') return scope(route.name, DELETE);
      if (method === 'PUT' && route.kind === 'manifest') return scope(route.name, PUSH);
      return scope(route.name, undefined);
    case 'uploads':
    case 'upload':
      // Every upload method, status and cancel included, belongs to pushing.
      return scope(route.name, PUSH);
  }
}

/** Longest `Authorization` header read; longer ones are refused unread. */
export const MAX_AUTHORIZATION_LENGTH = 8192;

/**
 * Reads `Authorization`: undefined when absent, null when present but unreadable, oversized
 * or of an unknown scheme. Never logged.
 */
export function credentialsOf(request: FastifyRequest): Credentials | undefined | null {
  const header = request.headers.authorization;
  if (header === undefined || header === '') return undefined;
  if (header.length > MAX_AUTHORIZATION_LENGTH) return null;
  const bearer = /^Bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i.exec(header);
  if (bearer) return { kind: 'bearer', token: bearer[1]! };
  const match = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  // containers/image clients without credentials answer a Basic challenge with an empty
  // user and password: that is an anonymous request, not a failed login.
  if (colon === 0 && decoded.length === 1) return undefined;
  return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * The token endpoint of the URL a request came to (when no realm is configured); relative
 * when the request names no usable host.
 */
export function tokenRealmOf(request: FastifyRequest): string {
  const host = request.headers.host;
  if (!host || !/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(host)) return '/auth/token';
  return `${request.protocol}://${host}/auth/token`;
}

/**
 * `WWW-Authenticate` for a challenge. Bearer challenges name the service and exactly the
 * scope the request needs (none for `GET /v2/`), and the RFC 6750 error when a token was
 * presented and refused.
 */
export function challengeHeader(challenge: Challenge, request?: FastifyRequest, required?: RequiredAccess, error?: string): string {
  if (challenge.scheme === 'Basic') return `Basic realm=${quoted(challenge.realm)}`;
  const realm = challenge.realm ?? (request ? tokenRealmOf(request) : '/auth/token');
  const parts = [`realm=${quoted(realm)}`, `service=${quoted(challenge.service)}`];
  const scopes = (required?.scopes ?? []).map((scope) => `repository:${scope.repository}:${scope.actions.join(',')}`);
  if (required?.catalog) scopes.push('registry:catalog:*');
  if (scopes.length > 0) parts.push(`scope=${quoted(scopes.join(' '))}`);
  if (error) parts.push(`error=${quoted(error)}`);
  return `Bearer ${parts.join(',')}`;
}

const clientAddresses = new WeakMap<object, string | undefined>();

/**
 * Works out the client's address (see ClientNetwork) and keeps it for the request; answers
 * 403 DENIED and false when the address is outside the configured allowlist.
 */
export function admitNetwork(network: ClientNetwork, request: FastifyRequest, reply: FastifyReply): boolean {
  const address = network.clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for']);
  clientAddresses.set(request.raw, address);
  if (network.allows(address)) return true;
  request.log.warn({ address }, 'client address not allowed');
  sendError(reply, 403, 'DENIED', 'access from this address is not allowed');
  return false;
}

/** The client's address, as admitNetwork found it (else the socket peer's). */
export function clientAddressOf(request: FastifyRequest): string | undefined {
  if (clientAddresses.has(request.raw)) return clientAddresses.get(request.raw);
  const peer = request.socket.remoteAddress;
  return peer === undefined ? undefined : normalizeAddress(peer);
}

/** 429 TOOMANYREQUESTS with `Retry-After` in seconds: too many failed logins. */
export function sendLoginLimited(reply: FastifyReply, retryAfterSeconds: number, reason: string): FastifyReply {
  reply.header('retry-after', String(retryAfterSeconds));
  return sendError(reply, 429, 'TOOMANYREQUESTS', reason);
}

export type Admission = { allowed: true; identity: Identity | undefined } | { allowed: false };

/** Decides whether the request may reach its handler; answers 401 or 403 itself when not. */
export async function admit(access: AccessControl, route: V2Route, request: FastifyRequest, reply: FastifyReply): Promise<Admission> {
  const required = requiredAccess(route, request.method);
  const decision = await access.decide(credentialsOf(request), required.scopes, required.requireIdentity, required.catalog, clientAddressOf(request));
  switch (decision.outcome) {
    case 'allow':
      return { allowed: true, identity: decision.identity };
    case 'unauthenticated':
      reply.header('www-authenticate', challengeHeader(access.challenge, request, required, decision.error));
      sendError(reply, 401, 'UNAUTHORIZED', decision.reason, required.scopes.length > 0 ? { scopes: required.scopes } : undefined);
      return { allowed: false };
    case 'denied':
      sendError(reply, 403, 'DENIED', 'requested access to the resource is denied', { scopes: required.scopes });
      return { allowed: false };
    case 'limited':
      sendLoginLimited(reply, decision.retryAfterSeconds, decision.reason);
      return { allowed: false };
  }
}
