import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatScope, grantScopes, parseScopes, type AccessControl, type Identity, type TokenService } from '../auth/index.ts';
import { clientAddressOf, credentialsOf } from './access.ts';

/** Largest form body `POST /auth/token` reads. */
const MAX_FORM_BYTES = 64 * 1024;

/**
 * The token service's HTTP face, per Docker's token authentication specification:
 * `GET /auth/token` (Basic credentials or anonymous; `service`, `scope`s, `account`,
 * `offline_token`), `POST /auth/token` (OAuth2 `password` and `refresh_token` grants,
 * form-encoded) and the signing key as a JWKS.
 */
export function registerTokenEndpoint(app: FastifyInstance, access: AccessControl, tokens: TokenService): void {
  app.get('/auth/token', (request, reply) => getToken(access, tokens, request, reply));
  app.post('/auth/token', (request, reply) => postToken(access, tokens, request, reply));
  const jwks = async (_request: FastifyRequest, reply: FastifyReply) => reply.header('cache-control', 'max-age=300').send(await tokens.jwks());
  app.get('/auth/jwks.json', jwks);
  app.get('/.well-known/jwks.json', jwks);
}

function tokenError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  // OAuth2 error fields, and the registry error list docker and containers/image print.
  const code = status === 401 ? 'UNAUTHORIZED' : status === 429 ? 'TOOMANYREQUESTS' : 'DENIED';
  return reply.code(status).header('cache-control', 'no-store').send({ error, error_description: description, errors: [{ code, message: description }] });
}

/** Too many failed logins for the account or from the address: 429 with `Retry-After`. */
function limited(reply: FastifyReply, retryAfterSeconds: number, description: string): FastifyReply {
  reply.header('retry-after', String(retryAfterSeconds));
  return tokenError(reply, 429, 'slow_down', description);
}

function unauthorized(reply: FastifyReply, tokens: TokenService, description: string): FastifyReply {
  reply.header('www-authenticate', `Basic realm="${tokens.service.replace(/["\\]/g, '\\$&')}"`);
  return tokenError(reply, 401, 'invalid_grant', description);
}

function wrongService(tokens: TokenService, service: string | null): boolean {
  return service !== null && service !== '' && service !== tokens.service;
}

async function getToken(access: AccessControl, tokens: TokenService, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const query = new URLSearchParams((request.raw.url ?? '').split('?')[1] ?? '');
  if (wrongService(tokens, query.get('service'))) return tokenError(reply, 400, 'invalid_request', `this token service is "${tokens.service}"`);
  const credentials = credentialsOf(request);
  if (credentials === null || credentials?.kind === 'bearer') return unauthorized(reply, tokens, 'the Authorization header cannot be read; use Basic credentials');
  let identity: Identity | undefined;
  if (credentials) {
    const login = await access.login(credentials, clientAddressOf(request));
    if (login.outcome === 'limited') return limited(reply, login.retryAfterSeconds, login.reason);
    if (login.outcome === 'failed') return unauthorized(reply, tokens, 'invalid username or password');
    identity = login.identity;
    const account = query.get('account');
    if (account !== null && account !== '' && account !== credentials.username) return tokenError(reply, 400, 'invalid_request', 'account does not match the credentials');
  }
  await access.refreshPolicy();
  const issued = await tokens.issue(identity?.name, grantScopes(access, identity, parseScopes(query.getAll('scope')), clientAddressOf(request)));
  const body: Record<string, unknown> = { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt };
  if (identity && query.get('offline_token') === 'true') body.refresh_token = await tokens.createRefreshToken(identity, query.get('client_id') ?? '');
  request.log.info({ subject: identity?.name ?? '(anonymous)', scopes: issued.granted.map(formatScope) }, 'token issued');
  return reply.header('cache-control', 'no-store').send(body);
}

async function readForm(request: FastifyRequest): Promise<URLSearchParams | undefined> {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded\s*(?:;|$)/i.test(type)) return undefined;
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_FORM_BYTES) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function postToken(access: AccessControl, tokens: TokenService, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const form = await readForm(request);
  if (!form) return tokenError(reply, 400, 'invalid_request', `the body must be application/x-www-form-urlencoded, at most ${MAX_FORM_BYTES} bytes`);
  if (wrongService(tokens, form.get('service'))) return tokenError(reply, 400, 'invalid_request', `this token service is "${tokens.service}"`);
  const clientId = form.get('client_id');
  if (!clientId) return tokenError(reply, 400, 'invalid_request', 'client_id is required');
  const grantType = form.get('grant_type');
  let identity: Identity | undefined;
  let refreshToken: string | undefined;
  if (grantType === 'password') {
    const username = form.get('username');
    const password = form.get('password');
    if (!username || password === null) return tokenError(reply, 400, 'invalid_request', 'username and password are required');
    const login = await access.login({ kind: 'basic', username, password }, clientAddressOf(request));
    if (login.outcome === 'limited') return limited(reply, login.retryAfterSeconds, login.reason);
    if (login.outcome === 'failed') return unauthorized(reply, tokens, 'invalid username or password');
    identity = login.identity;
    if (form.get('access_type') === 'offline') refreshToken = await tokens.createRefreshToken(identity, clientId);
  } else if (grantType === 'refresh_token') {
    const secret = form.get('refresh_token');
    if (!secret) return tokenError(reply, 400, 'invalid_request', 'refresh_token is required');
    identity = await tokens.redeemRefreshToken(secret);
    if (!identity || !(await access.stillExists(identity))) return unauthorized(reply, tokens, 'the refresh token is unknown or expired, or its user is gone');
    refreshToken = secret;
  } else {
    return tokenError(reply, 400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
  }
  await access.refreshPolicy();
  const issued = await tokens.issue(identity.name, grantScopes(access, identity, parseScopes(form.getAll('scope')), clientAddressOf(request)));
  request.log.info({ subject: identity.name, grant: grantType, scopes: issued.granted.map(formatScope) }, 'token issued');
  const body: Record<string, unknown> = {
    access_token: issued.token,
    token: issued.token,
    scope: issued.granted.map(formatScope).join(' '),
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt,
  };
  if (refreshToken) body.refresh_token = refreshToken;
  return reply.header('cache-control', 'no-store').send(body);
}
