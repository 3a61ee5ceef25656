#!/usr/bin/env -S node --max-semi-space-size=1
// The `berth` command. It runs the JavaScript that `npm run build` compiles into dist/ (npm
// ci and npm install build it); while dist/ is missing or older than src/, it runs the
// TypeScript sources directly instead (Node >= 22.18 strips types), so it is never stale.
// Compiled code saves ~35 MB of resident memory that type stripping costs.
//
// --max-semi-space-size=1 keeps V8's young generation small: socket and file buffers of a
// streaming upload are then collected every few megabytes instead of piling up to ~80 MB of
// garbage between collections. The first line is the one place these flags are written:
// tests and benchmarks read them from it (nodeFlagsOfBerthCommand), and a test checks that
// `npm start` passes the same ones.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`berth needs Node.js 22.18 or newer; this is ${process.version} (${process.execPath}).\n` +
    'Run it as `npx berth` or `npm start` in the project, which use the Node.js 24 it installs.\n');
  process.exit(1);
}

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function newestModification(directory) {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestModification(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function compiledIsCurrent() {
  try {
    return statSync(path.join(root, 'dist/.built')).mtimeMs >= newestModification(path.join(root, 'src'));
  } catch {
    return false;
  }
}

await import(compiledIsCurrent() ? '../dist/cli/main.js' : '../src/cli/main.ts');
