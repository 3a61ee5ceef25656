import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { nodeFlagsOfBerthCommand, repoRoot } from '../support/process.ts';

const run = promisify(execFile);

test('`npm start` runs the berth command with the same Node flags as the installed command', async () => {
  const flags = nodeFlagsOfBerthCommand();
  assert.ok(flags.includes('--max-semi-space-size=1'), flags.join(' '));
  const { scripts } = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.ok(scripts.start!.includes(`node ${flags.join(' ')} bin/berth.js serve`), scripts.start);
});

test('the berth command refuses a Node.js older than 22.18 with a clear message', async (t) => {
  const system = await run('sh', ['-c', 'command -v /usr/bin/node && /usr/bin/node --version']).catch(() => undefined);
  const version = system?.stdout.trim().split('\n')[1];
  if (!version || Number(version.slice(1).split('.')[0]) >= 22) return t.skip('no older Node.js on this machine');
  const failure = await run('/usr/bin/node', [path.join(repoRoot, 'bin/berth.js'), '--version']).then(
    () => assert.fail('an old Node.js ran berth'),
    (error: { code: number; stderr: string }) => error,
  );
  assert.equal(failure.code, 1);
  assert.match(failure.stderr, /needs Node\.js 22\.18 or newer/);
});

test('`berth --version` answers through the installed command', async () => {
  const { stdout } = await run(process.execPath, [...nodeFlagsOfBerthCommand(), path.join(repoRoot, 'bin/berth.js'), '--version']);
  assert.match(stdout, /^\d+\.\d+\.\d+/);
});
