// The fast paths compiled into fuse-native by scripts/patch-fuse-native
// (src/fuse/native/s3mount-fast.h): typed wrappers, or undefined when the binding in use
// lacks them (the prebuilt one, if building from source was not possible).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { ArenaPort } from '../read/block-cache.js';
import type { WritePort } from '../write/native-writes.js';

/** Attributes of listed names, answered by FUSE threads until JS invalidates them. */
export interface AttrFastPath {
  /** the generation a later put must match */
  gen(): number;
  /** stores entries of `dir` (stats: 18 uint32 per name); ignored if `gen` is stale */
  put(dir: string, names: string[], stats: Uint32Array, ttlMs: number, gen: number): number;
  /** drops every entry */
  invalidate(): void;
}

/** Directory listings handed to readdir page by page (s3m_readdir). */
export interface DirStreamPort {
  /** `fn(id, path)` runs for every listing a readdir waits for; until set, readdir goes to JS whole */
  onRequest(fn: (id: number, path: string) => void): void;
  /** appends entries (stats: 18 uint32 per name) to listing `id`; `done` ends it, failed with `errno` (> 0) if given */
  push(id: number, names: string[], stats: Uint32Array, done: boolean, errno?: number): void;
}

export interface NativeFastPaths {
  attrs: AttrFastPath;
  dirs: DirStreamPort;
  reads: ArenaPort;
  writes: WritePort;
  /** reads FUSE threads answered from the block arena and writes they did, with their bytes */
  served(): { reads: number; bytes: number; writes: number; writtenBytes: number };
}

interface Binding {
  s3m_version?: number;
  s3m_attr_put(dir: string, names: string[], stats: Uint32Array, ttl: number, gen: number): number;
  s3m_attr_invalidate(): number;
  s3m_attr_gen(): number;
  s3m_arena(slots: number, shift: number): Buffer;
  s3m_file_open(lo: number, hi: number): number;
  s3m_file_close(id: number): void;
  s3m_map(id: number, block: number, slot: number): void;
  s3m_unmap(id: number, block: number): void;
  s3m_attach(fh: number, id: number, lo: number, hi: number): number;
  s3m_detach(fh: number): void;
  s3m_arm(fh: number, lo: number, hi: number): void;
  s3m_take(fh: number): number;
  s3m_stats(): [number, number, number, number];
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

const TWO32 = 2 ** 32;
/** 64-bit values go to C as two uint32 halves; "never" (Infinity) as the largest safe integer */
const lo = (n: number) => Math.min(n, Number.MAX_SAFE_INTEGER) % TWO32;
const hi = (n: number) => Math.floor(Math.min(n, Number.MAX_SAFE_INTEGER) / TWO32);

export function loadNativeFastPaths(): NativeFastPaths | undefined {
  let b: Binding;
  try {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('fuse-native/package.json'));
    b = (require('node-gyp-build') as (dir: string) => Binding)(dir);
  } catch {
    return undefined;
  }
  if (b.s3m_version !== 4) return undefined;
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
      put: (dir, names, stats, ttlMs, gen) => b.s3m_attr_put(dir, names, stats, Math.max(0, Math.min(ttlMs, TWO32 - 1)), gen),
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
      unmap: (id, block) => b.s3m_unmap(id, block),
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
      const [reads, bytes, writes, writtenBytes] = b.s3m_stats();
      return { reads, bytes, writes, writtenBytes };
    },
  };
}
