// Shrinking a failing sequence (delta debugging): drop operations, halves first, then one
// at a time, then make the numbers small; keep every change after which it still fails.
import { runOps, type Failure } from './harness.js';
import type { Op } from './ops.js';

/** Most sequences run while shrinking one failure: enough for a few hundred operations. */
const MAX_RUNS = 3000;

export interface Shrunk {
  ops: Op[];
  failure: Failure;
  runs: number;
}

/** The smallest sequence found that still fails (any failure: it is printed with its own message). */
export async function shrink(ops: Op[], failure: Failure): Promise<Shrunk> {
  let best: Shrunk = { ops: ops.slice(0, failure.step + 1), failure, runs: 0 };
  const attempt = async (cand: Op[]): Promise<boolean> => {
    if (best.runs >= MAX_RUNS) return false;
    best.runs++;
    const f = await runOps(cand);
    if (!f) return false;
    best = { ops: cand.slice(0, f.step + 1), failure: f, runs: best.runs };
    return true;
  };
  for (let progress = true; progress && best.runs < MAX_RUNS;) {
    progress = false;
    for (let size = Math.max(1, Math.floor(best.ops.length / 2)); size >= 1; size = Math.floor(size / 2)) {
      for (let i = 0; i + size <= best.ops.length;) {
        if (await attempt([...best.ops.slice(0, i), ...best.ops.slice(i + size)])) progress = true;
        else i += size;
      }
      if (size === 1) break;
    }
    for (let i = 0; i < best.ops.length; i++) {
      for (const field of ['length', 'size', 'offset', 'seed'] as const) {
        const op = best.ops[i] as Record<string, unknown>;
        const v = op[field];
        if (typeof v !== 'number') continue;
        const least = field === 'length' ? 1 : 0;
        for (const smaller of [least, Math.floor(v / 2)]) {
          if (smaller >= v || smaller < least) continue;
          const cand = best.ops.slice();
          cand[i] = { ...op, [field]: smaller } as Op;
          if (await attempt(cand)) {
            progress = true;
            break;
          }
        }
      }
    }
  }
  return best;
}
