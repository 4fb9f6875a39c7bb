// BlockFileWriter: writes the disk cache's block files on two worker threads. Per block
// the JavaScript thread used to compute a CRC-32 and issue an open, a write, a close and a
// rename (a trip through libuv's pool each): about 1 s of its time per GiB filled, while
// it also answers FUSE and fills the block cache (profiled). A thread now does the CRC,
// the write to a temporary name (WRITE_CHUNK at a time) and the rename in one go, with
// synchronous calls. The file's bytes are in shared memory (slots of a SharedArrayBuffer,
// reused): nothing is copied to the thread. If a thread cannot run, the same is done
// here, asynchronously.
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { WorkerCalls } from '../util/worker-calls.js';
import { CRC_AT } from './disk-block-file.js';

/**
 * a file is written this much per write(): on the machines measured here (Linux 6.18,
 * ext4), writes of 128 KiB or more into new files took 3-4x the system time of 64 KiB
 * ones, and the disk cache's fill a third longer (docs/PERFORMANCE.md, target 6)
 */
export const WRITE_CHUNK = 64 * 1024;

// CommonJS, run with eval: no file to find next to this module (dist/ or src/ under tsx)
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { crc32 } = require('node:zlib');
const WRITE_CHUNK = ${WRITE_CHUNK};
parentPort.on('message', (m) => {
  try {
    const file = m.file;
    new DataView(file.buffer, file.byteOffset, file.byteLength).setUint32(m.crcAt, crc32(file.subarray(m.headerBytes)), true);
    const fd = fs.openSync(m.tmp, 'w', 0o600);
    try {
      for (let at = 0; at < file.length; ) at += fs.writeSync(fd, file, at, Math.min(WRITE_CHUNK, file.length - at));
    } finally {
      fs.closeSync(fd);
    }
    if (m.mkdir) fs.mkdirSync(path.dirname(m.path), { recursive: true, mode: 0o700 });
    try {
      fs.renameSync(m.tmp, m.path);
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
      fs.mkdirSync(path.dirname(m.path), { recursive: true, mode: 0o700 }); // removed under the mount
      fs.renameSync(m.tmp, m.path);
    }
    parentPort.postMessage({ id: m.id });
  } catch (e) {
    try { fs.unlinkSync(m.tmp); } catch {}
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  }
});
`;

export interface BlockFile {
  /** header (its CRC-32 field filled here) and data, in memory from slot() */
  file: Buffer;
  headerBytes: number;
  tmp: string;
  path: string;
  /** its directory may not exist yet */
  mkdir: boolean;
}

export class BlockFileWriter {
  private readonly threads: WorkerCalls[];
  private readonly free: Buffer[] = [];

  constructor(
    /** the largest file: header and a whole block */
    private readonly slotBytes: number,
    count = 2,
  ) {
    this.threads = Array.from({ length: count }, () => new WorkerCalls(THREAD_SOURCE, 'block file writer'));
  }

  /** Memory for one file of `length` bytes (shared with the threads); give it back with release(). */
  slot(length: number): Buffer {
    if (length > this.slotBytes) return Buffer.allocUnsafe(length);
    const own = this.free.pop() ?? Buffer.from(new SharedArrayBuffer(this.slotBytes));
    return own.subarray(0, length);
  }

  release(buf: Buffer): void {
    if (buf.buffer instanceof SharedArrayBuffer && buf.buffer.byteLength === this.slotBytes)
      this.free.push(Buffer.from(buf.buffer));
  }

  /** Writes the file to `tmp`, then renames it to `path`. Rejects (and leaves no `tmp`) on failure. */
  async write(f: BlockFile): Promise<void> {
    const t = f.file.buffer instanceof SharedArrayBuffer ? this.idlest() : undefined;
    if (!t) return this.writeHere(f); // (a thread that failed: written here from then on)
    await t.call({ crcAt: CRC_AT, ...f });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }

  private async writeHere(f: BlockFile): Promise<void> {
    f.file.writeUInt32LE(crc32(f.file.subarray(f.headerBytes)), CRC_AT);
    try {
      const h = await open(f.tmp, 'w', 0o600);
      try {
        for (let at = 0; at < f.file.length;)
          at += (await h.write(f.file, at, Math.min(WRITE_CHUNK, f.file.length - at))).bytesWritten;
      } finally {
        await h.close();
      }
      if (f.mkdir) await mkdir(dirname(f.path), { recursive: true, mode: 0o700 });
      await rename(f.tmp, f.path).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        await mkdir(dirname(f.path), { recursive: true, mode: 0o700 });
        await rename(f.tmp, f.path);
      });
    } catch (err) {
      await unlink(f.tmp).catch(() => undefined);
      throw err;
    }
  }

  /** the working thread with the fewest writes waiting, if any */
  private idlest(): WorkerCalls | undefined {
    let best: WorkerCalls | undefined;
    for (const t of this.threads) if (!t.failed && (!best || t.busy < best.busy)) best = t;
    return best;
  }
}
