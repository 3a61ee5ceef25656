import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:https';
import { connect as connectTcp } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import path from 'node:path';
import { copyFile, rename, rm, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { needsCommand } from '../support/services.ts';
import { nodeFlagsOfBerthCommand, pollUntil, repoRoot, runBerth } from '../support/process.ts';
import { makeCertificateAuthority, type IssuedCertificate, type TestCertificateAuthority } from '../support/tls.ts';

// HTTPS served by an in-process Berth with certificates of a CA made by openssl in the test.

interface HttpsAnswer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

function httpsGet(url: string, ca: Buffer): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Completes a TLS handshake and returns the serial of the certificate the server presented, or the error. */
function handshake(port: number, options: ConnectionOptions): Promise<{ serial?: string; protocol?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ...options });
    socket.setTimeout(10_000, () => socket.destroy(new Error('handshake timed out')));
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate().serialNumber;
      const protocol = socket.getProtocol() ?? undefined;
      socket.destroy();
      resolve({ serial, ...(protocol ? { protocol } : {}) });
    });
    socket.once('error', (error) => resolve({ error: error.message }));
  });
}

/** Log lines the server writes, parsed. */
function logCollector(): { stream: Writable; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  let pending = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      pending += chunk.toString('utf8');
      let end: number;
      while ((end = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: ignored
        }
      }
      callback();
    },
  });
  return { stream, lines };
}

const skip = needsCommand('openssl');

