// What open(2) flags ask for, as the filesystem and the FUSE adapter read them.
import { constants } from 'node:fs';

/** POSIX access-mode mask (not exported by node:fs constants) */
const O_ACCMODE = 3;

/** Whether open() with these flags may change the file (write access or O_TRUNC). */
export function opensForWriting(flags: number): boolean {
  return (flags & O_ACCMODE) !== constants.O_RDONLY || (flags & constants.O_TRUNC) !== 0;
}
