// DiskCache: object blocks kept in local files (one sparse file per object version),
// an LRU of blocks bounded in bytes. Its point is the FastReadPort: each block written
// here is marked present in the FUSE layer's native table, and FUSE threads then answer
// reads of it with pread() without waking JavaScript. The daemon reads from it too
// (a block evicted from the memory cache need not be fetched again).
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log/logger.js';
import { processAlive } from '../util/process.js';
import type { ObjectVersion } from './block-fetcher.js';

/** What the FUSE layer offers: its native table of cache files and attached handles. */
export interface FastReadPort {
  /** registers a cache file; returns its id, or -1 if the table is full */
  openFile(fd: number, size: number, blockShift: number): number;
  /** unregisters it (detaching its handles); the caller closes the fd afterwards */
  closeFile(id: number): void;
  /** blocks [first, first+count) are present (or no longer: no FUSE thread reads them once this returns) */
  mark(id: number, first: number, count: number, present: boolean): void;
  /** frees a byte range of a cache file (fallocate PUNCH_HOLE) */
  punch(fd: number, offset: number, length: number): void;
  /** FUSE threads serve reads on handle `fh` from file `id`; JS is woken past `trigger` */
  attach(fh: number, id: number, trigger: number): boolean;
  detach(fh: number): void;
  arm(fh: number, trigger: number): void;
  /** end of the last read served on `fh` if its trigger fired since the last arm, else -1 */
  take(fh: number): number;
  /** `fn` runs on the JS thread after some handle's trigger fired */
  onTrigger(fn: () => void): void;
}

/** A reader that FUSE threads serve from a cache file; woken to keep prefetching. */
export interface FastReader {
  /** the reader has been served up to `end` (by FUSE threads) */
  advance(end: number): void;
}

export interface CacheFile {
  readonly id: number;
  readonly object: ObjectVersion;
}

interface FileEntry extends CacheFile {
  fd: FileHandle;
  /** open handles on it plus blocks stored: closed when both are zero */
  readers: number;
  blocks: number;
  closed: boolean;
}

interface BlockEntry {
  file: FileEntry;
  index: number;
  bytes: number;
}

/** most cache files open at once (each is an fd and a native table slot) */
const MAX_FILES = 1024;

export interface DiskCacheOptions {
  /** --cache-dir: holds one directory per running mount, <name>-<pid> */
  root: string;
  name: string;
  maxBytes: number;
  blockBytes: number;
  port: FastReadPort;
  logger: Logger;
}

export class DiskCache {
  readonly counters = { stored: 0, storedBytes: 0, readBack: 0, evicted: 0, writeErrors: 0 };
  private readonly files = new Map<string, FileEntry>();
  private readonly blocks: LRUCache<string, BlockEntry>;
  private readonly readers = new Map<number, FastReader>();
  private readonly shift: number;
  private readonly dir: string;
  private closing = false;

  constructor(private readonly o: DiskCacheOptions) {
    this.dir = join(o.root, `${o.name}-${process.pid}`);
    this.shift = Math.log2(o.blockBytes);
    if (!Number.isInteger(this.shift)) throw new Error('disk cache block size must be a power of two');
    this.blocks = new LRUCache<string, BlockEntry>({
      maxSize: o.maxBytes,
      sizeCalculation: (b) => Math.max(1, b.bytes),
      dispose: (b, _k, reason) => {
        if (reason !== 'set') this.dropBlock(b);
      },
    });
    o.port.onTrigger(() => this.onTrigger());
  }

  /** Creates this mount's directory, removing ones that daemons no longer running left. */
  async init(): Promise<void> {
    await mkdir(this.o.root, { recursive: true, mode: 0o700 });
    for (const e of await readdir(this.o.root)) {
      const m = /^(.*)-(\d+)$/.exec(e);
      if (m && m[1] === this.o.name && (Number(m[2]) === process.pid || !processAlive(Number(m[2])))) await rm(join(this.o.root, e), { recursive: true, force: true });
    }
    await mkdir(this.dir, { mode: 0o700 });
  }

  /** An open handle will read `obj`: its cache file, opened if needed (undefined if none can be). */
  async acquire(obj: ObjectVersion): Promise<CacheFile | undefined> {
    const name = fileName(obj);
    let f = this.files.get(name);
    if (!f) {
      if (this.closing) return undefined;
      if (this.files.size >= MAX_FILES && !this.closeIdleFile()) return undefined;
      let fd: FileHandle;
      try {
        fd = await open(join(this.dir, name), 'w+', 0o600);
      } catch (err) {
        this.o.logger.warn('cannot create a disk cache file; reading without it', { error: String(err) });
        return undefined;
      }
      const again = this.files.get(name); // another open raced us
      if (again) {
        await fd.close();
        f = again;
      } else {
        const id = this.o.port.openFile(fd.fd, obj.size, this.shift);
        if (id < 0) {
          await fd.close();
          return undefined;
        }
        f = { id, object: obj, fd, readers: 0, blocks: 0, closed: false };
        this.files.set(name, f);
      }
    }
    f.readers++;
    return f;
  }

