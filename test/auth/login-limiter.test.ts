import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginLimiter } from '../../src/auth/login-limiter.ts';
import { ClientNetwork, addressMatcher, cidrProblem, normalizeAddress } from '../../src/auth/network.ts';

const MINUTE = 60_000;

/** A limiter on a clock the test moves by hand. */
function limiterAt(settings: { account?: [number, number]; address?: [number, number]; maxEntries?: number } = {}) {
  const clock = { now: 1_000_000 };
  const [accountFailures, accountWindow] = settings.account ?? [3, 5 * MINUTE];
  const [addressFailures, addressWindow] = settings.address ?? [5, 5 * MINUTE];
  const limiter = new LoginLimiter({
    account: { failures: accountFailures, windowMs: accountWindow },
    address: { failures: addressFailures, windowMs: addressWindow },
    maxEntries: settings.maxEntries ?? 100,
    now: () => clock.now,
  });
  return { limiter, clock };
}

describe('login limiter', () => {
  test('an account is limited after its allowed failures, with the wait until the oldest failure leaves the window', () => {
    const { limiter, clock } = limiterAt({ account: [3, 5 * MINUTE] });
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(limiter.check('alice', '10.0.0.1'), { limited: false });
      limiter.failed('alice', `10.0.0.${i + 1}`);
      clock.now += 10_000;
    }
    // Failures at t0, t0+10 s, t0+20 s; now t0+30 s: the first leaves the window at t0+300 s.
    assert.deepEqual(limiter.check('alice', '10.9.9.9'), { limited: true, retryAfterSeconds: 270, by: 'account' });
    assert.deepEqual(limiter.check('bob', '10.9.9.9'), { limited: false }, 'another account from another address is untouched');
    clock.now += 269_999;
    assert.equal(limiter.check('alice', undefined).limited, true);
    clock.now += 1;
    assert.deepEqual(limiter.check('alice', undefined), { limited: false }, 'the window slides: the oldest failure has left it');
    limiter.failed('alice', undefined);
    assert.equal(limiter.check('alice', undefined).limited, true, 'the two failures still in the window and one new one reach the limit again');
  });

  test('an address is limited after its allowed failures across accounts, and other addresses are not', () => {
    const { limiter } = limiterAt({ account: [100, MINUTE], address: [4, MINUTE] });
    for (const user of ['a', 'b', 'c', 'd']) limiter.failed(user, '192.0.2.7');
    const check = limiter.check('someone-new', '192.0.2.7');
    assert.equal(check.limited, true);
    assert.equal(check.limited && check.by, 'address');
    assert.equal(check.limited && check.retryAfterSeconds, 60);
    assert.deepEqual(limiter.check('someone-new', '192.0.2.8'), { limited: false });
    assert.deepEqual(limiter.check('a', '192.0.2.8'), { limited: false }, 'one failure for the account is far below its limit');
  });

  test('the wait is rounded up to whole seconds and is at least one', () => {
    const { limiter, clock } = limiterAt({ account: [1, 1500] });
    limiter.failed('alice', undefined);
    assert.deepEqual(limiter.check('alice', undefined), { limited: true, retryAfterSeconds: 2, by: 'account' });
    clock.now += 1400;
    assert.deepEqual(limiter.check('alice', undefined), { limited: true, retryAfterSeconds: 1, by: 'account' });
  });

  test('each table keeps at most maxEntries keys, forgetting the least recently failed first', () => {
    const { limiter } = limiterAt({ account: [2, MINUTE], address: [1000, MINUTE], maxEntries: 3 });
    limiter.failed('old', '10.0.0.1');
    limiter.failed('old', '10.0.0.1');
    assert.equal(limiter.check('old', undefined).limited, true);
    limiter.failed('x', '10.0.0.2');
    limiter.failed('y', '10.0.0.3');
    limiter.failed('old', '10.0.0.1'); // touching it makes it the most recent again
    limiter.failed('z', '10.0.0.4');
    assert.deepEqual(limiter.size, { accounts: 3, addresses: 3 });
    assert.equal(limiter.check('old', undefined).limited, true, 'recently failed: kept');
    limiter.failed('w', '10.0.0.5');
    limiter.failed('v', '10.0.0.6');
    limiter.failed('u', '10.0.0.7');
    assert.deepEqual(limiter.size, { accounts: 3, addresses: 3 }, 'never more than maxEntries');
    assert.deepEqual(limiter.check('old', undefined), { limited: false }, 'evicted: forgotten');
  });

  test('expired failures are dropped, so idle keys do not accumulate', () => {
    const { limiter, clock } = limiterAt({ account: [2, MINUTE], address: [2, MINUTE] });
    limiter.failed('alice', '10.0.0.1');
    clock.now += MINUTE;
    limiter.check('alice', '10.0.0.1');
    assert.deepEqual(limiter.size, { accounts: 0, addresses: 0 });
  });

  test('nonsensical limits are refused', () => {
    assert.throws(() => new LoginLimiter({ account: { failures: 0, windowMs: 1000 }, address: { failures: 1, windowMs: 1000 }, maxEntries: 10 }), /per account/);
  });
});

