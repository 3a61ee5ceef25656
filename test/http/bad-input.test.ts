import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { startTestServer, type TestServer } from '../support/server.ts';
import { makeBlob, makeImage, pushBlob, pushImage, startUpload } from '../support/oci.ts';

let server: TestServer;
/** Deletes enabled (so DELETE reaches validation) and a 1 KiB manifest limit. */
let strict: TestServer;
before(async () => {
  server = await startTestServer();
  strict = await startTestServer({ config: { storage: { delete: { enabled: true } }, limits: { manifestbytes: 1024 } } });
});
after(async () => {
  await server?.close();
  await strict?.close();
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with the path sent exactly as given (fetch would normalise `..` and `%2e%2e`). */
function raw(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, method, path, headers: { ...options.headers, ...(options.body ? { 'content-length': String(options.body.length) } : {}) }, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** The spec's error body, with `code` first (HEAD responses have no body: status only). */
function assertRawError(response: RawResponse, status: number, code: string, what: string): void {
  assert.equal(response.status, status, `${what}: ${response.status} ${response.body.slice(0, 200)}`);
  if (response.body === '') return;
  assert.match(String(response.headers['content-type']), /^application\/json/, what);
  const body = JSON.parse(response.body) as { errors: Array<{ code: string; message: string }> };
  assert.equal(body.errors[0]?.code, code, `${what}: ${response.body.slice(0, 200)}`);
}

async function healthy(base: string): Promise<void> {
  const response = await fetch(`${base}/v2/`);
  assert.equal(response.status, 200);
  await response.arrayBuffer();
}

/** Polls `check` until it returns true or the timeout passes (the server finishes an aborted request on its own time). */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const digest = `sha256:${'a'.repeat(64)}`;
const uuid = '00000000-0000-4000-8000-000000000000';

/** Every endpoint of a repository, as method and path tail. */
const endpoints: Array<[string, string]> = [
  ['GET', 'tags/list'],
  ['GET', 'manifests/latest'],
  ['HEAD', 'manifests/latest'],
  ['PUT', 'manifests/latest'],
  ['DELETE', `manifests/${digest}`],
  ['GET', `blobs/${digest}`],
  ['HEAD', `blobs/${digest}`],
  ['DELETE', `blobs/${digest}`],
  ['POST', 'blobs/uploads/'],
  ['GET', `blobs/uploads/${uuid}`],
  ['PATCH', `blobs/uploads/${uuid}`],
  ['PUT', `blobs/uploads/${uuid}?digest=${digest}`],
  ['DELETE', `blobs/uploads/${uuid}`],
  ['GET', `referrers/${digest}`],
];

describe('name, tag and digest grammar', () => {
  test('repository names outside the grammar answer 400 NAME_INVALID on every endpoint', async () => {
    const names = [
      '..',
      '../etc',
      'a/..',
      'a/../b',
      '%2e%2e',
      'a/%2e%2e/b',
      'a/%2E%2E/b',
      '/absolute',
      '%2Fabsolute',
      'Upper',
      'lower/Upper',
      'a_',
      '_a',
      '-a',
      'a-',
      'a..b',
      'a//b',
      'a/',
      'a%00b',
      'a%20b',
      'a%0Ab',
      'x'.repeat(256),
      `${'a'.repeat(100)}/${'b'.repeat(100)}/${'c'.repeat(54)}`,
    ];
    for (const name of names) {
      for (const [method, tail] of endpoints) {
        const response = await raw(strict.url, method, `/v2/${name}/${tail}`);
        assertRawError(response, 400, 'NAME_INVALID', `${method} /v2/${name.slice(0, 30)}/${tail}`);
      }
    }
    await healthy(strict.url);
  });

  test('a name of exactly 255 characters is valid', async () => {
    const name = `${'a'.repeat(100)}/${'b'.repeat(100)}/${'c'.repeat(53)}`;
    assert.equal(name.length, 255);
    const blob = makeBlob();
    await pushBlob(server.url, name, blob);
    const response = await fetch(`${server.url}/v2/${name}/blobs/${blob.digest}`, { method: 'HEAD' });
    assert.equal(response.status, 200);
  });

  test('a mount from a name outside the grammar falls back to an upload session', async () => {
    for (const from of ['..', 'Upper', '%2e%2e', 'x'.repeat(300)]) {
      const response = await raw(server.url, 'POST', `/v2/grammar/mount/blobs/uploads/?mount=${digest}&from=${from}`);
      assert.equal(response.status, 202, `from=${from.slice(0, 30)}: ${response.body}`);
      assert.ok(response.headers.location);
    }
    const badDigest = await raw(server.url, 'POST', '/v2/grammar/mount/blobs/uploads/?mount=sha256:abc&from=grammar/source');
    assert.equal(badDigest.status, 202);
  });

  test('tags outside the grammar answer 400 TAG_INVALID on manifest GET, HEAD, PUT and DELETE', async () => {
    const image = makeImage({ layerCount: 1 });
    await pushImage(strict.url, 'grammar/tags', 'v1', image);
    const tags = ['.hidden', '-dash', '..', '%2e%2e', 'x'.repeat(129), 'a+b', 'a%20b', '%C3%A9t%C3%A9', 'a%00'];
    for (const tag of tags) {
      for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) {
        const response = await raw(strict.url, method, `/v2/grammar/tags/manifests/${tag}`, {
          ...(method === 'PUT' ? { headers: { 'content-type': image.mediaType }, body: image.manifest } : {}),
        });
        assertRawError(response, 400, 'TAG_INVALID', `${method} tag ${tag.slice(0, 30)}`);
      }
    }
    // The longest valid tag is accepted.
    const longest = `_${'x'.repeat(127)}`;
    const put = await raw(strict.url, 'PUT', `/v2/grammar/tags/manifests/${longest}`, { headers: { 'content-type': image.mediaType }, body: image.manifest });
    assert.equal(put.status, 201, put.body);
  });

  test('digests with a bad algorithm, wrong length or bad characters answer 400 DIGEST_INVALID', async () => {
    await pushImage(strict.url, 'grammar/digests', 'v1', makeImage({ layerCount: 1 }));
    const digests = [
      `sha256:${'a'.repeat(63)}`,
      `sha256:${'a'.repeat(65)}`,
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'g'.repeat(64)}`,
      `sha512:${'a'.repeat(64)}`,
      `sha384:${'a'.repeat(96)}`,
      `md5:${'a'.repeat(32)}`,
      `SHA256:${'a'.repeat(64)}`,
      'sha256:',
      `:${'a'.repeat(64)}`,
      `sha256::${'a'.repeat(64)}`,
      `sha256:${'a'.repeat(64)}%00`,
    ];
    for (const bad of digests) {
      const requests: Array<[string, string]> = [
        ['GET', `/v2/grammar/digests/blobs/${bad}`],
        ['HEAD', `/v2/grammar/digests/blobs/${bad}`],
        ['DELETE', `/v2/grammar/digests/blobs/${bad}`],
        ['GET', `/v2/grammar/digests/manifests/${bad}`],
        ['HEAD', `/v2/grammar/digests/manifests/${bad}`],
        ['DELETE', `/v2/grammar/digests/manifests/${bad}`],
        ['GET', `/v2/grammar/digests/referrers/${bad}`],
        ['POST', `/v2/grammar/digests/blobs/uploads/?digest=${bad}`],
      ];
      for (const [method, path] of requests) {
        assertRawError(await raw(strict.url, method, path), 400, 'DIGEST_INVALID', `${method} ${path}`);
      }
      const location = await startUpload(strict.url, 'grammar/digests');
      const put = await raw(strict.url, 'PUT', `${location.pathname}?digest=${bad}`);
      assertRawError(put, 400, 'DIGEST_INVALID', `PUT upload ?digest=${bad}`);
    }
  });

  test('malformed percent-encoding and paths matching no endpoint get a JSON error, not a 500', async () => {
    for (const path of ['/v2/a/blobs/%ZZ', '/v2/%/tags/list', '/v2/a/manifests/%E0%A4%A', '/v2/a/unknown/thing', `/v2/${'a/'.repeat(1500)}tags/list`, `/v2/a/manifests/${'x'.repeat(5000)}`]) {
      const response = await raw(server.url, 'GET', path);
      assert.ok(response.status >= 400 && response.status < 500, `${path.slice(0, 40)}: ${response.status}`);
      const body = JSON.parse(response.body) as { errors: Array<{ code: string }> };
      assert.match(body.errors[0]!.code, /^[A-Z_]+$/);
    }
    await healthy(server.url);
  });

  test('arbitrary path segments, methods and queries never produce a 5xx', async () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)),
      fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%ZZ', '', 'sha256:', `sha256:${'0'.repeat(64)}`, 'a', 'A', '-', '_'),
    );
    const tail = fc.constantFrom('tags/list', 'manifests/', 'blobs/', 'blobs/uploads/', 'referrers/', '');
    const query = fc.constantFrom('', '?n=-1', '?n=x', '?last=%00', '?digest=x', '?mount=x&from=..', '?artifactType=%00', '?n=1e400');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'), segment, tail, segment, query, async (method, name, middle, reference, q) => {
        const response = await raw(strict.url, method, `/v2/${name}/${middle}${reference}${q}`);
        assert.ok(response.status < 500, `${method} /v2/${name}/${middle}${reference}${q} answered ${response.status}: ${response.body.slice(0, 200)}`);
      }),
      { numRuns: 300 },
    );
    await healthy(strict.url);
  });
});

test('an unknown repository answers NAME_UNKNOWN for manifests and tags, BLOB_UNKNOWN for blobs, BLOB_UPLOAD_UNKNOWN for uploads', async () => {
  const name = 'never/pushed';
  const cases: Array<[string, string, number, string]> = [
    ['GET', 'tags/list', 404, 'NAME_UNKNOWN'],
    ['GET', 'manifests/latest', 404, 'NAME_UNKNOWN'],
    ['GET', `manifests/${digest}`, 404, 'NAME_UNKNOWN'],
    ['DELETE', 'manifests/latest', 404, 'NAME_UNKNOWN'],
    ['DELETE', `manifests/${digest}`, 404, 'NAME_UNKNOWN'],
    ['GET', `blobs/${digest}`, 404, 'BLOB_UNKNOWN'],
    ['DELETE', `blobs/${digest}`, 404, 'BLOB_UNKNOWN'],
    ['GET', `blobs/uploads/${uuid}`, 404, 'BLOB_UPLOAD_UNKNOWN'],
    ['PATCH', `blobs/uploads/${uuid}`, 404, 'BLOB_UPLOAD_UNKNOWN'],
    ['PUT', `blobs/uploads/${uuid}?digest=${digest}`, 404, 'BLOB_UPLOAD_UNKNOWN'],
    ['DELETE', `blobs/uploads/${uuid}`, 404, 'BLOB_UPLOAD_UNKNOWN'],
  ];
  for (const [method, tail, status, code] of cases) {
    assertRawError(await raw(strict.url, method, `/v2/${name}/${tail}`), status, code, `${method} ${tail}`);
  }
  assert.equal((await raw(strict.url, 'HEAD', `/v2/${name}/manifests/latest`)).status, 404);
  assert.equal((await raw(strict.url, 'HEAD', `/v2/${name}/blobs/${digest}`)).status, 404);
  // None of these reads created the repository.
  const catalog = (await (await fetch(`${strict.url}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.ok(!catalog.repositories.includes(name));
});

interface SocketResult {
  /** Everything the server sent before the connection closed. */
  received: string;
}

/**
 * Opens a raw connection, writes `head` and `body`, then ends the connection (a truncated
 * request when `body` is shorter than declared) and waits until the server closes it.
 */
function sendAndHangUp(base: string, head: string, body: Buffer): Promise<SocketResult> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ received }));
    socket.on('connect', () => {
      socket.write(head);
      socket.end(body);
    });
    setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not close the connection'));
    }, 10_000).unref();
  });
}

