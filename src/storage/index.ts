export type { StorageDriver, StorageStat, ByteRange } from './driver.ts';
export { StorageNotFoundError } from './driver.ts';
export { FilesystemDriver } from './filesystem.ts';
export { MemoryDriver } from './memory.ts';
