import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { createExternalTokenVerifier, libtrustKeyId, type ExternalTokenSettings } from '../../src/auth/index.ts';
import { assertError } from '../support/oci.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { needsCommand } from '../support/services.ts';

// Tokens of an external issuer (as GitLab or a distribution token server signs them),
// verified with distribution's auth.token keys. Certificates are made with openssl.

const execFileAsync = promisify(execFile);
const ISSUER = 'gitlab-issuer';
const SERVICE = 'container_registry';

interface Pki {
  dir: string;
  caPem: string;
  leafPem: string;
  leafKey: KeyObject;
  rogueLeafPem: string;
  rogueLeafKey: KeyObject;
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  await execFileAsync('openssl', args, { cwd });
}

/** A CA, a signing certificate it issued, and a rogue CA with its own signing certificate. */
async function makePki(dir: string): Promise<Pki> {
  for (const name of ['ca', 'rogue']) {
    await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
    await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-leaf.key`, '-out', `${name}-leaf.csr`, '-subj', `/CN=${name}-signer`);
    await openssl(dir, 'x509', '-req', '-in', `${name}-leaf.csr`, '-CA', `${name}.pem`, '-CAkey', `${name}.key`, '-CAcreateserial', '-out', `${name}-leaf.pem`, '-days', '1');
  }
  const read = (file: string) => readFile(path.join(dir, file), 'utf8');
  return {
    dir,
    caPem: await read('ca.pem'),
    leafPem: await read('ca-leaf.pem'),
    leafKey: createPrivateKey(await read('ca-leaf.key')),
    rogueLeafPem: await read('rogue-leaf.pem'),
    rogueLeafKey: createPrivateKey(await read('rogue-leaf.key')),
  };
}

function der(pem: string): string {
  return new X509Certificate(pem).raw.toString('base64');
}

async function sign(key: KeyObject, header: Record<string, unknown>, claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, sub: 'root', aud: SERVICE, iat: now, nbf: now, exp: now + 300, access: [{ type: 'repository', name: 'group/project', actions: ['pull', 'push'] }], ...claims })
    .setProtectedHeader({ alg: 'ES256', ...header })
    .sign(key);
}

describe('external token issuers (auth.token)', { skip: needsCommand('openssl'), timeout: 60_000 }, () => {
  let work: string;
  let pki: Pki;
  const settings = (extra: Partial<ExternalTokenSettings>): ExternalTokenSettings => ({ realm: 'https://gitlab.test/jwt/auth', service: SERVICE, issuer: ISSUER, ...extra });

  before(async () => {
    work = await makeTempDir('berth-token-external-');
    pki = await makePki(work);
    await writeFile(path.join(work, 'bundle-signer.pem'), pki.leafPem);
    await writeFile(path.join(work, 'bundle-ca.pem'), pki.caPem);
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('rootcertbundle, kid form: a token whose kid is the libtrust fingerprint of a bundle key is accepted', async () => {
    const verifier = await createExternalTokenVerifier(settings({ rootcertbundle: path.join(work, 'bundle-signer.pem') }));
    const kid = libtrustKeyId(createPublicKey(pki.leafKey));
    assert.deepEqual(await verifier.verify(await sign(pki.leafKey, { kid })), { subject: 'root', grants: [{ type: 'repository', name: 'group/project', actions: ['pull', 'push'] }] });
    const unknown = await verifier.verify(await sign(pki.rogueLeafKey, { kid: libtrustKeyId(createPublicKey(pki.rogueLeafKey)) }));
    assert.match('problem' in unknown ? unknown.problem : '', /unknown key id/);
  });

  test('rootcertbundle, x5c form: a chain to the bundle CA is accepted; a chain to another CA, or a key that did not sign, is refused', async () => {
    const verifier = await createExternalTokenVerifier(settings({ rootcertbundle: path.join(work, 'bundle-ca.pem') }));
    const accepted = await verifier.verify(await sign(pki.leafKey, { x5c: [der(pki.leafPem)] }));
    assert.equal('subject' in accepted && accepted.subject, 'root');
    const rogue = await verifier.verify(await sign(pki.rogueLeafKey, { x5c: [der(pki.rogueLeafPem)] }));
    assert.match('problem' in rogue ? rogue.problem : '', /does not lead to the root certificate bundle/);
    const stolenChain = await verifier.verify(await sign(pki.rogueLeafKey, { x5c: [der(pki.leafPem)] }));
    assert.match('problem' in stolenChain ? stolenChain.problem : '', /signature/);
    const garbage = await verifier.verify(await sign(pki.leafKey, { x5c: ['bm90IGEgY2VydA=='] }));
    assert.ok('problem' in garbage);
  });

  test('jwks file: keys are found by kid; an algorithm that does not fit the key, HS256 and alg none are refused', async () => {
    const jwk = createPublicKey(pki.leafKey).export({ format: 'jwk' });
    const file = path.join(work, 'jwks.json');
    await writeFile(file, JSON.stringify({ keys: [{ ...jwk, kid: 'gitlab-1', use: 'sig' }] }));
    const verifier = await createExternalTokenVerifier(settings({ jwks: file }));
    const ok = await verifier.verify(await sign(pki.leafKey, { kid: 'gitlab-1' }));
    assert.equal('subject' in ok && ok.subject, 'root');
    const p384 = await verifier.verify(await sign(pki.leafKey, { kid: 'gitlab-1', alg: 'ES384' }).catch(async () => {
      // jose refuses to sign ES384 with a P-256 key; forge the header instead.
      const [, payload, signature] = (await sign(pki.leafKey, { kid: 'gitlab-1' })).split('.');
      return `${Buffer.from(JSON.stringify({ alg: 'ES384', kid: 'gitlab-1' })).toString('base64url')}.${payload}.${signature}`;
    }));
    assert.ok('problem' in p384);
    const pem = createPublicKey(pki.leafKey).export({ type: 'spki', format: 'pem' }) as string;
    const now = Math.floor(Date.now() / 1000);
    const hs256 = await new SignJWT({ iss: ISSUER, aud: SERVICE, sub: 'root', iat: now, nbf: now, exp: now + 60, access: [] }).setProtectedHeader({ alg: 'HS256', kid: 'gitlab-1' }).sign(new TextEncoder().encode(pem));
    assert.match(((await verifier.verify(hs256)) as { problem: string }).problem, /not an accepted algorithm/);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'gitlab-1' })).toString('base64url')}.${(await sign(pki.leafKey, { kid: 'gitlab-1' })).split('.')[1]}.`;
    assert.match(((await verifier.verify(none)) as { problem: string }).problem, /not an accepted algorithm/);
    for (const claims of [{ iss: 'other' }, { aud: 'other' }, { exp: now - 120 }, { exp: undefined }]) {
      const token = await sign(pki.leafKey, { kid: 'gitlab-1' }, claims);
      assert.ok('problem' in (await verifier.verify(token)), JSON.stringify(claims));
    }
  });

  test('jwks URL: the key set is fetched from the issuer and its keys verify tokens by kid', async () => {
    const jwk = createPublicKey(pki.leafKey).export({ format: 'jwk' });
    const issuer = http.createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [{ ...jwk, kid: 'remote-1', alg: 'ES256', use: 'sig' }] }));
    });
    await new Promise<void>((resolve) => issuer.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = issuer.address() as AddressInfo;
      const verifier = await createExternalTokenVerifier(settings({ jwks: `http://127.0.0.1:${port}/jwks.json` }));
      const ok = await verifier.verify(await sign(pki.leafKey, { kid: 'remote-1' }));
      assert.equal('subject' in ok && ok.subject, 'root');
      const other = await verifier.verify(await sign(pki.rogueLeafKey, { kid: 'remote-1' }));
      assert.match('problem' in other ? other.problem : '', /signature/);
    } finally {
      issuer.closeAllConnections();
      await new Promise((resolve) => issuer.close(resolve));
    }
  });

  describe('over HTTP', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ config: { auth: { token: { realm: 'https://gitlab.test/jwt/auth', service: SERVICE, issuer: ISSUER, rootcertbundle: path.join(work, 'bundle-ca.pem') } } } });
    });
    after(async () => {
      await server?.close();
    });

    test('the challenge points at the external realm; its tokens are judged by their access claim; there is no /auth/token', async () => {
      const anonymous = await fetch(`${server.url}/v2/group/project/tags/list`);
      assert.equal(anonymous.headers.get('www-authenticate'), `Bearer realm="https://gitlab.test/jwt/auth",service="${SERVICE}",scope="repository:group/project:pull"`);
      await assertError(anonymous, 401, 'UNAUTHORIZED');
      const token = await sign(pki.leafKey, { x5c: [der(pki.leafPem)] }, { access: [{ type: 'repository', name: 'group/project', actions: ['pull'] }] });
      const tags = await fetch(`${server.url}/v2/group/project/tags/list`, { headers: { authorization: `Bearer ${token}` } });
      await assertError(tags, 404, 'NAME_UNKNOWN');
      const push = await fetch(`${server.url}/v2/group/project/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(push.headers.get('www-authenticate'), `Bearer realm="https://gitlab.test/jwt/auth",service="${SERVICE}",scope="repository:group/project:pull,push",error="insufficient_scope"`);
      await assertError(push, 401, 'UNAUTHORIZED');
      const endpoint = await fetch(`${server.url}/auth/token`);
      assert.equal(endpoint.status, 404);
      await endpoint.arrayBuffer();
    });
  });
});