function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

async function uploadRange(location: URL): Promise<string | null> {
  const response = await fetch(location);
  await response.arrayBuffer();
  return response.status === 204 ? response.headers.get('range') : `status ${response.status}`;
}

async function blobStatus(base: string, repository: string, blobDigest: string): Promise<number> {
  const response = await fetch(`${base}/v2/${repository}/blobs/${blobDigest}`, { method: 'HEAD' });
  await response.arrayBuffer();
  return response.status;
}

describe('truncated bodies and disconnects', () => {
  test('a PATCH whose body stops short of its Content-Length leaves the session at its previous size and usable', async () => {
    const bytes = randomBytes(1100);
    const blob = makeBlob(bytes);
    const location = await startUpload(server.url, 'broken/patch');
    const first = await fetch(location, { method: 'PATCH', headers: { 'content-range': '0-99' }, body: new Uint8Array(bytes.subarray(0, 100)) });
    assert.equal(first.status, 202);
    await first.arrayBuffer();

    await sendAndHangUp(
      server.url,
      requestHead('PATCH', location.pathname, { 'content-type': 'application/octet-stream', 'content-range': '100-1099', 'content-length': 1000 }),
      bytes.subarray(100, 500),
    );
    await eventually(async () => (await uploadRange(location)) === '0-99', 'the session is back at 0-99');
    await healthy(server.url);

    const resumed = await fetch(location, { method: 'PATCH', headers: { 'content-range': '100-1099' }, body: new Uint8Array(bytes.subarray(100)) });
    assert.equal(resumed.status, 202);
    assert.equal(resumed.headers.get('range'), '0-1099');
    await resumed.arrayBuffer();
    const put = await fetch(`${location.href}?digest=${blob.digest}`, { method: 'PUT' });
    assert.equal(put.status, 201);
    await put.arrayBuffer();
    const read = await fetch(`${server.url}/v2/broken/patch/blobs/${blob.digest}`);
    assert.deepEqual(Buffer.from(await read.arrayBuffer()), bytes);
  });

  test('a streamed PATCH whose client disconnects midway keeps none of its bytes', async () => {
    const location = await startUpload(server.url, 'broken/streamed');
    const first = await fetch(location, { method: 'PATCH', body: new Uint8Array(randomBytes(50)) });
    await first.arrayBuffer();
    const chunk = randomBytes(4096);
    const chunked = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    await sendAndHangUp(
      server.url,
      requestHead('PATCH', location.pathname, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }),
      Buffer.concat([chunked, chunked, chunked]),
    );
    await eventually(async () => (await uploadRange(location)) === '0-49', 'the session is back at 0-49');
    const next = await fetch(location, { method: 'PATCH', headers: { 'content-range': '50-59' }, body: new Uint8Array(randomBytes(10)) });
    assert.equal(next.status, 202);
    assert.equal(next.headers.get('range'), '0-59');
    await next.arrayBuffer();
  });

  test('a client that aborts an http.request mid-upload leaves the session resumable', async () => {
    const location = await startUpload(server.url, 'broken/abort');
    const url = new URL(server.url);
    await new Promise<void>((resolve) => {
      const request = http.request({ host: url.hostname, port: url.port, method: 'PATCH', path: location.pathname, headers: { 'content-type': 'application/octet-stream' }, agent: false });
      request.on('error', () => resolve());
      request.on('close', () => resolve());
      request.write(randomBytes(64 * 1024), () => {
        request.write(randomBytes(64 * 1024), () => request.destroy());
      });
    });
    await eventually(async () => (await uploadRange(location)) === '0-0', 'the session is empty again');
    const blob = makeBlob();
    const put = await fetch(`${location.href}?digest=${blob.digest}`, { method: 'PUT', body: new Uint8Array(blob.bytes) });
    assert.equal(put.status, 201);
    await put.arrayBuffer();
    await healthy(server.url);
  });

  test('a truncated single-POST upload commits nothing and leaves no session behind', async () => {
    const blob = makeBlob(randomBytes(2000));
    await sendAndHangUp(
      server.url,
      requestHead('POST', `/v2/broken/single/blobs/uploads/?digest=${blob.digest}`, { 'content-type': 'application/octet-stream', 'content-length': blob.size }),
      blob.bytes.subarray(0, 700),
    );
    await eventually(async () => {
      const uploads = await server.registry.metadata.listUploadsUpdatedBefore(Date.now() + 60_000, 10_000);
      return !uploads.some((u) => u.repository === 'broken/single');
    }, 'the one-request session is discarded');
    assert.equal(await blobStatus(server.url, 'broken/single', blob.digest), 404);
    await healthy(server.url);
  });

  test('a truncated last chunk on PUT commits nothing and the session stays at its previous size', async () => {
    const bytes = randomBytes(600);
    const blob = makeBlob(bytes);
    const location = await startUpload(server.url, 'broken/put');
    const first = await fetch(location, { method: 'PATCH', headers: { 'content-range': '0-299' }, body: new Uint8Array(bytes.subarray(0, 300)) });
    await first.arrayBuffer();
    await sendAndHangUp(
      server.url,
      requestHead('PUT', `${location.pathname}?digest=${blob.digest}`, { 'content-type': 'application/octet-stream', 'content-range': '300-599', 'content-length': 300 }),
      bytes.subarray(300, 400),
    );
    await eventually(async () => (await uploadRange(location)) === '0-299', 'the session is back at 0-299');
    assert.equal(await blobStatus(server.url, 'broken/put', blob.digest), 404);
    const put = await fetch(`${location.href}?digest=${blob.digest}`, { method: 'PUT', headers: { 'content-range': '300-599' }, body: new Uint8Array(bytes.subarray(300)) });
    assert.equal(put.status, 201);
    await put.arrayBuffer();
    assert.equal(await blobStatus(server.url, 'broken/put', blob.digest), 200);
  });

  test('a truncated manifest PUT stores nothing', async () => {
    const image = makeImage({ layerCount: 1 });
    for (const blob of [image.config, ...image.layers]) await pushBlob(server.url, 'broken/manifest', blob);
    await sendAndHangUp(
      server.url,
      requestHead('PUT', '/v2/broken/manifest/manifests/v1', { 'content-type': image.mediaType, 'content-length': image.manifest.length }),
      image.manifest.subarray(0, image.manifest.length - 10),
    );
    await healthy(server.url);
    for (const reference of ['v1', image.digest]) {
      const response = await fetch(`${server.url}/v2/broken/manifest/manifests/${reference}`);
      assert.equal(response.status, 404);
      await response.arrayBuffer();
    }
  });
});

