import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { killRunningCommands, run, runExpectingFailure } from '../support/clients.ts';
import { basicAuth, writeHtpasswd } from '../support/htpasswd.ts';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.ts';
import { DATABASE_RULES_TTL_MS, DatabaseRulesPolicy } from '../../src/auth/index.ts';
import { openSqliteStore, type SqlMetadataStore } from '../../src/metadata/index.ts';

// Access rules in the database: added and removed with `berth access …` against the data
// directory of a running in-process Berth (a second SQLite connection) with htpasswd users,
// and applied alongside the rules of the config file within the cache TTL, without a restart.

const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** The berth command, asynchronously (the server answering in this process must not block). */
function berth(dataDir: string, args: string[]) {
  return run(process.execPath, [cli, ...args, '--data', dataDir], { env: { PATH: process.env.PATH }, timeoutMs: 60_000 });
}
function berthFails(dataDir: string, args: string[]) {
  return runExpectingFailure(process.execPath, [cli, ...args, '--data', dataDir], { env: { PATH: process.env.PATH }, timeoutMs: 60_000 });
}

interface ListedRule {
  id: number;
  repositories: string[];
  subjects: string[];
  actions: string[];
  from?: string[];
}

async function listRules(dataDir: string): Promise<ListedRule[]> {
  return JSON.parse((await berth(dataDir, ['access', 'list', '--json'])).stdout) as ListedRule[];
}

/** Polls `probe` until it returns `wanted`, for several cache lifetimes; the last value otherwise. */
async function eventually<T>(probe: () => Promise<T>, wanted: T, timeoutMs = DATABASE_RULES_TTL_MS * 5 + 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (value !== wanted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await probe();
  }
  return value;
}

const PASSWORDS = { alice: 'alice-pw', bob: 'bob-pw' } as const;
type User = keyof typeof PASSWORDS;

