import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { needsCommand } from '../support/services.ts';
import {
  buildUmociImage,
  containersClientEnv,
  killRunningCommands,
  readLayoutBlob,
  readLayoutImage,
  run,
  runExpectingFailure,
  type ContainersClientEnv,
  type LayoutImage,
} from '../support/clients.ts';
import { sha256 } from '../support/oci.ts';
import { makeCertificateAuthority } from '../support/tls.ts';

// Real skopeo against an in-process Berth serving HTTPS with a certificate of a CA made by
// openssl in the test. TLS verification stays on throughout: the client trusts the CA only
// through --dest-cert-dir / --src-cert-dir (a folder holding `ca.crt`).

const skip = needsCommand('skopeo') || needsCommand('umoci') || needsCommand('tar') || needsCommand('openssl');

describe('skopeo over HTTPS', { skip, timeout: 180_000 }, () => {
  let server: TestServer;
  let work: string;
  let client: ContainersClientEnv;
  let layout: string;
  let image: LayoutImage;
  /** Holds only `ca.crt`, as containers/image expects of a certificate directory. */
  let certDir: string;
  let port: number;

  const skopeo = (...args: string[]) =>
    run('skopeo', ['--policy', client.policyPath, '--registries.d', client.registriesDir, ...args], { env: client.env, timeoutMs: 90_000 });
  const skopeoFails = (...args: string[]) =>
    runExpectingFailure('skopeo', ['--policy', client.policyPath, '--registries.d', client.registriesDir, ...args], { env: client.env, timeoutMs: 90_000 });

  before(async () => {
    work = await makeTempDir('berth-skopeo-tls-');
    const ca = await makeCertificateAuthority(path.join(work, 'ca'));
    const pair = await ca.issue('registry');
    certDir = path.join(work, 'certs');
    await mkdir(certDir);
    await copyFile(ca.certificate, path.join(certDir, 'ca.crt'));
    client = await containersClientEnv(path.join(work, 'client'));
    server = await startTestServer({ config: { http: { tls: { certificate: pair.certificate, key: pair.key } } } });
    port = Number(new URL(server.url).port);
    layout = path.join(work, 'layout');
    image = await buildUmociImage(layout, 'v1', { layers: 2, workDir: work, largeFileBytes: 2 * 1024 * 1024 });
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('pushes with --dest-cert-dir and pulls with --src-cert-dir over verified TLS, digests identical', async () => {
    assert.ok(server.url.startsWith('https://'));
    const target = `docker://127.0.0.1:${port}/secure/app:v1`;
    await skopeo('copy', '--quiet', '--preserve-digests', '--dest-cert-dir', certDir, `oci:${layout}:v1`, target);

    const raw = Buffer.from((await skopeo('inspect', '--raw', '--cert-dir', certDir, target)).stdout, 'utf8');
    assert.equal(sha256(raw), image.manifestDigest);

    // By the certificate's other name, and by digest.
    const out = path.join(work, 'out');
    await skopeo('copy', '--quiet', '--preserve-digests', '--src-cert-dir', certDir, `docker://localhost:${port}/secure/app@${image.manifestDigest}`, `oci:${out}:pulled`);
    const pulled = await readLayoutImage(out, 'pulled');
    assert.equal(pulled.manifestDigest, image.manifestDigest);
    assert.equal(pulled.configDigest, image.configDigest);
    assert.deepEqual(pulled.layerDigests, image.layerDigests);
    for (const digest of [pulled.configDigest, ...pulled.layerDigests]) {
      assert.equal(sha256(await readLayoutBlob(out, digest)), digest);
    }
  });

  test('without the CA skopeo refuses the certificate, for push and pull', async () => {
    const push = await skopeoFails('copy', '--quiet', `oci:${layout}:v1`, `docker://127.0.0.1:${port}/secure/untrusted:v1`);
    assert.match(push.stderr, /x509: certificate signed by unknown authority/);
    const pull = await skopeoFails('inspect', '--raw', `docker://127.0.0.1:${port}/secure/app:v1`);
    assert.match(pull.stderr, /x509: certificate signed by unknown authority/);
    // The refused push stored nothing.
    const absent = await skopeoFails('inspect', '--raw', '--cert-dir', certDir, `docker://127.0.0.1:${port}/secure/untrusted:v1`);
    assert.match(absent.stderr, /name unknown|manifest unknown/i);
  });
});
