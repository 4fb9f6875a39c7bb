// The operations of the reference tests: what a program (and the kernel on its behalf)
// asks of the filesystem, as plain data, so a sequence can be generated, shrunk and printed.
import { pattern } from '../fixtures/core.js';

/** open(2) access and O_TRUNC; `r` is O_RDONLY */
export type OpenFlags = 'r' | 'w' | 'rw' | 'w+trunc' | 'rw+trunc';

export type Op =
  /** `id` names the handle for later operations; `create`: O_CREAT (a missing name is created) */
  | { op: 'open'; id: number; path: string; flags: OpenFlags; create: boolean }
  /** close(2): FUSE flush, then release */
  | { op: 'close'; h: number }
  | { op: 'fsync'; h: number }
  | { op: 'read'; h: number; offset: number; length: number }
  /** writes `length` bytes of pattern `seed` at `offset` */
  | { op: 'write'; h: number; offset: number; length: number; seed: number }
  | { op: 'ftruncate'; h: number; size: number }
  | { op: 'truncate'; path: string; size: number }
  | { op: 'unlink'; path: string }
  | { op: 'mkdir'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'readdir'; path: string }
  | { op: 'stat'; path: string }
  /** the daemon dies (handles gone, nothing closed); a new core starts on the same store and staging dir */
  | { op: 'remount' }
  /** another client writes or deletes a key (the mount sees it once its caches expire) */
  | { op: 'putObject'; key: string; length: number; seed: number }
  | { op: 'deleteObject'; key: string };

export const opBytes = (op: { length: number; seed: number }): Buffer => pattern(op.length, op.seed);

/** One line of TypeScript per operation: paste into test/unit/reftest/regressions.ts. */
export function formatOps(ops: Op[]): string {
  const lit = (op: Op) =>
    `{ ${Object.entries(op)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`)
      .join(', ')} },`;
  return ['[', ...ops.map((op) => `  ${lit(op)}`), ']'].join('\n');
}
