import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import {
  AccessControl,
  RuleAccessPolicy,
  TokenService,
  grantScopes,
  libtrustKeyId,
  loadOrCreateSigningKey,
  parseScopes,
  readSigningKey,
  type Decision,
  type RepositoryScope,
  type SigningKey,
} from '../../src/auth/index.ts';
import { makeTempDir } from '../support/server.ts';
import { needsCommand } from '../support/services.ts';

const execFileAsync = promisify(execFile);

const rules = new RuleAccessPolicy([
  { repositories: ['team/*'], subjects: ['user:alice'], actions: ['pull', 'push'] },
  { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
  { repositories: ['public/*'], subjects: ['anonymous'], actions: ['pull'] },
]);
const alice = { name: 'alice', groups: [], source: 'htpasswd' };

let dir: string;
let key: SigningKey;

before(async () => {
  dir = await makeTempDir('berth-token-service-');
  key = await loadOrCreateSigningKey(path.join(dir, 'key.pem'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function tokenService(overrides: Partial<ConstructorParameters<typeof TokenService>[0]> = {}): TokenService {
  return new TokenService({ key, issuer: 'berth-test', service: 'registry.test', expiryMs: 5 * 60_000, refreshExpiryMs: 86_400_000, ...overrides });
}

describe('signing keys', () => {
  test('the kid is the libtrust fingerprint: base32 of the first 30 bytes of sha256(DER SPKI), 12 groups of 4', { skip: needsCommand('openssl') || needsCommand('base32') }, async () => {
    const file = path.join(dir, 'key.pem');
    // An independent computation with openssl and coreutils.
    const script = `openssl pkey -in '${file}' -pubout -outform DER | openssl dgst -sha256 -binary | head -c 30 | base32 -w0`;
    const { stdout } = await execFileAsync('sh', ['-c', script]);
    const expected = stdout.trim().replace(/=+$/, '').match(/.{4}/g)!.join(':');
    assert.equal(key.kid, expected);
    assert.match(key.kid, /^(?:[A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    assert.equal(libtrustKeyId(key.publicKey), expected);
  });

  test('a generated key is EC P-256 (ES256), written with mode 0600, and reused on the next start', async () => {
    const file = path.join(dir, 'generated', 'token-signing-key.pem');
    const first = await loadOrCreateSigningKey(file);
    assert.equal(first.algorithm, 'ES256');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const again = await loadOrCreateSigningKey(file);
    assert.equal(again.kid, first.kid);
  });

  test('an RSA key signs RS256; other key types and unreadable files are refused', async () => {
    const rsa = path.join(dir, 'rsa.pem');
    await writeFile(rsa, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.equal((await readSigningKey(rsa)).algorithm, 'RS256');
    const p384 = path.join(dir, 'p384.pem');
    await writeFile(p384, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await assert.rejects(readSigningKey(p384), /only EC P-256 and RSA/);
    const garbage = path.join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a key');
    await assert.rejects(readSigningKey(garbage), /not a PEM private key/);
    await assert.rejects(loadOrCreateSigningKey(garbage), /not a PEM private key/);
    await assert.rejects(readSigningKey(path.join(dir, 'missing.pem')), /cannot be read/);
  });
});

describe('issuing tokens', () => {
  test('a token carries iss, sub, aud, exp, nbf, iat, jti, the kid and exactly the granted access', async () => {
    const tokens = tokenService();
    const now = Date.now();
    const issued = await tokens.issue('alice', parseScopes(['repository:team/app:pull,push']), now);
    const header = decodeProtectedHeader(issued.token);
    assert.deepEqual(header, { alg: 'ES256', typ: 'JWT', kid: key.kid });
    const claims = decodeJwt(issued.token);
    assert.equal(claims.iss, 'berth-test');
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'registry.test');
    assert.equal(claims.iat, Math.floor(now / 1000));
    assert.equal(claims.nbf, claims.iat);
    assert.equal(claims.exp, claims.iat! + 300);
    assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    assert.equal(issued.expiresIn, 300);
    assert.equal(issued.issuedAt, new Date(claims.iat! * 1000).toISOString());
  });

  test('asking for more than the rules allow yields a token with less, never an error', () => {
    const requested = parseScopes(['repository:other/app:pull,push,delete', 'repository:team/app:*', 'repository:../x:push', 'registry:catalog:*']);
    assert.deepEqual(grantScopes(rules, alice, requested), [
      { type: 'repository', name: 'other/app', actions: ['pull'] },
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    assert.deepEqual(grantScopes(rules, undefined, parseScopes(['repository:team/app:pull', 'repository:public/tool:pull,push'])), [
      { type: 'repository', name: 'public/tool', actions: ['pull'] },
    ]);
  });

  test('an identity carrying its own grants (a robot token) gets at most those, and no catalog', () => {
    const access = new AccessControl({ authenticators: [], policy: rules, challenge: { scheme: 'Basic', realm: 'r' } });
    const robot = { name: 'robot:ci', groups: [], source: 'robot-token', grants: [{ repository: 'team/app', actions: ['pull' as const] }] };
    const requested = parseScopes(['repository:team/app:pull,push', 'repository:other/app:pull', 'registry:catalog:*']);
    assert.deepEqual(grantScopes(access, robot, requested), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  });

  test('refresh tokens stand for their identity until they expire; unknown ones stand for nobody', async () => {
    const tokens = tokenService({ refreshExpiryMs: 1000 });
    const now = Date.now();
    const secret = (await tokens.createRefreshToken(alice, 'test-client', now))!;
    assert.match(secret, /^brt_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(await tokens.redeemRefreshToken(secret, now + 10), alice);
    assert.equal(await tokens.redeemRefreshToken(`${secret}x`, now + 10), undefined);
    assert.equal(await tokens.redeemRefreshToken(secret, now + 1000), undefined);
    assert.equal(await tokens.redeemRefreshToken(secret, now + 10), undefined, 'an expired token is forgotten');
    const other = tokenService({ service: 'elsewhere' });
    assert.equal(await other.redeemRefreshToken((await tokens.createRefreshToken(alice, 'c'))!, now), undefined);
    const robot = { name: 'robot:ci', groups: [], source: 'robot-token', grants: [{ repository: 'team/app', actions: ['pull' as const] }] };
    assert.equal(await tokens.createRefreshToken(robot, 'c', now), undefined, 'no refresh token outlives a robot token');
  });

  test('the JWKS holds the public key with its kid and algorithm, and no private part', async () => {
    const { keys } = await tokenService().jwks();
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.kid, key.kid);
    assert.equal(keys[0]!.alg, 'ES256');
    assert.equal(keys[0]!.kty, 'EC');
    assert.equal(keys[0]!.d, undefined);
  });
});

function base64url(value: object | string): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

describe('verifying tokens: the attack table', () => {
  let tokens: TokenService;
  let access: AccessControl;
  before(() => {
    tokens = tokenService();
    access = new AccessControl({ authenticators: [], policy: rules, tokens, challenge: { scheme: 'Bearer', realm: 'https://r.test/auth/token', service: 'registry.test' } });
  });
  const needed: RepositoryScope[] = [{ repository: 'team/app', actions: ['pull'] }];
  const seconds = () => Math.floor(Date.now() / 1000);
  const grant = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

  /** A token signed with the service's own key, with chosen claims. */
  async function signed(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const now = seconds();
    const payload = { iss: 'berth-test', sub: 'alice', aud: 'registry.test', iat: now, nbf: now, exp: now + 300, jti: 'j', access: grant, ...claims };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name as keyof typeof payload];
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: key.kid, ...header }).sign(key.privateKey);
  }

  const decide = (token: string, scopes = needed): Promise<Decision> => access.decide({ kind: 'bearer', token }, scopes);

  test('a genuine token is accepted and its claims decide', async () => {
    const decision = await decide(await signed({}));
    assert.equal(decision.outcome, 'allow');
    assert.equal(decision.outcome === 'allow' && decision.identity?.name, 'alice');
    assert.deepEqual(decision.outcome === 'allow' && decision.identity?.grants, [{ repository: 'team/app', actions: ['pull', 'push'] }]);
  });

  const attacks: Array<[string, () => Promise<string>, RegExp, string?]> = [
    ['expired', () => signed({ iat: seconds() - 600, nbf: seconds() - 600, exp: seconds() - 120 }), /"exp"/],
    ['not yet valid', () => signed({ nbf: seconds() + 120 }), /"nbf"/],
    ['issued in the future', () => signed({ iat: seconds() + 120, nbf: seconds() - 1 }), /future/],
    ['wrong audience', () => signed({ aud: 'other-registry' }), /"aud"/],
    ['wrong issuer', () => signed({ iss: 'evil' }), /"iss"/],
    ['missing exp', () => signed({ exp: undefined }), /"exp"/],
    ['missing nbf', () => signed({ nbf: undefined }), /"nbf"/],
    ['missing iat', () => signed({ iat: undefined }), /"iat"/],
    ['alg: none', async () => `${base64url({ alg: 'none', kid: key.kid })}.${(await signed({})).split('.')[1]}.`, /alg|algorithm/i],
    [
      'HS256 signed with the public key as the secret',
      async () => {
        const now = seconds();
        const pem = key.publicKey.export({ type: 'spki', format: 'pem' });
        return new SignJWT({ iss: 'berth-test', sub: 'alice', aud: 'registry.test', iat: now, nbf: now, exp: now + 300, access: grant })
          .setProtectedHeader({ alg: 'HS256', kid: key.kid })
          .sign(new TextEncoder().encode(pem as string));
      },
      /alg|algorithm/i,
    ],
    [
      'tampered payload (access widened after signing)',
      async () => {
        const [header, , signature] = (await signed({ access: [{ type: 'repository', name: 'other/app', actions: ['pull'] }] })).split('.');
        const now = seconds();
        return `${header}.${base64url({ iss: 'berth-test', sub: 'alice', aud: 'registry.test', iat: now, nbf: now, exp: now + 300, access: grant })}.${signature}`;
      },
      /signature/i,
    ],
    ['unknown kid', () => signed({}, { kid: 'AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL' }), /unknown key id/],
    ['no kid', () => signed({}, { kid: undefined }), /unknown key id/],
    [
      'signed by another key with the same kid',
      async () => {
        const now = seconds();
        const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
        return new SignJWT({ iss: 'berth-test', sub: 'alice', aud: 'registry.test', iat: now, nbf: now, exp: now + 300, access: grant }).setProtectedHeader({ alg: 'ES256', kid: key.kid }).sign(other);
      },
      /signature/i,
    ],
    ['malformed token', async () => 'not.a.jwt', /malformed/],
    ['malformed access claim', () => signed({ access: 'repository:team/app:pull' }), /access claim/],
    ['oversized token', async () => `${await signed({})}${'A'.repeat(9000)}`, /too long/],
  ];

  for (const [name, make, reason] of attacks) {
    test(`refused with 401 invalid_token: ${name}`, async () => {
      const decision = await decide(await make());
      assert.equal(decision.outcome, 'unauthenticated');
      assert.equal(decision.outcome === 'unauthenticated' && decision.error, 'invalid_token');
      assert.match(decision.outcome === 'unauthenticated' ? decision.reason : '', reason);
    });
  }

  test('refused with 401 insufficient_scope: a token for repository A used on repository B', async () => {
    const decision = await decide(await signed({}), [{ repository: 'team/other', actions: ['pull'] }]);
    assert.deepEqual(decision, { outcome: 'unauthenticated', reason: 'the token does not grant pull on team/other', error: 'insufficient_scope' });
  });

  test('refused with 401 insufficient_scope: a pull token used to push, a token without the catalog used on it', async () => {
    const pullOnly = await signed({ access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] });
    const push = await decide(pullOnly, [{ repository: 'team/app', actions: ['pull', 'push'] }]);
    assert.equal(push.outcome === 'unauthenticated' && push.error, 'insufficient_scope');
    const catalog = await access.decide({ kind: 'bearer', token: pullOnly }, [], false, true);
    assert.equal(catalog.outcome === 'unauthenticated' && catalog.error, 'insufficient_scope');
  });

  test('in token mode, Basic credentials and no credentials on /v2 get the challenge, not access', async () => {
    assert.equal((await access.decide({ kind: 'basic', username: 'alice', password: 'x' }, needed)).outcome, 'unauthenticated');
    assert.equal((await access.decide(undefined, [{ repository: 'public/tool', actions: ['pull'] }])).outcome, 'unauthenticated');
    assert.equal((await access.decide(null, [])).outcome, 'unauthenticated');
  });

  test('a token verified once is refused once it expires (the verification cache honours exp and nbf)', async () => {
    const now = Date.now();
    const { token } = await tokens.issue('alice', parseScopes(['repository:team/app:pull']), now);
    assert.equal((await tokens.verify(token, now)).hasOwnProperty('subject'), true);
    assert.equal((await tokens.verify(token, now + 60_000)).hasOwnProperty('subject'), true);
    assert.match(((await tokens.verify(token, now + 6 * 60_000)) as { problem: string }).problem, /"exp"/);
    assert.match(((await tokens.verify(token, now - 2 * 60_000)) as { problem: string }).problem, /"nbf"/);
  });

  test('a key file read back verifies the tokens it signed before (restart)', async () => {
    const reloaded = new TokenService({ key: await readSigningKey(path.join(dir, 'key.pem')), issuer: 'berth-test', service: 'registry.test', expiryMs: 300_000, refreshExpiryMs: 1000 });
    const verified = await reloaded.verify((await tokens.issue('alice', parseScopes(['repository:team/app:pull']))).token);
    assert.deepEqual(verified, { subject: 'alice', grants: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] });
    assert.ok((await readFile(path.join(dir, 'key.pem'), 'utf8')).includes('PRIVATE KEY'));
  });
});
