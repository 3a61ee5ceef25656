import { rm } from 'node:fs/promises';
import { FilesystemDriver } from '../../src/storage/index.ts';
import { makeTempDir } from '../support/server.ts';
import { runDriverSuite } from './driver-suite.ts';

for (const fsync of [true, false]) {
  runDriverSuite(`filesystem (fsync ${fsync ? 'on' : 'off'})`, async () => {
    const root = await makeTempDir('berth-fs-driver-');
    return { driver: new FilesystemDriver({ root, fsync }), cleanup: () => rm(root, { recursive: true, force: true }) };
  });
}