describe('client networks', () => {
  test('CIDRs match IPv4, IPv6 and IPv4-mapped IPv6 addresses', () => {
    const matches = addressMatcher(['10.0.0.0/8', '::1/128', 'fd00::/8', '192.0.2.5']);
    assert.equal(matches('10.200.1.1'), true);
    assert.equal(matches('::ffff:10.1.2.3'), true, 'an IPv4 peer on a dual-stack socket');
    assert.equal(matches('11.0.0.1'), false);
    assert.equal(matches('::1'), true);
    assert.equal(matches('0:0:0:0:0:0:0:1'), true, 'written out in full');
    assert.equal(matches('fd12:3456::1'), true);
    assert.equal(matches('fe80::1'), false);
    assert.equal(matches('192.0.2.5'), true, 'a bare address is a /32');
    assert.equal(matches('192.0.2.6'), false);
    assert.equal(matches(undefined), false);
    assert.equal(matches('not-an-address'), false);
    assert.equal(addressMatcher(['::ffff:127.0.0.0/104'])('127.0.0.1'), true, 'a mapped network is its IPv4 network');
  });

  test('unusable CIDRs are named', () => {
    assert.equal(cidrProblem('10.0.0.0/8'), undefined);
    assert.equal(cidrProblem('::/0'), undefined);
    assert.match(cidrProblem('10.0.0.0/33')!, /0 to 32/);
    assert.match(cidrProblem('fd00::/129')!, /0 to 128/);
    assert.match(cidrProblem('example.com')!, /not an IP address/);
    assert.throws(() => addressMatcher(['10.0.0.0/x']), /prefix/);
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('::1'), '::1');
  });

  test('X-Forwarded-For is believed only from trusted proxies, taking the right-most untrusted address', () => {
    const network = new ClientNetwork({ trustedproxies: ['10.0.0.0/8'] });
    assert.equal(network.clientAddress('::ffff:10.0.0.2', '198.51.100.1, 203.0.113.9, 10.0.0.7'), '203.0.113.9', 'the address the outer proxy saw, not what the client wrote');
    assert.equal(network.clientAddress('10.0.0.2', ['198.51.100.1', '10.0.0.7']), '198.51.100.1', 'several headers are one list');
    assert.equal(network.clientAddress('10.0.0.2', '10.0.0.9, 10.0.0.7'), '10.0.0.9', 'all trusted: the left-most');
    assert.equal(network.clientAddress('10.0.0.2', 'garbage, 10.0.0.7'), '10.0.0.7', 'an unreadable entry ends the walk');
    assert.equal(network.clientAddress('10.0.0.2', '::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(network.clientAddress('10.0.0.2', undefined), '10.0.0.2');
    assert.equal(network.clientAddress('203.0.113.50', '10.0.0.1'), '203.0.113.50', 'an untrusted peer cannot claim an address');
    assert.equal(new ClientNetwork().clientAddress('::ffff:127.0.0.1', '10.0.0.1'), '127.0.0.1', 'no trusted proxies: the socket peer');
  });

  test('the allowlist admits only its networks; without one everyone', () => {
    const network = new ClientNetwork({ allow: ['10.0.0.0/8', '::1/128'] });
    assert.equal(network.allows('10.1.1.1'), true);
    assert.equal(network.allows('::1'), true);
    assert.equal(network.allows('127.0.0.1'), false);
    assert.equal(network.allows(undefined), false);
    assert.equal(new ClientNetwork({ allow: [] }).allows('203.0.113.1'), true);
  });
});
