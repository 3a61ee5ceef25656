import { randomUUID } from 'node:crypto';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ClientNetwork, TokenService, type AccessControl } from '../auth/index.ts';
import type { Logger } from '../log/index.ts';
import { isRegistryError, type Registry } from '../registry/index.ts';
import { admit, admitNetwork, clientAddressOf } from './access.ts';
import { errorBody, sendError, sendRegistryError } from './errors.ts';
import { deleteBlob, getBlob, headBlob, unsupportedMethod } from './handlers/blobs.ts';
import { queryOf, type HandlerContext } from './handlers/context.ts';
import { getCatalog, getTags } from './handlers/listings.ts';
import { deleteManifest, getManifest, getReferrers, putManifest } from './handlers/manifests.ts';
import { deleteUpload, getUpload, patchUpload, putUpload, startUpload } from './handlers/uploads.ts';
import { matchV2Route, type V2Route } from './routes.ts';
import { registerTokenEndpoint } from './token-endpoint.ts';
import { HSTS_HEADER, answerPlainHttp, httpsOptions } from './tls.ts';

export interface HttpOptions {
  registry: Registry;
  logger: Logger;
  baseUrl?: string | undefined;
  headers: Record<string, string[]>;
  accessLog: boolean;
  tls?: { certificate: string; key: string } | undefined;
  /** Authentication and access rules; undefined: an open registry. */
  access?: AccessControl | undefined;
  /** Who the client is (trusted proxies) and which addresses may connect; default: the socket peer, everyone. */
  network?: ClientNetwork | undefined;
}

/** One access-log line per request (with its request id), none on arrival. */
class AccessLogController extends LogController {
  readonly #enabled: boolean;
  constructor(enabled: boolean) {
    super({});
    this.#enabled = enabled;
  }
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!this.#enabled && !error) return;
    const url = request.url.length > 512 ? `${request.url.slice(0, 512)}…` : request.url;
    const line = { method: request.method, url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, remote: clientAddressOf(request) ?? request.ip };
    if (error) reply.log.warn({ ...line, err: error.message }, 'request failed');
    else reply.log.info(line, 'request');
  }
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the HTTP server: thin routing from /v2 paths to the domain, errors in the spec's shape. */
export async function createHttpServer(options: HttpOptions): Promise<FastifyInstance> {
  const context: HandlerContext = { registry: options.registry, baseUrl: options.baseUrl?.replace(/\/$/, '') ?? '' };
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new AccessLogController(options.accessLog),
    exposeHeadRoutes: false,
    // Uploads can take as long as they take; idle connections are closed by keepAliveTimeout.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 75_000,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 4096 },
    // A path Fastify cannot route (bad percent-encoding, overlong) still gets the spec's error body.
    frameworkErrors: (error, _request, reply) =>
      sendError(
        reply.header('docker-distribution-api-version', 'registry/2.0'),
        (error as Error & { statusCode?: number }).statusCode ?? 400,
        'NAME_INVALID',
        'the request path is malformed',
      ),
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
    },
    ...(options.tls
      ? {
          https: httpsOptions(options.tls),
        }
      : {}),
  });

  if (options.tls) {
    // Plain HTTP sent to the HTTPS port gets a 400 saying so, not a bare disconnect.
    const plainHttp = answerPlainHttp(app.server as unknown as TlsServer);
    app.addHook('preClose', (done) => {
      plainHttp.close();
      done();
    });
  }

  // Bodies are streams handed to the domain untouched: manifests are hashed exactly as
  // received and blobs are never buffered.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  const fixedHeaders: Array<[string, string | string[]]> = [
    ['docker-distribution-api-version', 'registry/2.0'],
    ['x-content-type-options', 'nosniff'],
    ...Object.entries(options.headers).map(([name, values]): [string, string[]] => [name.toLowerCase(), values]),
  ];
  if (options.tls) fixedHeaders.push(['strict-transport-security', HSTS_HEADER]);
  app.addHook('onRequest', async (request, reply) => {
    for (const [name, value] of fixedHeaders) reply.header(name, value);
    reply.header('x-request-id', request.id);
  });
  // Before anything else: the client address, and the allowlist's 403. Without an allowlist or
  // trusted proxies the client is the socket peer (clientAddressOf), so no hook runs per request.
  const network = options.network;
  if (network?.configured) {
    app.addHook('onRequest', async (request, reply) => {
      if (!admitNetwork(network, request, reply)) return reply;
    });
  }

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (isRegistryError(error)) return sendRegistryError(reply, error);
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return sendError(reply, error.statusCode, 'UNSUPPORTED', error.message);
    }
    if (request.raw.destroyed || (error as NodeJS.ErrnoException).code === 'ECONNRESET' || error.message === 'aborted') {
      request.log.info({ err: error.message }, 'client went away');
      return reply.code(400).send();
    }
    request.log.error({ err: error }, 'unexpected error');
    return sendError(reply, 500, 'UNKNOWN', `internal error; request id ${request.id}`);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'UNSUPPORTED', `no endpoint ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`),
  );

  // Handlers still running when their connection was closed (drain timeout, client gone) are
  // awaited on close, so an interrupted chunk is rolled back before the stores close and the
  // process exits.
  const handling = new Set<Promise<unknown>>();
  const access = options.access;
  const dispatch = async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.raw.url ?? '';
    const pathEnd = url.indexOf('?');
    const path = pathEnd === -1 ? url : url.slice(0, pathEnd);
    const route = path === '/v2' ? ({ kind: 'base' } as const) : matchV2Route(path.slice('/v2/'.length));
    if (!route) return sendError(reply, 404, 'NAME_INVALID', 'no registry endpoint matches this path');
    const work = access ? admitAndRoute(access, context, route, request, reply) : routeRequest(context, route, request, reply);
    handling.add(work);
    try {
      return await work;
    } finally {
      handling.delete(work);
    }
  };
  // Registered before listen, so it runs after Fastify has closed the server and its connections.
  app.addHook('onClose', async () => {
    await Promise.allSettled(handling);
  });
  if (access) {
    // `Expect: 100-continue`: Node would invite the body at once; instead the request is
    // routed without it and the 100 is sent only once access is granted (admitAndRoute), so a
    // refused upload is answered before its body is sent.
    app.server.on('checkContinue', (request, response) => app.server.emit('request', request, response));
  }
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/v2', handler: dispatch });
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/v2/*', handler: dispatch });
  app.get('/healthz', async (_request, reply) => reply.send({ status: 'ok' }));
  if (access?.tokens instanceof TokenService) registerTokenEndpoint(app, access, access.tokens);

  return app;
}

/** Checks access first; the catalog is narrowed to what the caller may pull, a mount to sources it may pull. */
async function admitAndRoute(access: AccessControl, context: HandlerContext, route: V2Route, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const admission = await admit(access, route, request, reply);
  if (!admission.allowed) return reply;
  const { identity } = admission;
  if (/^100-continue$/i.test(request.headers.expect ?? '')) reply.raw.writeContinue();
  if (route.kind === 'catalog') return routeRequest(context, { ...route, visible: access.pullableRepositories(identity, clientAddressOf(request)) }, request, reply);
  if (route.kind === 'uploads') {
    const from = queryOf(request).get('from');
    if (from !== null) return routeRequest(context, { ...route, mountAllowed: access.allows(identity, from, ['pull'], clientAddressOf(request)) }, request, reply);
  }
  return routeRequest(context, route, request, reply);
}

