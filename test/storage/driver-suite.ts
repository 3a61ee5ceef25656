import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { StorageNotFoundError, type StorageDriver } from '../../src/storage/index.ts';

export interface DriverHarness {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

async function readAll(driver: StorageDriver, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await driver.read(key, range)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Streams `size` deterministic bytes in 1 MiB chunks without holding them all. */
function generated(size: number, seed: number): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + seed) & 0xff;
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const piece = block.subarray(0, Math.min(block.length, size - sent));
      sent += piece.length;
      hash.update(piece);
      this.push(piece);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/**
 * The behaviour every storage driver must have. Each backend's test file calls this
 * with a factory for a fresh, empty driver.
 */
export function runDriverSuite(name: string, create: () => Promise<DriverHarness>): void {
  describe(`storage driver conformance: ${name}`, () => {
    let harness: DriverHarness;
    let driver: StorageDriver;
    before(async () => {
      harness = await create();
      driver = harness.driver;
    });
    after(async () => {
      await harness.cleanup();
    });

    it('puts a small object and reads it back with its size', async () => {
      await driver.put('small/a', Buffer.from('hello'));
      assert.equal((await driver.stat('small/a'))?.size, 5);
      assert.equal((await readAll(driver, 'small/a')).toString(), 'hello');
    });

    it('reports a missing key as undefined on stat and StorageNotFoundError on read', async () => {
      assert.equal(await driver.stat('missing/key'), undefined);
      await assert.rejects(driver.read('missing/key'), StorageNotFoundError);
    });

    it('reads inclusive byte ranges', async () => {
      await driver.put('ranges/a', Buffer.from('0123456789'));
      assert.equal((await readAll(driver, 'ranges/a', { start: 2, end: 5 })).toString(), '2345');
      assert.equal((await readAll(driver, 'ranges/a', { start: 9, end: 9 })).toString(), '9');
      assert.equal((await readAll(driver, 'ranges/a', { start: 0, end: 9 })).toString(), '0123456789');
    });

    it('appends streams to an object, creating it on the first append', async () => {
      assert.equal(await driver.append('append/a', Readable.from([Buffer.from('abc')])), 3);
      assert.equal(await driver.append('append/a', Readable.from([Buffer.from('de'), Buffer.from('f')])), 6);
      assert.equal((await readAll(driver, 'append/a')).toString(), 'abcdef');
    });

    it('truncates an object back to a known size', async () => {
      await driver.append('truncate/a', Readable.from([Buffer.from('keep-drop')]));
      await driver.truncate('truncate/a', 4);
      assert.equal((await readAll(driver, 'truncate/a')).toString(), 'keep');
      assert.equal((await driver.stat('truncate/a'))?.size, 4);
    });

    it('rejects an append whose source fails and keeps what was there before after a truncate', async () => {
      await driver.put('failing/a', Buffer.from('base'));
      const source = new Readable({
        read() {
          this.push(Buffer.from('partial'));
          this.destroy(new Error('client went away'));
        },
      });
      await assert.rejects(driver.append('failing/a', source), /client went away/);
      await driver.truncate('failing/a', 4);
      assert.equal((await readAll(driver, 'failing/a')).toString(), 'base');
    });

    it('commits an object to a new key and removes the source', async () => {
      await driver.append('commit/src', Readable.from([Buffer.from('content')]));
      await driver.commit('commit/src', 'commit/dst/data');
      assert.equal(await driver.stat('commit/src'), undefined);
      assert.equal((await readAll(driver, 'commit/dst/data')).toString(), 'content');
    });

    it('keeps the existing target when committing onto a key that exists (content addressing)', async () => {
      await driver.put('dedupe/dst', Buffer.from('first'));
      await driver.put('dedupe/src', Buffer.from('second'));
      await driver.commit('dedupe/src', 'dedupe/dst');
      assert.equal((await readAll(driver, 'dedupe/dst')).toString(), 'first');
      assert.equal(await driver.stat('dedupe/src'), undefined);
    });

    it('survives concurrent commits of the same content to one key', async () => {
      const sources = Array.from({ length: 8 }, (_, i) => `race/src-${i}`);
      await Promise.all(sources.map((key) => driver.put(key, Buffer.from('same bytes'))));
      await Promise.all(sources.map((key) => driver.commit(key, 'race/dst')));
      assert.equal((await readAll(driver, 'race/dst')).toString(), 'same bytes');
      for (const key of sources) assert.equal(await driver.stat(key), undefined);
    });

    it('deletes objects, and deleting a missing key is not an error', async () => {
      await driver.put('delete/a', Buffer.from('x'));
      await driver.delete('delete/a');
      assert.equal(await driver.stat('delete/a'), undefined);
      await driver.delete('delete/a');
    });

    it('lists every key under a prefix and nothing outside it', async () => {
      await driver.put('list/x/1', Buffer.from('1'));
      await driver.put('list/x/2/deep', Buffer.from('2'));
      await driver.put('list/y/3', Buffer.from('3'));
      const keys: string[] = [];
      for await (const key of driver.list('list/x/')) keys.push(key);
      assert.deepEqual(keys.sort(), ['list/x/1', 'list/x/2/deep']);
      const none: string[] = [];
      for await (const key of driver.list('list/none/')) none.push(key);
      assert.deepEqual(none, []);
    });

    it('lists many keys', async () => {
      await Promise.all(Array.from({ length: 1200 }, (_, i) => driver.put(`many/${String(i).padStart(4, '0')}`, Buffer.from('m'))));
      let count = 0;
      for await (const _key of driver.list('many/')) count++;
      assert.equal(count, 1200);
    });

    it('refuses keys that could escape its root', async () => {
      for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', 'a/./b']) {
        await assert.rejects(driver.put(key, Buffer.from('x')), /unsafe storage key/, key);
      }
    });

    it('stores a large object streamed in and reads it back bit for bit', async () => {
      const size = 24 * 1024 * 1024 + 123;
      const source = generated(size, 7);
      assert.equal(await driver.append('large/a', source.stream), size);
      const expected = source.digest();
      const hash = createHash('sha256');
      for await (const chunk of await driver.read('large/a')) hash.update(chunk as Buffer);
      assert.equal(hash.digest('hex'), expected);
      const tail = await readAll(driver, 'large/a', { start: size - 3, end: size - 1 });
      assert.equal(tail.length, 3);
    });

    it('reads an object as text through a stream consumer', async () => {
      await driver.put('text/a', Buffer.from('{"ok":true}'));
      assert.equal(await text(await driver.read('text/a')), '{"ok":true}');
    });
  });
}
