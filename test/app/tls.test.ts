import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { connect } from 'node:tls';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { makeTempDir, startTestServer } from '../support/server.ts';
import { needsCommand } from '../support/services.ts';

test('serves HTTPS with the configured certificate, HSTS, and refuses TLS 1.1', { skip: needsCommand('openssl') }, async () => {
  const dir = await makeTempDir('berth-tls-');
  const certificate = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', certificate], { stdio: 'ignore' });
  const server = await startTestServer({ config: { http: { tls: { certificate, key } } } });
  try {
    assert.ok(server.url.startsWith('https://'));
    const ca = readFileSync(certificate);
    const response = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = request(`${server.url}/v2/`, { ca }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(response.status, 200);
    assert.equal(response.body, '{}');
    assert.match(String(response.headers['strict-transport-security']), /max-age=\d+/);

    const port = Number(new URL(server.url).port);
    const oldProtocol = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
      socket.on('secureConnect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (error) => resolve(error.message));
    });
    assert.notEqual(oldProtocol, 'connected', 'a TLS 1.1 handshake must fail');

    const plain = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (r) => `status ${r.status}`,
      (error: Error) => `failed: ${error.message}`,
    );
    assert.doesNotMatch(plain, /status 200/, 'plain HTTP to the TLS port must not be served');
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