type GrantedRoute =
  | V2Route
  | { kind: 'catalog'; visible: ((repository: string) => boolean) | undefined }
  | { kind: 'uploads'; name: string; mountAllowed: boolean };

async function routeRequest(context: HandlerContext, route: GrantedRoute, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const method = request.method;
  switch (route.kind) {
    case 'base':
      if (method !== 'GET' && method !== 'HEAD') throw unsupportedMethod(method, '/v2/');
      return reply.code(200).header('content-type', 'application/json').send(method === 'HEAD' ? undefined : '{}');
    case 'catalog':
      if (method !== 'GET') throw unsupportedMethod(method, 'the catalog');
      return getCatalog(context, route, request, reply);
    case 'tags':
      if (method !== 'GET') throw unsupportedMethod(method, 'tag lists');
      return getTags(context, route, request, reply);
    case 'manifest':
      if (method === 'GET' || method === 'HEAD') return getManifest(context, route, request, reply);
      if (method === 'PUT') return putManifest(context, route, request, reply);
      if (method === 'DELETE') return deleteManifest(context, route, request, reply);
      throw unsupportedMethod(method, 'manifests');
    case 'blob':
      if (method === 'HEAD') return headBlob(context, route, request, reply);
      if (method === 'GET') return getBlob(context, route, request, reply);
      if (method === 'DELETE') return deleteBlob(context, route, request, reply);
      throw unsupportedMethod(method, 'blobs');
    case 'uploads':
      if (method === 'POST') return startUpload(context, route, request, reply);
      throw unsupportedMethod(method, 'the upload endpoint');
    case 'upload':
      if (method === 'PATCH') return patchUpload(context, route, request, reply);
      if (method === 'PUT') return putUpload(context, route, request, reply);
      if (method === 'GET') return getUpload(context, route, request, reply);
      if (method === 'DELETE') return deleteUpload(context, route, request, reply);
      throw unsupportedMethod(method, 'uploads');
    case 'referrers':
      if (method !== 'GET') throw unsupportedMethod(method, 'referrers');
      return getReferrers(context, route, request, reply);
  }
}

export { errorBody };
