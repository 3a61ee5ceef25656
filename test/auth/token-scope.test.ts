import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CATALOG_SCOPE, formatScope, parseScope, parseScopes, scopesOfClaim } from '../../src/auth/index.ts';

describe('token scope parsing', () => {
  test('repository scopes parse into a name and actions in the order pull, push, delete', () => {
    assert.deepEqual(parseScope('repository:team/app:push,pull'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('repository:a:delete'), { type: 'repository', name: 'a', actions: ['delete'] });
  });

  test('* stands for pull, push and delete; duplicate actions collapse', () => {
    assert.deepEqual(parseScope('repository:app:*')?.actions, ['pull', 'push', 'delete']);
    assert.deepEqual(parseScope('repository:app:pull,pull,push,pull')?.actions, ['pull', 'push']);
  });

  test('registry:catalog:* is the catalog scope and nothing else of type registry is', () => {
    assert.deepEqual(parseScope('registry:catalog:*'), CATALOG_SCOPE);
    assert.equal(parseScope('registry:catalog:pull'), undefined);
    assert.equal(parseScope('registry:other:*'), undefined);
  });

  test('path tricks and names outside the repository grammar are dropped', () => {
    for (const scope of [
      'repository:../x:push',
      'repository:team/../admin:push',
      'repository:./x:pull',
      'repository:/x:pull',
      'repository:x/:pull',
      'repository:team//app:pull',
      'repository:Team/App:pull',
      'repository:a%2Fb:pull',
      'repository::pull',
      `repository:${'a'.repeat(256)}:pull`,
    ]) {
      assert.equal(parseScope(scope), undefined, scope);
    }
  });

  test('a port-like colon in the name (repository:a:b:c) is outside the grammar', () => {
    assert.equal(parseScope('repository:a:b:c'), undefined);
    assert.equal(parseScope('repository:localhost:5000/app:pull'), undefined);
  });

  test('unknown types, resource classes, unknown or missing actions are dropped', () => {
    for (const scope of ['repositories:app:pull', 'repository(plugin):app:pull', 'repository:app:admin', 'repository:app:', 'repository:app', 'repository', '', 'repository:app:pull,']) {
      assert.equal(parseScope(scope), undefined, JSON.stringify(scope));
    }
  });

  test('several scopes (repeated or space-separated) merge per repository, invalid ones dropped', () => {
    const scopes = parseScopes(['repository:app:pull', 'repository:app:push repository:../x:push registry:catalog:*', 'repository:other:pull', 'repository:app:pull']);
    assert.deepEqual(scopes.map(formatScope), ['repository:app:pull,push', 'registry:catalog:*', 'repository:other:pull']);
  });

  test('a token access claim reads back into scopes; malformed claims are refused as a whole', () => {
    assert.deepEqual(scopesOfClaim([{ type: 'repository', name: 'app', actions: ['pull'] }, { type: 'repository', name: '../x', actions: ['push'] }]), [
      { type: 'repository', name: 'app', actions: ['pull'] },
    ]);
    assert.deepEqual(scopesOfClaim([{ type: 'repository', name: 'app', actions: [] }]), []);
    assert.equal(scopesOfClaim({ type: 'repository' }), undefined);
    assert.equal(scopesOfClaim([{ type: 'repository', name: 'app', actions: 'pull' }]), undefined);
    assert.equal(scopesOfClaim(['repository:app:pull']), undefined);
  });
});