describe('oversize manifest bodies', () => {
  /**
   * Streams a chunked manifest body 512 bytes at a time until the server answers or closes,
   * and reports how much was sent by then.
   */
  function streamUntilAnswered(base: string, path: string): Promise<{ received: string; sent: number }> {
    const url = new URL(base);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname);
      const piece = Buffer.concat([Buffer.from('200\r\n'), Buffer.alloc(512, 0x20), Buffer.from('\r\n')]);
      let sent = 0;
      let received = '';
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearInterval(timer);
        socket.destroy();
        resolve({ received, sent });
      };
      socket.on('connect', () => {
        socket.write(requestHead('PUT', path, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'transfer-encoding': 'chunked' }));
        timer = setInterval(() => {
          if (sent > 8 * 1024 * 1024) return finish();
          if (socket.writable) {
            socket.write(piece);
            sent += 512;
          }
        }, 2);
      });
      socket.on('data', (chunk) => {
        received += chunk.toString('latin1');
        if (received.includes('\r\n\r\n')) finish();
      });
      socket.on('error', () => {});
      socket.on('close', finish);
      setTimeout(() => {
        finish();
        reject(new Error('no answer'));
      }, 15_000).unref();
    });
  }

  test('a streamed manifest over the limit is answered 413 long before the client stops sending', async () => {
    const { received, sent } = await streamUntilAnswered(strict.url, '/v2/oversize/streamed/manifests/v1');
    assert.match(received, /^HTTP\/1\.1 413 /, `sent ${sent} bytes, received ${JSON.stringify(received.slice(0, 100))}`);
    // The limit is 1 KiB: the server stopped reading right after it, it did not wait for the body to end.
    assert.ok(sent < 256 * 1024, `sent ${sent} bytes before the answer`);
    await healthy(strict.url);
    const response = await fetch(`${strict.url}/v2/oversize/streamed/manifests/v1`);
    assert.equal(response.status, 404);
    await response.arrayBuffer();
  });

  test('a declared Content-Length over the limit is answered 413 before the body is sent', async () => {
    const url = new URL(strict.url);
    const received = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(url.port), url.hostname);
      let text = '';
      socket.on('connect', () => {
        socket.write(requestHead('PUT', '/v2/oversize/declared/manifests/v1', { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': 100 * 1024 * 1024 }));
        socket.write(Buffer.alloc(100, 0x20));
      });
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(text));
    });
    assert.match(received, /^HTTP\/1\.1 413 /);
    await healthy(strict.url);
  });
});
