// The fast paths in s3mount's fork of fuse-native (native/fuse-native/s3mount-fast.h):
// typed wrappers over its binding, and the numbers C and TypeScript share.
import { createRequire } from 'node:module';
import type { ArenaPort } from '../read/block-cache.js';
import type { WritePort } from '../write/types.js';

/** Attributes of listed names, answered by FUSE threads until JS invalidates them. */
export interface AttrFastPath {
  /** the generation a later put must match */
  gen(): number;
  /** stores entries of `dir` (stats: STAT_INTS uint32 per name); ignored if `gen` is stale */
  put(dir: string, names: string[], stats: Uint32Array, ttlMs: number, gen: number): number;
  /** drops every entry */
  invalidate(): void;
}

/** Directory listings handed to readdir page by page (s3m_readdir). */
export interface DirStreamPort {
  /** `fn(id, path)` runs for every listing a readdir waits for; until set, readdir goes to JS whole */
  onRequest(fn: (id: number, path: string) => void): void;
  /** appends entries (stats: STAT_INTS uint32 per name) to listing `id`; `done` ends it, failed with `errno` (> 0) if given */
  push(id: number, names: string[], stats: Uint32Array, done: boolean, errno?: number): void;
}

export interface NativeFastPaths {
  attrs: AttrFastPath;
  dirs: DirStreamPort;
  reads: ArenaPort;
  writes: WritePort;
  /**
   * reads FUSE threads answered (from the block arena or disk cache block files) and
   * writes they did, with their bytes; diskReads: the reads that took bytes from a block file
   */
  served(): { reads: number; bytes: number; writes: number; writtenBytes: number; diskReads: number };
}

/** native/fuse-native/s3mount-abi.json: read by binding.gyp (-D defines) and here, nowhere else */
interface Abi {
  /** s3m_version of a binding built from this source */
  version: number;
  /** bytes before a block's data in a disk cache block file (src/read/disk-cache.ts HEADER_BYTES) */
  diskHeaderBytes: number;
  /** uint32s per stat in fuse-native's layout (its getStatArray, C's populate_stat) */
  statInts: number;
  /** a 64-bit number crosses as two halves of this many bits */
  halfBits: number;
  /** where each field of a stat starts (size, blocks and the times: two halves, low first) */
  statFields: StatFields;
}

