import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileRepositoryPattern, DEFAULT_RULES, RuleAccessPolicy, type Identity } from '../../src/auth/index.ts';

const user = (name: string, groups: string[] = []): Identity => ({ name, groups, source: 'test' });
const sorted = (actions: ReadonlySet<string>) => [...actions].sort();

describe('repository patterns', () => {
  const cases: Array<[string, string, boolean]> = [
    ['team/*', 'team/app', true],
    ['team/*', 'team/app/sub', false],
    ['team/*', 'team', false],
    ['team/*', 'teams/app', false],
    ['*/*', 'a/b', true],
    ['*/*', 'a', false],
    ['*/*', 'a/b/c', false],
    ['**', 'a', true],
    ['**', 'a/b/c/d', true],
    ['team/**', 'team/a/b', true],
    ['team/**', 'team', true],
    ['team/**', 'other/a', false],
    ['**/cache', 'cache', true],
    ['**/cache', 'a/b/cache', true],
    ['**/cache', 'a/b/cache/x', false],
    ['a/**/z', 'a/z', true],
    ['a/**/z', 'a/b/c/z', true],
    ['a/**/z', 'a/b/c/y', false],
    ['team/app-*', 'team/app-web', true],
    ['team/app-*', 'team/db', false],
    ['exact/name', 'exact/name', true],
    ['exact/name', 'exact/names', false],
    ['a.b', 'axb', false],
  ];
  for (const [pattern, name, expected] of cases) {
    test(`${pattern} ${expected ? 'matches' : 'does not match'} ${name}`, () => {
      assert.equal(compileRepositoryPattern(pattern)(name), expected);
    });
  }

  test('malformed patterns are refused', () => {
    for (const bad of ['', 'team//app', '/team', 'team/', 'te**am', 'team/a**']) {
      assert.throws(() => compileRepositoryPattern(bad), Error, bad);
    }
  });

  const component = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, { maxLength: 12 });
  test('property: * never crosses a /', () => {
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 4 }), fc.array(component, { minLength: 1, maxLength: 4 }), (prefix, rest) => {
        const pattern = `${prefix.join('/')}/*`;
        const matches = compileRepositoryPattern(pattern);
        const name = [...prefix, ...rest].join('/');
        // `prefix/*` matches exactly one more component, whatever characters it has.
        assert.equal(matches(name), rest.length === 1, `${pattern} vs ${name}`);
        assert.equal(compileRepositoryPattern('*')(name), prefix.length + rest.length === 1);
      }),
    );
  });

  test('property: ** matches every name below its prefix and nothing outside it', () => {
    fc.assert(
      fc.property(component, fc.array(component, { maxLength: 5 }), component, (top, rest, other) => {
        fc.pre(other !== top);
        const matches = compileRepositoryPattern(`${top}/**`);
        assert.equal(matches([top, ...rest].join('/')), true);
        assert.equal(matches([other, ...rest].join('/')), false);
      }),
    );
  });
});

describe('access rules', () => {
  const policy = new RuleAccessPolicy(
    [
      { repositories: ['team/*'], subjects: ['group:devs', 'user:alice'], actions: ['pull', 'push'] },
      { repositories: ['**'], subjects: ['authenticated'], actions: ['pull'] },
      { repositories: ['public/*'], subjects: ['anonymous'], actions: ['pull'] },
      { repositories: ['scratch/**'], subjects: ['user:carol'], actions: ['*'] },
    ],
    { personalNamespace: true },
  );

  test('a named user gets the union of the rules that match', () => {
    assert.deepEqual(sorted(policy.actionsOn(user('alice'), 'team/app')), ['pull', 'push']);
    assert.deepEqual(sorted(policy.actionsOn(user('alice'), 'other/app')), ['pull']);
  });

  test('group subjects match members of the group only', () => {
    assert.deepEqual(sorted(policy.actionsOn(user('dave', ['devs']), 'team/app')), ['pull', 'push']);
    assert.deepEqual(sorted(policy.actionsOn(user('erin', ['ops']), 'team/app')), ['pull']);
  });

  test('anonymous gets only what anonymous rules give; authenticated rules do not apply to it', () => {
    assert.deepEqual(sorted(policy.actionsOn(undefined, 'public/app')), ['pull']);
    assert.deepEqual(sorted(policy.actionsOn(undefined, 'team/app')), []);
    assert.deepEqual(sorted(policy.actionsOn(undefined, 'public/app/deeper')), []);
  });

  test('* stands for pull, push and delete', () => {
    assert.deepEqual(sorted(policy.actionsOn(user('carol'), 'scratch/a/b')), ['delete', 'pull', 'push']);
  });

  test('the personal namespace gives each user everything on <user>/* and nothing on other users’ namespaces', () => {
    assert.deepEqual(sorted(policy.actionsOn(user('bob'), 'bob/tool')), ['delete', 'pull', 'push']);
    assert.deepEqual(sorted(policy.actionsOn(user('bob'), 'alice/tool')), ['pull']);
    assert.deepEqual(sorted(policy.actionsOn(user('bob'), 'bob/tool/deeper')), ['pull']);
    assert.deepEqual(sorted(policy.actionsOn(undefined, 'bob/tool')), []);
  });

  test('listing filters: none needed when a ** rule grants pull, otherwise exactly the pullable names', () => {
    assert.equal(policy.pullableRepositories(user('bob')), undefined);
    const anonymous = policy.pullableRepositories(undefined)!;
    assert.deepEqual(['a/b', 'public/x', 'team/app'].filter(anonymous), ['public/x']);
  });

  test('the default rules let every authenticated user pull and push everything, and anonymous nothing', () => {
    const defaults = new RuleAccessPolicy(DEFAULT_RULES);
    assert.deepEqual(sorted(defaults.actionsOn(user('anyone'), 'any/repo/at/all')), ['pull', 'push']);
    assert.deepEqual(sorted(defaults.actionsOn(undefined, 'any/repo')), []);
  });

  test('malformed subjects and actions are refused', () => {
    assert.throws(() => new RuleAccessPolicy([{ repositories: ['**'], subjects: ['alice'], actions: ['pull'] }]), /subject/);
    assert.throws(() => new RuleAccessPolicy([{ repositories: ['**'], subjects: ['anonymous'], actions: ['write'] }]), /action/);
  });
});
