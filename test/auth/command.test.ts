import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir } from '../support/server.ts';
import { htpasswdLine } from '../support/htpasswd.ts';

// The berth command with an htpasswd file: a file Berth cannot use stops it before it listens.

const execFileAsync = promisify(execFile);
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
let dir: string;

before(async () => {
  dir = await makeTempDir('berth-auth-command-');
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function berth(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cli, ...args], { timeout: 30_000, env: { PATH: process.env.PATH } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

async function configWith(htpasswdText: string): Promise<string> {
  const htpasswd = path.join(dir, `htpasswd-${Math.random().toString(36).slice(2)}`);
  await writeFile(htpasswd, htpasswdText);
  const config = path.join(dir, `config-${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(config, `http:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\nauth:\n  htpasswd:\n    realm: test\n    path: ${htpasswd}\n`);
  return config;
}

test('berth serve refuses an htpasswd file with an MD5 hash, naming the line and user, and exits 2', async () => {
  const config = await configWith(`${await htpasswdLine('alice', 'pw')}\nbob:$apr1$Vd8ZD6Q7$cDPbXNtgdkyIz0m9y6Rw01\n`);
  const result = await berth(['serve', '--config', config]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /line 2 \(user "bob"\): an MD5 \(\$apr1\$\) hash/);
  assert.doesNotMatch(result.stderr, /cDPbXNtgdkyIz0m9y6Rw01/);
});

test('berth config check validates the htpasswd file too', async () => {
  const good = await berth(['config', 'check', '--quiet', '--config', await configWith(`${await htpasswdLine('alice', 'pw')}\n`)]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stderr, /1 user\(s\)/);
  const bad = await berth(['config', 'check', '--quiet', '--config', await configWith('carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /line 1 \(user "carol"\): a SHA-1/);
});

test('a distribution configuration with token auth whose certificate bundle is missing is refused rather than started open', async () => {
  const config = path.join(dir, 'token.yml');
  await writeFile(config, `http:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'token-data')}\nauth:\n  token:\n    realm: https://auth.example.com/token\n    service: registry\n    issuer: example\n    rootcertbundle: /x.pem\n`);
  const result = await berth(['serve', '--config', config]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /auth\.token\.rootcertbundle \/x\.pem cannot be read/);
  const check = await berth(['config', 'check', '--quiet', '--config', config]);
  assert.equal(check.code, 2);
  assert.match(check.stderr, /auth\.token\.rootcertbundle \/x\.pem cannot be read/);
});

test('a token service key that is not an EC P-256 or RSA private key stops the start', async () => {
  const key = path.join(dir, 'bad-key.pem');
  await writeFile(key, 'not a key');
  const config = path.join(dir, `token-service-${Math.random().toString(36).slice(2)}.yml`);
  const htpasswd = path.join(dir, 'htpasswd-token-service');
  await writeFile(htpasswd, `${await htpasswdLine('alice', 'pw')}\n`);
  await writeFile(config, `http:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'token-data')}\nauth:\n  htpasswd:\n    path: ${htpasswd}\n  tokenservice:\n    key: ${key}\n`);
  const result = await berth(['serve', '--config', config]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /token signing key .* is not a PEM private key/);
  const check = await berth(['config', 'check', '--quiet', '--config', config]);
  assert.equal(check.code, 2);
});

test('access rules without an authenticator are refused', async () => {
  const config = path.join(dir, 'rules-only.yml');
  await writeFile(config, "access:\n  rules:\n    - { repositories: ['**'], subjects: [anonymous], actions: [pull] }\n");
  const result = await berth(['config', 'check', '--config', config]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /access rules need an authenticator/);
});