describe('HTTPS', { skip, timeout: 120_000 }, () => {
  let work: string;
  let ca: TestCertificateAuthority;
  let first: IssuedCertificate;
  let server: TestServer;
  let port: number;
  /** The files the server is configured with; tests replace their contents. */
  let certificate: string;
  let key: string;
  const logs = logCollector();

  before(async () => {
    work = await makeTempDir('berth-tls-');
    ca = await makeCertificateAuthority(path.join(work, 'ca'));
    first = await ca.issue('first', { commonName: 'berth first' });
    certificate = path.join(work, 'tls.crt');
    key = path.join(work, 'tls.key');
    await copyFile(first.certificate, certificate);
    await copyFile(first.key, key);
    server = await startTestServer({ config: { http: { tls: { certificate, key } } }, logs: logs.stream });
    port = Number(new URL(server.url).port);
  });

  after(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  test('serves HTTPS with a certificate its CA vouches for, with HSTS and nosniff on every response', async () => {
    assert.ok(server.url.startsWith('https://'));
    const base = await httpsGet(`${server.url}/v2/`, ca.pem);
    assert.equal(base.status, 200);
    assert.equal(base.body, '{}');
    assert.match(String(base.headers['strict-transport-security']), /^max-age=\d{7,}$/);
    assert.equal(base.headers['x-content-type-options'], 'nosniff');
    // Error answers carry them too.
    const missing = await httpsGet(`${server.url}/v2/team/app/manifests/latest`, ca.pem);
    assert.equal(missing.status, 404);
    assert.match(String(missing.headers['strict-transport-security']), /^max-age=\d+$/);
    assert.equal(missing.headers['x-content-type-options'], 'nosniff');
    // Both names of the certificate verify.
    const byName = await handshake(port, { ca: ca.pem, servername: 'localhost' });
    assert.equal(byName.serial, first.serial, byName.error);
    // Without the CA, the certificate is refused.
    const untrusted = await handshake(port, {});
    assert.match(untrusted.error ?? 'connected', /self.signed|unable to (get|verify)|certificate/i);
  });

  test('refuses TLS 1.1 and older, and negotiates TLS 1.2 and 1.3', async () => {
    const old = await handshake(port, { ca: ca.pem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
    assert.equal(old.serial, undefined, 'a TLS 1.1 handshake must fail');
    assert.ok(old.error);
    const twelve = await handshake(port, { ca: ca.pem, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    assert.equal(twelve.protocol, 'TLSv1.2', twelve.error);
    const thirteen = await handshake(port, { ca: ca.pem, minVersion: 'TLSv1.3' });
    assert.equal(thirteen.protocol, 'TLSv1.3', thirteen.error);
  });

  test('a plain HTTP request to the TLS port is answered 400 "this port speaks HTTPS" and closed at once; TLS clients are still served', async () => {
    const started = Date.now();
    const outcome = await new Promise<{ received: string; ms: number }>((resolve, reject) => {
      const socket = connectTcp({ host: '127.0.0.1', port }, () => socket.write('GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.setTimeout(10_000, () => reject(new Error('the server kept a plain HTTP connection open for 10 s')));
      socket.on('error', () => {});
      socket.on('close', () => resolve({ received, ms: Date.now() - started }));
    });
    assert.match(outcome.received, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(outcome.received, /\r\nConnection: close\r\n/i);
    assert.match(outcome.received, /\r\n\r\nThis port speaks HTTPS/);
    assert.ok(outcome.ms < 5_000, `closed after ${outcome.ms} ms`);
    // What an HTTP client sees.
    const plain = await fetch(`http://127.0.0.1:${port}/v2/`);
    assert.equal(plain.status, 400);
    assert.match(await plain.text(), /speaks HTTPS/);
    // Bytes that are neither TLS nor HTTP: closed without an answer.
    const garbage = await new Promise<string>((resolve) => {
      const socket = connectTcp({ host: '127.0.0.1', port }, () => socket.write(Buffer.from([0x00, 0x01, 0x02, 0x03])));
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => resolve(received));
    });
    assert.equal(garbage, '');
    // TLS clients, several at once, are served as before.
    const answers = await Promise.all([1, 2, 3].map(() => httpsGet(`${server.url}/v2/`, ca.pem)));
    assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200]);
  });

  test('a connection that sends nothing does not keep the server from closing', async () => {
    const dir = await makeTempDir('berth-tls-idle-');
    const idleServer = await startTestServer({ config: { http: { tls: { certificate: first.certificate, key: first.key } } }, dataDir: dir });
    const idlePort = Number(new URL(idleServer.url).port);
    const closed = new Promise<void>((resolve) => {
      const socket = connectTcp({ host: '127.0.0.1', port: idlePort });
      socket.on('error', () => {});
      socket.on('close', () => resolve());
    });
    await pollUntil(
      () => new Promise<boolean>((resolve) => idleServer.http.server.getConnections((_error, count) => resolve(count > 0))),
      'the idle connection to be accepted',
      10_000,
    );
    const started = Date.now();
    await idleServer.close();
    await closed;
    assert.ok(Date.now() - started < 5_000, `closing took ${Date.now() - started} ms`);
    await rm(dir, { recursive: true, force: true });
  });

  test('new connections get a renewed certificate without a restart; a broken replacement is logged and the current certificate kept', async () => {
    const renewed = await ca.issue('renewed', { commonName: 'berth renewed' });
    assert.notEqual(renewed.serial, first.serial);
    const before = await handshake(port, { ca: ca.pem });
    assert.equal(before.serial, first.serial, before.error);

    // Replaced the way certificate tools do it: new files renamed over the old ones.
    await copyFile(renewed.key, `${key}.new`);
    await copyFile(renewed.certificate, `${certificate}.new`);
    await rename(`${key}.new`, key);
    await rename(`${certificate}.new`, certificate);
    let seen: string | undefined;
    await pollUntil(
      async () => {
        seen = (await handshake(port, { ca: ca.pem })).serial;
        return seen === renewed.serial;
      },
      'the renewed certificate to be served',
      30_000,
      100,
    );
    const answer = await httpsGet(`${server.url}/v2/`, ca.pem);
    assert.equal(answer.status, 200);

    // A key that does not belong to the certificate: refused, logged, the renewed pair stays.
    const stranger = await ca.issue('stranger');
    const errorsBefore = logs.lines.filter((line) => line.level === 50).length;
    await copyFile(stranger.key, key);
    assert.equal(await server.reloadCertificate(), false);
    await pollUntil(() => logs.lines.filter((line) => line.level === 50).length > errorsBefore, 'the refused pair to be logged', 10_000);
    const refused = logs.lines.filter((line) => line.level === 50).at(-1)!;
    assert.match(String(refused.msg), /keeping the current one/);
    assert.match(String(refused.reason), /not the private key/);
    assert.equal((await handshake(port, { ca: ca.pem })).serial, renewed.serial);

    // Garbage in the certificate file: the same.
    await writeFile(certificate, 'not a certificate\n');
    assert.equal(await server.reloadCertificate(), false);
    assert.equal((await handshake(port, { ca: ca.pem })).serial, renewed.serial);

    // A valid pair again: in use once an explicit reload (what SIGHUP does) returns.
    await copyFile(stranger.certificate, certificate);
    await server.reloadCertificate(); // true, unless the file watch got there first
    assert.equal((await handshake(port, { ca: ca.pem })).serial, stranger.serial);
    assert.equal((await httpsGet(`${server.url}/v2/`, ca.pem)).status, 200);
  });

  test('a key that does not belong to the certificate stops the start: in process, berth serve and berth config check exit 2', async () => {
    const other = await ca.issue('other');
    const dir = await makeTempDir('berth-tls-mismatch-');
    try {
      await assert.rejects(
        startTestServer({ config: { http: { tls: { certificate: first.certificate, key: other.key } } }, dataDir: dir }),
        (error: Error) => error.name === 'TlsSetupError' && /not the private key of the certificate/.test(error.message),
      );
      const config = path.join(dir, 'config.yml');
      await writeFile(
        config,
        `http:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: ${first.certificate}\n    key: ${other.key}\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n`,
      );
      const [served, checked] = await Promise.all([runBerth(['serve', '--config', config], 60_000), runBerth(['config', 'check', '--quiet', '--config', config], 60_000)]);
      for (const result of [served, checked]) {
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /^berth: http\.tls: .*not the private key of the certificate/m);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('berth serve survives SIGHUP and serves a rotated certificate without a restart', async () => {
    const dir = await makeTempDir('berth-tls-sighup-');
    const crt = path.join(dir, 'tls.crt');
    const pem = path.join(dir, 'tls.key');
    await copyFile(first.certificate, crt);
    await copyFile(first.key, pem);
    const config = path.join(dir, 'config.yml');
    await writeFile(
      config,
      `http:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: ${crt}\n    key: ${pem}\nlog:\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n`,
    );
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_') && !name.startsWith('REGISTRY_')));
    const child = spawn(process.execPath, [...nodeFlagsOfBerthCommand(), path.join(repoRoot, 'bin/berth.js'), 'serve', '--config', config], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let childUrl = '';
      await pollUntil(
        () => {
          childUrl = /"url":"(https:[^"]+)"/.exec(output)?.[1] ?? '';
          return childUrl !== '' || child.exitCode !== null;
        },
        'berth to listen',
        60_000,
        50,
      );
      assert.ok(childUrl, output);
      const listening = Number(new URL(childUrl).port);
      assert.equal((await handshake(listening, { ca: ca.pem })).serial, first.serial);

      // Without a handler SIGHUP would end the process.
      child.kill('SIGHUP');
      assert.equal((await httpsGet(`${childUrl}/v2/`, ca.pem)).status, 200);
      assert.equal(child.exitCode, null, output);

      const rotated = await ca.issue('rotated');
      await copyFile(rotated.key, `${pem}.new`);
      await copyFile(rotated.certificate, `${crt}.new`);
      await rename(`${pem}.new`, pem);
      await rename(`${crt}.new`, crt);
      child.kill('SIGHUP');
      await pollUntil(async () => (await handshake(listening, { ca: ca.pem })).serial === rotated.serial, 'the rotated certificate', 30_000, 100);
      assert.match(output, /TLS certificate reloaded; new connections use it/);
      assert.equal(child.exitCode, null, output);

      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
