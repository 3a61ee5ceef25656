import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl, Action, Challenge, Credentials, Identity, RepositoryScope } from '../auth/index.ts';
import { sendError } from './errors.ts';
import type { V2Route } from './routes.ts';

/** What a request needs before it reaches its handler. */
export interface RequiredAccess {
  scopes: RepositoryScope[];
  /** `GET /v2/`: any authenticated caller, as `docker login` expects. */
  requireIdentity: boolean;
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
      return { scopes: [], requireIdentity: false };
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

/**
 * Reads `Authorization`: undefined when absent, null when present but unreadable (or a
 * scheme no authenticator takes yet). Never logged.
 */
export function credentialsOf(request: FastifyRequest): Credentials | undefined | null {
  const header = request.headers.authorization;
  if (header === undefined || header === '') return undefined;
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

export function challengeHeader(challenge: Challenge): string {
  return `${challenge.scheme} realm="${challenge.realm.replace(/["\\]/g, '\\$&')}"`;
}

export type Admission = { allowed: true; identity: Identity | undefined } | { allowed: false };

/** Decides whether the request may reach its handler; answers 401 or 403 itself when not. */
export async function admit(access: AccessControl, route: V2Route, request: FastifyRequest, reply: FastifyReply): Promise<Admission> {
  const required = requiredAccess(route, request.method);
  const decision = await access.decide(credentialsOf(request), required.scopes, required.requireIdentity);
  switch (decision.outcome) {
    case 'allow':
      return { allowed: true, identity: decision.identity };
    case 'unauthenticated':
      reply.header('www-authenticate', challengeHeader(access.challenge));
      sendError(reply, 401, 'UNAUTHORIZED', decision.reason, required.scopes.length > 0 ? { scopes: required.scopes } : undefined);
      return { allowed: false };
    case 'denied':
      sendError(reply, 403, 'DENIED', 'requested access to the resource is denied', { scopes: required.scopes });
      return { allowed: false };
  }
}
