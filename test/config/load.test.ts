import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { makeTempDir } from '../support/server.ts';

const run = promisify(execFile);
const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;

async function withConfigFile(yaml: string, body: (file: string) => Promise<void> | void): Promise<void> {
  const dir = await makeTempDir('berth-config-');
  const file = path.join(dir, 'config.yml');
  await writeFile(file, yaml);
  try {
    await body(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function problemsOf(action: () => unknown): string[] {
  try {
    action();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

const distributionConfig = `
version: 0.1
log:
  level: debug
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  host: https://registry.example.com
  secret: asecretforlocaldevelopment
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

test('a CNCF distribution config.yml loads with the same meaning, and keys Berth ignores are reported', async () => {
  await withConfigFile(distributionConfig, (file) => {
    const { config, warnings } = loadConfig({ file, env: {} });
    assert.equal(config.storage.filesystem.rootdirectory, '/var/lib/registry');
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.http.addr, ':5000');
    assert.equal(config.http.host, 'https://registry.example.com');
    assert.deepEqual(config.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.equal(config.log.level, 'debug');
    for (const key of ['log.fields', 'http.secret', 'storage.cache', 'health']) {
      assert.ok(warnings.some((w) => w.startsWith(`${key} is ignored`)), `no warning for ${key}: ${warnings.join(' | ')}`);
    }
  });
});

test('distribution keys that would change access or storage are refused, not ignored', async () => {
  await withConfigFile(`${distributionConfig}\nauth:\n  silly:\n    realm: r\n    service: s\n  token:\n    realm: https://auth.example.com/token\n    service: registry\n    issuer: example\n    autoredirect: true\n`, (file) => {
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    assert.ok(problems.some((p) => p.startsWith('auth.silly:')), problems.join(' | '));
  });
  await withConfigFile(`${distributionConfig}\nauth:\n  silly:\n    realm: r\n    service: s\n`, (file) => {
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    assert.ok(problems.some((p) => p.startsWith('auth.silly:')), problems.join(' | '));
  });
  await withConfigFile('storage:\n  s3:\n    bucket: b\n', (file) => {
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    assert.ok(problems.some((p) => p.startsWith('storage.s3:')), problems.join(' | '));
  });
});

test("distribution's auth.token loads as external token verification; without keys, with autoredirect or beside htpasswd it is refused", async () => {
  const token = '    realm: https://auth.example.com/token\n    service: registry\n    issuer: example\n';
  await withConfigFile(`${distributionConfig}\nauth:\n  token:\n${token}    rootcertbundle: /etc/bundle.pem\n    autoredirect: false\n`, (file) => {
    const { config } = loadConfig({ file, env: {} });
    assert.equal(config.auth?.token?.rootcertbundle, '/etc/bundle.pem');
    assert.equal(config.auth?.token?.issuer, 'example');
  });
  const refused: Array<[string, RegExp]> = [
    [`auth:\n  token:\n${token}`, /rootcertbundle or jwks/],
    [`auth:\n  token:\n${token}    jwks: /etc/jwks.json\n    autoredirect: true\n`, /autoredirect is not implemented/],
    [`auth:\n  htpasswd:\n    path: /etc/htpasswd\n  token:\n${token}    jwks: /etc/jwks.json\n`, /cannot be combined/],
  ];
  for (const [yaml, expected] of refused) {
    await withConfigFile(yaml, (file) => {
      const problems = problemsOf(() => loadConfig({ file, env: {} }));
      assert.ok(problems.some((p) => p.startsWith('auth.token') && expected.test(p)), problems.join(' | '));
    });
  }
});

test('auth.users alone is an authenticator for access rules and the token service; disabled it is none, and auth.token excludes it', async () => {
  const rules = "access:\n  rules:\n    - { repositories: ['**'], subjects: ['group:devs'], actions: [pull] }\n";
  await withConfigFile(`auth:\n  users: {}\n  tokenservice: {}\n${rules}`, (file) => {
    const { config } = loadConfig({ file, env: {} });
    assert.deepEqual(config.auth?.users, { enabled: true, realm: 'berth', remember: 5 * 60_000 });
  });
  const refused: Array<[string, string, RegExp]> = [
    [`auth:\n  users:\n    enabled: false\n${rules}`, 'access', /access rules need an authenticator; configure auth.htpasswd, auth.ldap or auth.users/],
    ['auth:\n  users:\n    enabled: false\n  tokenservice: {}\n', 'auth.tokenservice', /needs an authenticator/],
    ['auth:\n  users: {}\n  token:\n    realm: https://auth.example.com/token\n    service: registry\n    issuer: example\n    jwks: /etc/jwks.json\n', 'auth.token', /cannot be combined with auth.htpasswd, auth.ldap, auth.users/],
  ];
  for (const [yaml, key, expected] of refused) {
    await withConfigFile(yaml, (file) => {
      const problems = problemsOf(() => loadConfig({ file, env: {} }));
      assert.ok(problems.some((p) => p.startsWith(key) && expected.test(p)), problems.join(' | '));
    });
  }
});

test('validation errors name the key and say what is wrong', async () => {
  await withConfigFile('http:\n  addr: nowhere\n  draintimeout: soon\nstorage:\n  delete:\n    enabled: "perhaps"\n  filesystm: {}\nlimits:\n  pagesize: -5\n', (file) => {
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    const byKey = (key: string) => problems.find((p) => p.startsWith(`${key}:`));
    assert.match(byKey('http.addr') ?? '', /HOST:PORT/);
    assert.match(byKey('http.draintimeout') ?? '', /not a duration/);
    assert.ok(byKey('storage.delete.enabled'), problems.join(' | '));
    assert.match(byKey('storage.filesystm') ?? '', /unknown key/);
    assert.ok(byKey('limits.pagesize'), problems.join(' | '));
  });
});

test('malformed YAML and a top level that is not a mapping are reported, not thrown raw', async () => {
  await withConfigFile('http: [unclosed\n', (file) => {
    assert.match(problemsOf(() => loadConfig({ file, env: {} }))[0]!, /not valid YAML/);
  });
  await withConfigFile('- a\n- b\n', (file) => {
    assert.match(problemsOf(() => loadConfig({ file, env: {} }))[0]!, /mapping/);
  });
  assert.match(problemsOf(() => loadConfig({ file: '/nonexistent/berth.yml', env: {} }))[0]!, /cannot read/);
});

test('environment variables override the file, BERTH_ over REGISTRY_, and command-line flags override both', async () => {
  await withConfigFile('storage:\n  delete:\n    enabled: false\n  filesystem:\n    rootdirectory: /from/file\n', (file) => {
    const env = {
      BERTH_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_HTTP_ADDR: '127.0.0.1:6000',
      BERTH_LIMITS_PAGESIZE: '250',
      REGISTRY_LIMITS_PAGESIZE: '999',
      BERTH_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/from/env',
    };
    const fromEnv = loadConfig({ file, env }).config;
    assert.equal(fromEnv.storage.delete.enabled, true);
    assert.equal(fromEnv.http.addr, '127.0.0.1:6000');
    assert.equal(fromEnv.limits.pagesize, 250);
    assert.equal(fromEnv.storage.filesystem.rootdirectory, '/from/env');
    const withFlags = loadConfig({ file, env, overrides: { listen: '127.0.0.1:7000', data: '/from/flag' } }).config;
    assert.equal(withFlags.http.addr, '127.0.0.1:7000');
    assert.equal(withFlags.storage.filesystem.rootdirectory, '/from/flag');
  });
});

test('an environment variable that matches no key is reported, and a bad value names the key', () => {
  const { warnings } = loadConfig({ env: { BERTH_STORAGE_DELEET_ENABLED: 'true' } });
  assert.ok(warnings.some((w) => w.includes('BERTH_STORAGE_DELEET_ENABLED')), warnings.join(' | '));
  const problems = problemsOf(() => loadConfig({ env: { BERTH_CACHE_MANIFESTBYTES: 'lots' } }));
  assert.ok(problems.some((p) => p.startsWith('cache.manifestbytes:')), problems.join(' | '));
});

test('safe defaults: deletes off, fsync on, listening on loopback only, 4 MiB manifests', () => {
  const { config } = loadConfig({ env: {} });
  assert.equal(config.storage.delete.enabled, false);
  assert.equal(config.storage.fsync, true);
  assert.equal(config.http.addr, '127.0.0.1:5000');
  assert.equal(config.limits.manifestbytes, 4 * 1024 * 1024);
  assert.equal(config.http.tls, undefined);
});

test('`berth config check` exits 0 on a valid file and 2 naming the key on an invalid one', async () => {
  await withConfigFile('storage:\n  delete:\n    enabled: true\n', async (file) => {
    const { stdout, stderr } = await run(process.execPath, [cli, 'config', 'check', '--config', file]);
    assert.equal(JSON.parse(stdout).storage.delete.enabled, true);
    assert.match(stderr, /is valid/);
  });
  await withConfigFile('http:\n  addr: 5000\n', async (file) => {
    const failure = await run(process.execPath, [cli, 'config', 'check', '--config', file]).then(
      () => assert.fail('config check accepted an invalid file'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failure.code, 2);
    assert.match(failure.stderr, /http\.addr/);
  });
});
