export { fsck, type FsckReport, type FsckOptions } from './fsck.ts';