// The config file: everyone authenticated pulls; bob pushes to shared/*.
const CONFIG_RULES = [
  { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
  { repositories: ['shared/*'], subjects: ['user:bob'], actions: ['pull', 'push'] },
];

describe('access rules in the database over HTTP and on the command line', { timeout: 180_000 }, () => {
  let server: TestServer;
  let htpasswdDir: string;

  /** Status of starting a blob upload (push access) as the user (body consumed). */
  const pushStatus = async (user: User, repository: string) => {
    const response = await fetch(`${server.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { authorization: basicAuth(user, PASSWORDS[user]) } });
    await response.arrayBuffer();
    return response.status;
  };

  before(async () => {
    htpasswdDir = await makeTempDir('berth-rules-htpasswd-');
    const htpasswd = path.join(htpasswdDir, 'htpasswd');
    await writeHtpasswd(htpasswd, PASSWORDS);
    server = await startTestServer({ config: { auth: { htpasswd: { realm: 'berth', path: htpasswd } }, access: { rules: CONFIG_RULES } } });
  });

  after(async () => {
    killRunningCommands();
    await server?.close();
    if (htpasswdDir) await rm(htpasswdDir, { recursive: true, force: true });
  });

  test('a rule added with berth access add grants push from the next requests, alongside the config rules, and berth access remove takes it away', async () => {
    assert.equal(await pushStatus('alice', 'team/app'), 403, 'the config rules give alice pull only');
    assert.equal(await pushStatus('bob', 'shared/lib'), 202);

    const added = await berth(server.dataDir, ['access', 'add', '--repositories', 'team/*', '--subjects', 'user:alice', '--actions', 'pull,push', '--note', 'team app']);
    const id = Number(/added access rule (\d+)/.exec(added.stdout)?.[1]);
    assert.ok(id > 0, added.stdout);
    assert.deepEqual(
      (await listRules(server.dataDir)).map((rule) => [rule.id, rule.repositories, rule.subjects, rule.actions]),
      [[id, ['team/*'], ['user:alice'], ['pull', 'push']]],
    );

    assert.equal(await eventually(() => pushStatus('alice', 'team/app'), 202), 202, 'the database rule applies without a restart');
    // The union: the config rules still apply, and the new rule is only alice's and only team/*.
    assert.equal(await pushStatus('bob', 'shared/lib'), 202);
    assert.equal(await pushStatus('bob', 'team/app'), 403);
    assert.equal(await pushStatus('alice', 'shared/lib'), 403);
    assert.equal(await pushStatus('alice', 'team/deeper/app'), 403, '* matches within one path component');

    assert.match((await berth(server.dataDir, ['access', 'remove', String(id)])).stdout, new RegExp(`removed access rule ${id}`));
    assert.deepEqual(await listRules(server.dataDir), []);
    assert.equal(await eventually(() => pushStatus('alice', 'team/app'), 403), 403, 'the removed rule stops applying without a restart');
    assert.equal(await pushStatus('bob', 'shared/lib'), 202);

    const again = await berthFails(server.dataDir, ['access', 'remove', String(id)]);
    assert.equal(again.exitCode, 1);
    assert.match(again.stderr, /no access rule with id/);
  });

  test('berth access add refuses an invalid rule with exit code 2, naming the field, and stores nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--repositories', 'team/*', '--subjects', 'devs', '--actions', 'pull'], /subjects\.0: must be user:NAME/],
      [['--repositories', 'team/*', '--subjects', 'user:alice', '--actions', 'pull,fly'], /actions\.1:/],
      [['--repositories', 'team/a**', '--subjects', 'user:alice', '--actions', 'pull'], /repositories\.0:/],
      [['--repositories', 'team/*', '--subjects', 'user:alice', '--actions', 'pull', '--from', '10.0.0.0/33'], /from\.0:.*prefix length/],
      [['--repositories', ',', '--subjects', 'user:alice', '--actions', 'pull'], /repositories:/],
    ];
    for (const [args, message] of cases) {
      const failed = await berthFails(server.dataDir, ['access', 'add', ...args]);
      assert.equal(failed.exitCode, 2, `${args.join(' ')}: ${failed.stderr}`);
      assert.match(failed.stderr, message);
    }
    const badId = await berthFails(server.dataDir, ['access', 'remove', 'first']);
    assert.equal(badId.exitCode, 2);
    assert.match(badId.stderr, /id: "first" is not a rule id/);
    assert.deepEqual(await listRules(server.dataDir), []);
  });
});

describe('the policy joining config and database rules', () => {
  let dir: string;
  let store: SqlMetadataStore;
  const alice = { name: 'alice', groups: [], source: 'htpasswd' };

  before(async () => {
    dir = await makeTempDir('berth-rules-policy-');
    store = await openSqliteStore({ path: path.join(dir, 'metadata.db'), fsync: false });
  });

  after(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('without rules in the config file, one rule in the database ends the default rule: only rules apply then', async () => {
    let now = 0;
    let queries = 0;
    const counted = { listAccessRules: () => (queries++, store.listAccessRules()) };
    const policy = new DatabaseRulesPolicy({ configRules: undefined, store: counted, ttlMs: 2000, now: () => now });
    await policy.refresh();
    assert.deepEqual([...policy.actionsOn(alice, 'any/thing')].sort(), ['pull', 'push'], 'no rules anywhere: authenticated users pull and push');

    const rule = await store.createAccessRule({ repositories: ['docs/*'], subjects: ['user:bob'], actions: ['pull'], createdAt: 1 });
    now = 1999;
    await policy.refresh();
    assert.equal(queries, 1, 'within the TTL the cached rules are used, without a query');
    assert.deepEqual([...policy.actionsOn(alice, 'any/thing')].sort(), ['pull', 'push']);
    now = 2000;
    await Promise.all([policy.refresh(), policy.refresh()]);
    assert.equal(queries, 2, 'concurrent refreshes share one query');
    assert.deepEqual([...policy.actionsOn(alice, 'any/thing')], [], 'a database rule exists: the default rule no longer applies');
    assert.deepEqual([...policy.actionsOn({ name: 'bob', groups: [], source: 'htpasswd' }, 'docs/a')], ['pull']);

    assert.equal(await store.deleteAccessRule(rule.id), true);
    now = 4000;
    await policy.refresh();
    assert.deepEqual([...policy.actionsOn(alice, 'any/thing')].sort(), ['pull', 'push'], 'the last rule removed: the default applies again');
  });

  test('an invalid row in the database is ignored and logged, with the same validation as the config file; valid rows still apply', async () => {
    const logged: Array<{ details: object; message: string }> = [];
    const log = { error: (details: object, message: string) => logged.push({ details, message }), info: () => {} };
    const bad = await store.createAccessRule({ repositories: ['**'], subjects: ['everyone'], actions: ['pull', 'push'], createdAt: 1 });
    const good = await store.createAccessRule({ repositories: ['team/*'], subjects: ['user:alice'], actions: ['push'], createdAt: 2 });
    try {
      const policy = new DatabaseRulesPolicy({ configRules: [{ repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] }], store, log });
      await policy.refresh();
      assert.deepEqual([...policy.actionsOn(alice, 'team/app')].sort(), ['pull', 'push'], 'the union of the config rule and the valid database rule');
      assert.deepEqual([...policy.actionsOn(undefined, 'team/app')], [], 'the invalid rule (subject "everyone") grants nothing');
      assert.equal(logged.length, 1);
      assert.match(JSON.stringify(logged[0]), /subjects\.0/);
    } finally {
      await store.deleteAccessRule(bad.id);
      await store.deleteAccessRule(good.id);
    }
  });
});
