import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { renderConfigurationReference } from '../../src/config/index.ts';

test('docs/configuration.md carries the reference generated from the current schema', async () => {
  const document = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const start = document.indexOf('-->\n', document.indexOf('<!-- reference:start')) + 4;
  const end = document.indexOf('<!-- reference:end -->');
  assert.ok(start > 3 && end > start, 'reference markers are missing');
  assert.equal(document.slice(start, end), renderConfigurationReference(), 'run `npx berth config reference` and paste the table into docs/configuration.md');
});
