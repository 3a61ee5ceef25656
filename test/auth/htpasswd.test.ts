import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { HtpasswdAuthenticator, HtpasswdError, parseHtpasswd } from '../../src/auth/index.ts';
import { makeTempDir } from '../support/server.ts';
import { htpasswdLine, writeHtpasswd } from '../support/htpasswd.ts';

const basic = (username: string, password: string) => ({ kind: 'basic' as const, username, password });

function problemsOf(text: string): string[] {
  try {
    parseHtpasswd(text, 'test.htpasswd');
  } catch (error) {
    assert.ok(error instanceof HtpasswdError);
    return error.problems;
  }
  assert.fail('expected the file to be refused');
}

describe('htpasswd parsing', () => {
  test('bcrypt lines ($2y$ as htpasswd -B writes, $2a$, $2b$) are accepted; comments and blank lines are skipped', async () => {
    const y = await htpasswdLine('alice', 'a-secret');
    const a = `bob:${await hash('b-secret', { cost: 4, version: '2a' })}`;
    const b = `carol:${await hash('c-secret', { cost: 4, version: '2b' })}`;
    assert.match(y, /^alice:\$2y\$05\$/);
    const users = parseHtpasswd(`# team accounts\n\n${y}\r\n  \n${a}\n# another comment\n${b}\n`);
    assert.deepEqual([...users.keys()], ['alice', 'bob', 'carol']);
  });

  const refused: Array<[string, string, RegExp]> = [
    ['MD5 ($apr1$, plain htpasswd)', 'dave:$apr1$Vd8ZD6Q7$cDPbXNtgdkyIz0m9y6Rw01', /MD5 \(\$apr1\$\)/],
    ['SHA-1 ({SHA}, htpasswd -s)', 'dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', /SHA-1/],
    ['DES crypt (htpasswd -d)', 'dave:rEcMKvsOWOkEU', /DES crypt/],
    ['plain text (htpasswd -p)', 'dave:password123', /plain-text/],
    ['MD5-crypt ($1$)', 'dave:$1$abcdefgh$0123456789012345678901', /MD5-crypt/],
    ['SHA-crypt ($6$)', 'dave:$6$salt$' + 'a'.repeat(86), /SHA-crypt/],
    ['truncated bcrypt', 'dave:$2y$05$tooShort', /malformed bcrypt/],
  ];
  for (const [kind, line, pattern] of refused) {
    test(`a ${kind} hash is refused, naming the line number and the user but not the hash`, async () => {
      const good = await htpasswdLine('alice', 'a-secret');
      const problems = problemsOf(`# header\n${good}\n${line}\n`);
      assert.equal(problems.length, 1, problems.join(' | '));
      assert.match(problems[0]!, /^line 3 \(user "dave"\): /);
      assert.match(problems[0]!, pattern);
      assert.ok(!problems[0]!.includes(line.slice('dave:'.length)), 'the hash itself is not repeated');
    });
  }

  test('every bad line is reported at once, and lines without a user or colon are refused', async () => {
    const problems = problemsOf('nocolon\n:$2y$05$abc\neve:{SHA}x\n');
    assert.equal(problems.length, 3, problems.join(' | '));
    assert.match(problems[0]!, /^line 1: not of the form user:hash/);
    assert.match(problems[1]!, /^line 2: /);
    assert.match(problems[2]!, /^line 3 \(user "eve"\)/);
  });

  test('a user listed twice is refused', async () => {
    const line = await htpasswdLine('alice', 'x');
    assert.match(problemsOf(`${line}\n${line}\n`)[0]!, /line 2 \(user "alice"\): the user is listed twice/);
  });
});

