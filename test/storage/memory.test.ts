import { MemoryDriver } from '../../src/storage/index.ts';
import { runDriverSuite } from './driver-suite.ts';

runDriverSuite('memory', async () => {
  const driver = new MemoryDriver();
  return { driver, cleanup: () => driver.close() };
});
