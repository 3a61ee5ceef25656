import http, { type IncomingHttpHeaders } from 'node:http';

/**
 * HTTP/1.1 on node:http with keep-alive, for every request except the two hot loops (manifest
 * GETs and blob pulls, see raw-http.ts). Request bodies are Buffers (small) or a BodySource
 * that writes the same pre-generated buffer again and again (large blobs).
 */

export function createAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
}

/** A body written chunk by chunk with backpressure; `size` is sent as Content-Length. */
export interface BodySource {
  size: number;
  chunks(): Iterable<Uint8Array>;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Uint8Array | BodySource;
  agent: http.Agent;
}

export function request(url: URL, options: RequestOptions): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = options.body;
    const headers: Record<string, string | number> = { ...options.headers };
    if (body !== undefined) headers['content-length'] = body instanceof Uint8Array ? body.length : body.size;
    else if (options.method === 'PUT' || options.method === 'POST' || options.method === 'PATCH') headers['content-length'] = 0;
    const req = http.request(
      { hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: options.method ?? 'GET', headers, agent: options.agent },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parts.length === 1 ? parts[0]! : Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (body instanceof Uint8Array) req.end(body);
    else writeBody(req, body).then(() => req.end(), (error: unknown) => req.destroy(error as Error));
  });
}

async function writeBody(req: http.ClientRequest, body: BodySource): Promise<void> {
  for (const chunk of body.chunks()) {
    if (!req.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          req.off('error', onError);
          resolve();
        };
        const onError = (error: Error) => {
          req.off('drain', onDrain);
          reject(error);
        };
        req.once('drain', onDrain);
        req.once('error', onError);
      });
    }
  }
}

/** Throws with the response body when the status is not the expected one. */
export function expectStatus(response: HttpResponse, expected: number, what: string): HttpResponse {
  if (response.status !== expected) {
    throw new Error(`${what}: expected HTTP ${expected}, got ${response.status}: ${response.body.toString('utf8').slice(0, 300)}`);
  }
  return response;
}

/** Resolves a Location header (relative for Berth, absolute for distribution) against the registry. */
export function locationOf(response: HttpResponse, base: URL): URL {
  const location = response.headers.location;
  if (!location) throw new Error(`HTTP ${response.status} without a Location header`);
  return new URL(location, base);
}

/** The `rel="next"` target of an RFC 8288 Link header, if any. */
export function nextLink(response: HttpResponse, base: URL): URL | undefined {
  const raw = response.headers.link;
  const header = Array.isArray(raw) ? raw.join(', ') : raw;
  if (!header) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  return match ? new URL(match[1]!, base) : undefined;
}
