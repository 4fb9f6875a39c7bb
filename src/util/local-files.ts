// Two local-file operations on the hot paths of the staging directory and the disk cache,
// each with as few trips through libuv's pool as it can take.
import { close as fsClose, open as fsOpen, readv as fsReadv } from 'node:fs';
import { unlink } from 'node:fs/promises';

/**
 * Opens `path`, reads it from its start into `bufs` with one preadv, and closes it without
 * waiting for the close: two trips through libuv's pool instead of three (fs/promises'
 * FileHandle costs more per call too). Resolves with the bytes read.
 */
export function preadvWhole(path: string, bufs: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    fsOpen(path, 'r', (err, fd) => {
      if (err) return reject(err);
      fsReadv(fd, bufs, 0, (readErr, n) => {
        fsClose(fd, () => undefined);
        if (readErr) reject(readErr);
        else resolve(n);
      });
    });
  });
}

/** unlink(2), a missing file being fine (fs.rm would lstat first and cost twice the work). */
export async function removeIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