describe('htpasswd authenticator', () => {
  let dir: string;
  let file: string;
  const logged: Array<{ details: object; message: string }> = [];
  const log = { error: (details: object, message: string) => logged.push({ details, message }), info: () => {} };

  before(async () => {
    dir = await makeTempDir('berth-htpasswd-');
    file = path.join(dir, 'htpasswd');
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('accepts the right password and refuses a wrong one or an unknown user', async () => {
    await writeHtpasswd(file, { alice: 'a-secret', bob: 'b-secret' });
    const authenticator = await HtpasswdAuthenticator.open({ path: file });
    assert.deepEqual(await authenticator.authenticate(basic('alice', 'a-secret')), { name: 'alice', groups: [], source: 'htpasswd' });
    assert.equal(await authenticator.authenticate(basic('alice', 'b-secret')), undefined);
    assert.equal(await authenticator.authenticate(basic('mallory', 'a-secret')), undefined);
    assert.equal(await authenticator.authenticate(basic('', '')), undefined);
  });

  test('an unknown user costs a bcrypt verification, like a known one', async () => {
    // Cost 10 makes one verification take tens of milliseconds: an unknown user answered
    // without bcrypt work would come back far faster than a known user with a wrong password.
    await writeFile(file, `${await htpasswdLine('alice', 'a-secret', 10)}\n`);
    const authenticator = await HtpasswdAuthenticator.open({ path: file });
    const time = async (user: string) => {
      const start = performance.now();
      for (let i = 0; i < 3; i++) await authenticator.authenticate(basic(user, 'wrong'));
      return performance.now() - start;
    };
    const known = await time('alice');
    const unknown = await time('nobody');
    assert.ok(unknown > known * 0.5, `unknown users took ${unknown.toFixed(1)} ms, known ${known.toFixed(1)} ms`);
  });

  test('a verified password is remembered: repeated requests of one login cost one bcrypt check', async () => {
    await writeHtpasswd(file, { alice: 'a-secret' });
    let checks = 0;
    const verify = async (password: string, stored: string) => {
      checks++;
      return (await import('@node-rs/bcrypt')).verify(password, stored);
    };
    const authenticator = await HtpasswdAuthenticator.open({ path: file, verify, recheckMs: 0 });
    for (let i = 0; i < 5; i++) assert.ok(await authenticator.authenticate(basic('alice', 'a-secret')));
    assert.equal(checks, 1, 'one bcrypt check for five requests');
    for (let i = 0; i < 3; i++) assert.equal(await authenticator.authenticate(basic('alice', 'wrong')), undefined);
    assert.equal(checks, 4, 'failures are never remembered');
  });

  test('a remembered login ends when the password changes or the user is removed', async () => {
    await writeHtpasswd(file, { alice: 'a-secret', bob: 'b-secret' });
    const authenticator = await HtpasswdAuthenticator.open({ path: file, recheckMs: 0 });
    assert.ok(await authenticator.authenticate(basic('alice', 'a-secret')));
    assert.ok(await authenticator.authenticate(basic('bob', 'b-secret')));
    await writeHtpasswd(file, { alice: 'new-secret' });
    assert.equal(await authenticator.authenticate(basic('alice', 'a-secret')), undefined, 'the old password no longer works');
    assert.ok(await authenticator.authenticate(basic('alice', 'new-secret')));
    assert.equal(await authenticator.authenticate(basic('bob', 'b-secret')), undefined, 'a removed user is refused');
  });

  test('remembering can be turned off', async () => {
    await writeHtpasswd(file, { alice: 'a-secret' });
    let checks = 0;
    const verify = async (password: string, stored: string) => {
      checks++;
      return (await import('@node-rs/bcrypt')).verify(password, stored);
    };
    const authenticator = await HtpasswdAuthenticator.open({ path: file, verify, rememberMs: 0 });
    for (let i = 0; i < 3; i++) assert.ok(await authenticator.authenticate(basic('alice', 'a-secret')));
    assert.equal(checks, 3);
  });

  test('a file that cannot be used stops the start', async () => {
    await writeFile(file, 'alice:$apr1$Vd8ZD6Q7$cDPbXNtgdkyIz0m9y6Rw01\n');
    await assert.rejects(HtpasswdAuthenticator.open({ path: file }), (error: HtpasswdError) => /line 1 \(user "alice"\)/.test(error.message));
    await assert.rejects(HtpasswdAuthenticator.open({ path: path.join(dir, 'missing') }), /cannot read|ENOENT/);
  });

  test('a changed file is reloaded; a broken change keeps the previous users and is logged without secrets', async () => {
    await writeHtpasswd(file, { alice: 'a-secret' });
    const authenticator = await HtpasswdAuthenticator.open({ path: file, log, recheckMs: 0 });
    assert.ok(await authenticator.authenticate(basic('alice', 'a-secret')));

    await writeHtpasswd(file, { bob: 'b-secret' });
    assert.ok(await authenticator.authenticate(basic('bob', 'b-secret')), 'the new user is known after the change');
    assert.equal(await authenticator.authenticate(basic('alice', 'a-secret')), undefined, 'the removed user is gone');

    await writeFile(file, 'bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n');
    assert.ok(await authenticator.authenticate(basic('bob', 'b-secret')), 'the previous users stay after a broken change');
    assert.equal(logged.length, 1);
    assert.match(logged[0]!.message, /keeping the previous users/);
    assert.match(JSON.stringify(logged[0]!.details), /line 1 \(user \\"bob\\"\)/);
    assert.ok(!JSON.stringify(logged[0]!.details).includes('W6ph5Mm5'), 'the hash is not logged');

    await writeHtpasswd(file, { carol: 'c-secret' });
    assert.ok(await authenticator.authenticate(basic('carol', 'c-secret')), 'a fixed file is picked up again');
  });

  test('changes are looked for at most once per recheck interval', async () => {
    await writeHtpasswd(file, { alice: 'a-secret' });
    const authenticator = await HtpasswdAuthenticator.open({ path: file, recheckMs: 60_000 });
    await writeHtpasswd(file, { bob: 'b-secret' });
    assert.ok(await authenticator.authenticate(basic('alice', 'a-secret')), 'within the interval the loaded users answer');
    assert.equal(await authenticator.authenticate(basic('bob', 'b-secret')), undefined);
  });
});