/** Index of each field in fuse-native's stat layout; the 64-bit ones take two slots, low half first. */
export interface StatFields {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: number;
  nlink: number;
  ino: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

const require = createRequire(import.meta.url);
const ABI = require('fuse-native/s3mount-abi.json') as Abi;
export const ABI_VERSION = ABI.version;
export const STAT_INTS = ABI.statInts;
export const TWO32 = 2 ** ABI.halfBits;
export const STAT_FIELDS: Readonly<StatFields> = ABI.statFields;
export const DISK_HEADER_BYTES = ABI.diskHeaderBytes;

/** The binding's s3m_ functions (native/fuse-native/s3mount-fast.h). */
export interface Binding {
  s3m_version?: number;
  s3m_enable(): void;
  s3m_attr_put(dir: string, names: string[], stats: Uint32Array, ttl: number, gen: number): number;
  s3m_attr_invalidate(): number;
  s3m_attr_gen(): number;
  s3m_arena(slots: number, shift: number): Buffer;
  s3m_file_open(lo: number, hi: number): number;
  s3m_file_close(id: number): number;
  s3m_map(id: number, block: number, slot: number): void;
  s3m_unmap(id: number, block: number): number;
  s3m_dmap(id: number, block: number, path: string): number;
  s3m_dunmap(id: number, block: number): number;
  s3m_attach(fh: number, id: number, lo: number, hi: number): number;
  s3m_detach(fh: number): void;
  s3m_arm(fh: number, lo: number, hi: number): void;
  s3m_take(fh: number): number;
  s3m_stats(): [number, number, number, number, number];
  s3m_on_trigger(fn: () => void): void;
  s3m_wopen(fd: number, lo: number, hi: number): number;
  s3m_wclose(id: number): void;
  s3m_wattach(fh: number, id: number): number;
  s3m_wdetach(fh: number): void;
  s3m_wtake(id: number, out: Float64Array): number;
  s3m_wsize(id: number, lo: number, hi: number, exact: number): void;
  s3m_warm(id: number, lo: number, hi: number): void;
  s3m_on_dir(fn: () => void): void;
  s3m_dir_take(): Array<number | string>;
  s3m_dir_push(id: number, names: string[], stats: Uint32Array, done: number, errno: number): number;
}

/** 64-bit values go to C as two uint32 halves; "never" (Infinity) as the largest safe integer */
const lo = (n: number) => Math.min(n, Number.MAX_SAFE_INTEGER) % TWO32;
const hi = (n: number) => Math.floor(Math.min(n, Number.MAX_SAFE_INTEGER) / TWO32);

/**
 * The binding's fast paths, enabled for the mount that follows (s3m_enable). Throws an
 * Error naming the cause when they cannot be used: the binding does not load, or it was
 * built from other source (no s3m_version, or another one). The caller decides whether
 * that is fatal (it is, unless the user asked for --no-native).
 */
export function loadNativeFastPaths(): NativeFastPaths {
  // the same file fuse-native itself loads; its error already names the binding and the fix
  const b = require('fuse-native/binding.js') as Partial<Binding>;
  if (b.s3m_version === undefined)
    throw new Error(
      'the fuse-native binding in use has no s3mount fast paths (not built from native/fuse-native?): run `npm rebuild fuse-native`',
    );
  if (b.s3m_version !== ABI_VERSION)
    throw new Error(
      `the fuse-native binding is version ${b.s3m_version} of s3mount's fast paths, this source is version ${ABI_VERSION}: run \`npm rebuild fuse-native\``,
    );
  const binding = b as Binding;
  binding.s3m_enable();
  return fastPathsOf(binding);
}

/** Typed wrappers over a binding's s3m_ functions (the product's, or the test binding's). */
export function fastPathsOf(b: Binding): NativeFastPaths {
  // one uv_async wakes JS for read and write triggers alike
  const listeners: Array<() => void> = [];
  const onTrigger = (fn: () => void) => {
    if (listeners.length === 0) b.s3m_on_trigger(() => listeners.forEach((l) => l()));
    listeners.push(fn);
  };
  const took = new Float64Array(3);
  return {
    attrs: {
      gen: () => b.s3m_attr_gen(),
      put: (dir, names, stats, ttlMs, gen) =>
        b.s3m_attr_put(dir, names, stats, Math.max(0, Math.min(ttlMs, TWO32 - 1)), gen),
      invalidate: () => void b.s3m_attr_invalidate(),
    },
    dirs: {
      onRequest: (fn) =>
        b.s3m_on_dir(() => {
          const asked = b.s3m_dir_take();
          for (let i = 0; i + 1 < asked.length; i += 2) fn(asked[i] as number, asked[i + 1] as string);
        }),
      push: (id, names, stats, done, errno = 0) => void b.s3m_dir_push(id, names, stats, done ? 1 : 0, errno),
    },
    reads: {
      arena: (slots, shift) => b.s3m_arena(slots, shift),
      openFile: (size) => b.s3m_file_open(lo(size), hi(size)),
      closeFile: (id) => b.s3m_file_close(id),
      map: (id, block, slot) => b.s3m_map(id, block, slot),
      unmap: (id, block) => b.s3m_unmap(id, block) === 1,
      mapFile: (id, block, path) => b.s3m_dmap(id, block, path) === 1,
      unmapFile: (id, block) => b.s3m_dunmap(id, block) === 1,
      attach: (fh, id, trigger) => b.s3m_attach(fh, id, lo(trigger), hi(trigger)) === 1,
      detach: (fh) => b.s3m_detach(fh),
      arm: (fh, trigger) => b.s3m_arm(fh, lo(trigger), hi(trigger)),
      take: (fh) => b.s3m_take(fh),
      onTrigger,
    },
    writes: {
      open: (fd, size) => b.s3m_wopen(fd, lo(size), hi(size)),
      close: (id) => b.s3m_wclose(id),
      attach: (fh, id) => b.s3m_wattach(fh, id) === 1,
      detach: (fh) => b.s3m_wdetach(fh),
      take: (id) => {
        const writes = b.s3m_wtake(id, took);
        return { writes, size: took[0] as number, lowest: took[1] as number, lastWriteMs: took[2] as number };
      },
      setSize: (id, size, exact) => b.s3m_wsize(id, lo(size), hi(size), exact ? 1 : 0),
      arm: (id, trigger) => b.s3m_warm(id, lo(trigger), hi(trigger)),
      onTrigger,
    },
    served: () => {
      const [reads, bytes, writes, writtenBytes, diskReads] = b.s3m_stats();
      return { reads, bytes, writes, writtenBytes, diskReads };
    },
  };
}