  /** Handle `fh` reads `file`: FUSE threads may serve it; JS is told past `trigger`. */
  attach(fh: number, file: CacheFile, reader: FastReader, trigger: number): void {
    if (this.o.port.attach(fh, file.id, trigger)) this.readers.set(fh, reader);
  }

  arm(fh: number, trigger: number): void {
    if (this.readers.has(fh)) this.o.port.arm(fh, trigger);
  }

  /** The handle is closed. */
  release(fh: number, file: CacheFile): void {
    if (this.readers.delete(fh)) this.o.port.detach(fh);
    const f = this.files.get(fileName(file.object));
    if (f !== file) return;
    f.readers--;
    if (f.readers === 0 && f.blocks === 0) void this.closeFile(f);
  }

  has(obj: ObjectVersion, index: number): boolean {
    return this.blocks.has(blockKey(obj, index));
  }

  /** A block this cache holds, read back from its file; undefined if it holds none. */
  read(obj: ObjectVersion, index: number): Promise<Buffer> | undefined {
    const b = this.blocks.get(blockKey(obj, index));
    if (!b) return undefined;
    this.counters.readBack++;
    const buf = Buffer.allocUnsafe(b.bytes);
    return b.file.fd.read(buf, 0, b.bytes, index * this.o.blockBytes).then(({ bytesRead }) => {
      if (bytesRead !== b.bytes) throw new Error(`disk cache read ${bytesRead} of ${b.bytes} bytes`);
      return buf;
    });
  }

  /** A block fetched from S3: written to the object's cache file if a reader has one open. */
  store(obj: ObjectVersion, index: number, data: Buffer): void {
    const f = this.files.get(fileName(obj));
    if (!f || f.closed || this.closing) return;
    const key = blockKey(obj, index);
    if (this.blocks.has(key)) return;
    f.blocks++; // holds the file open while the write is under way
    f.fd.write(data, 0, data.length, index * this.o.blockBytes).then(
      ({ bytesWritten }) => {
        if (f.closed || bytesWritten !== data.length || this.blocks.has(key)) return this.unref(f);
        this.o.port.mark(f.id, index, 1, true);
        this.counters.stored++;
        this.counters.storedBytes += data.length;
        this.blocks.set(key, { file: f, index, bytes: data.length });
        // the LRU may have refused it (larger than the whole cache): then it was never added
        if (!this.blocks.has(key)) this.dropBlock({ file: f, index, bytes: data.length });
      },
      (err: unknown) => {
        this.counters.writeErrors++;
        if (this.counters.writeErrors === 1) this.o.logger.warn('cannot write the disk cache; reads continue from S3', { error: String(err) });
        this.unref(f);
      },
    );
  }

  get storedBytes(): number {
    return this.blocks.calculatedSize;
  }

  /** Unmount: forget everything and remove the directory. */
  async close(): Promise<void> {
    this.closing = true;
    this.blocks.clear();
    for (const f of [...this.files.values()]) await this.closeFile(f);
    await rm(this.dir, { recursive: true, force: true });
  }

  private onTrigger(): void {
    for (const [fh, reader] of this.readers) {
      const end = this.o.port.take(fh);
      if (end >= 0) reader.advance(end);
    }
  }

  private dropBlock(b: BlockEntry): void {
    this.counters.evicted++;
    if (!b.file.closed) {
      this.o.port.mark(b.file.id, b.index, 1, false);
      this.o.port.punch(b.file.fd.fd, b.index * this.o.blockBytes, b.bytes);
    }
    this.unref(b.file);
  }

  private unref(f: FileEntry): void {
    f.blocks--;
    if (f.blocks === 0 && f.readers === 0) void this.closeFile(f);
  }

  /** Closes the least recently opened file nobody reads, to make room; false if none. */
  private closeIdleFile(): boolean {
    for (const f of this.files.values()) {
      if (f.readers === 0) {
        for (const [k, b] of this.blocks.entries()) if (b.file === f) this.blocks.delete(k);
        void this.closeFile(f);
        return true;
      }
    }
    return false;
  }

  private async closeFile(f: FileEntry): Promise<void> {
    if (f.closed) return;
    f.closed = true;
    const name = fileName(f.object);
    if (this.files.get(name) === f) this.files.delete(name);
    this.o.port.closeFile(f.id);
    await f.fd.close().catch(() => undefined);
    await rm(join(this.dir, name), { force: true }).catch(() => undefined);
  }
}

function fileName(obj: ObjectVersion): string {
  return createHash('sha256').update(`${obj.version}\n${obj.key}`).digest('hex').slice(0, 32);
}

function blockKey(obj: ObjectVersion, index: number): string {
  return `${obj.version}\n${index}\n${obj.key}`;
}
