// Runs an operation sequence on the filesystem core (S3FileSystem over the in-memory
// store, the calls the FUSE adapter makes) and on the reference model, and compares after
// every step: the errno, the bytes read, the kernel's lookups, listings, and the bucket.
import { constants } from 'node:fs';
import type { S3FileSystem } from '../../src/fs/filesystem.js';
import { S_IFDIR, S_IFMT } from '../../src/meta/attrs.js';
import { errnoOf, testCore } from '../fixtures/core.js';
import { MemoryObjectStore } from '../fixtures/memory-store.js';
import { Model, type Entry, type Expect } from './model.js';
import { formatOps, opBytes, type Op, type OpenFlags } from './ops.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC } = constants;
/** past --metadata-ttl (30 s) and --negative-ttl (5 s): the mount asks S3 again */
const PAST_TTLS_MS = 61_000;
/** an operation that takes longer hangs (the in-memory core answers in milliseconds) */
const OP_TIMEOUT_MS = 20_000;

export interface Failure {
  /** index of the failing operation; ops.length for the final check */
  step: number;
  message: string;
}

const FLAG_BITS: Record<OpenFlags, number> = {
  r: O_RDONLY,
  w: O_WRONLY,
  rw: O_RDWR,
  'w+trunc': O_WRONLY | O_TRUNC,
  'rw+trunc': O_RDWR | O_TRUNC,
};

interface Got {
  errno: string;
  bytes?: Buffer;
}

class Mismatch extends Error {}

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Mismatch(`${what} did not finish in ${OP_TIMEOUT_MS} ms`)),
      OP_TIMEOUT_MS,
    );
  });
  return Promise.race([p, hung]).finally(() => clearTimeout(timer));
}

async function outcome(p: Promise<Buffer | undefined>): Promise<Got> {
  try {
    const bytes = await p;
    return bytes ? { errno: 'ok', bytes } : { errno: 'ok' };
  } catch (err) {
    if (err instanceof Mismatch) throw err;
    return { errno: await errnoOf(Promise.reject(err)) };
  }
}

/**
 * A remount abandons the old core with its staged files open, as a killed daemon would;
 * Node warns when it closes those descriptors on garbage collection. Only those warnings
 * are dropped.
 */
function quietAbandonedDescriptors(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    if (w.code === 'DEP0137' || /Closing file descriptor \d+ on garbage collection/.test(w.message)) return;
    for (const p of printers) p(w);
  });
}
quietAbandonedDescriptors();

const show = (b: Buffer | undefined) =>
  b ? `${b.length} bytes (sha ${b.subarray(0, 8).toString('hex')}...)` : '';

/** Runs `ops`; undefined if the core agreed with the model at every step. */
export async function runOps(ops: Op[]): Promise<Failure | undefined> {
  const teardowns: Array<() => unknown> = [];
  const t = { teardown: (f: () => unknown) => void teardowns.push(f) };
  const store = new MemoryObjectStore();
  let core = await testCore(t, { store });
  const model = new Model();
  const fhs = new Map<number, number>();
  const fs = (): S3FileSystem => core.fs;

  /** What the kernel's lookups of `path` and its ancestors get, compared with the model. */
  async function lookup(path: string): Promise<void> {
    const parts = path.split('/').slice(1);
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      const want = model.kind(p);
      const got = await within(
        fs()
          .getattr(p)
          .then(
            (a) => ((a.mode & S_IFMT) === S_IFDIR ? 'dir' : `file of ${a.size} bytes`),
            async (err: unknown) => errnoOf(Promise.reject(err)),
          ),
        `getattr ${p}`,
      );
      const expected =
        want === undefined ? 'ENOENT' : want === 'dir' ? 'dir' : `file of ${model.content(p).length} bytes`;
      if (got !== expected) throw new Mismatch(`lookup ${p}: core says ${got}, model says ${expected}`);
      if (want !== 'dir') return;
    }
  }

  async function listing(path: string): Promise<void> {
    const got = (await within(fs().readdir(path), `readdir ${path}`))
      .filter((e) => e.name !== '.' && e.name !== '..')
      .map((e): Entry => {
        if ((e.attr.mode & S_IFMT) === S_IFDIR) return { name: e.name, kind: 'dir' };
        return { name: e.name, kind: 'file', size: e.attr.size };
      })
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const want = model.list(path);
    if (JSON.stringify(got) !== JSON.stringify(want))
      throw new Mismatch(`readdir ${path}: core ${JSON.stringify(got)}, model ${JSON.stringify(want)}`);
  }

  function compareStore(): void {
    const keys = (m: Map<string, unknown>) => [...m.keys()].sort();
    const got = keys(store.objects);
    const want = keys(model.store);
    if (JSON.stringify(got) !== JSON.stringify(want))
      throw new Mismatch(`bucket keys: core ${JSON.stringify(got)}, model ${JSON.stringify(want)}`);
    for (const k of want) {
      const a = store.objects.get(k)?.data;
      const b = model.store.get(k);
      if (!a || !b || !a.equals(b))
        throw new Mismatch(`object ${k}: bucket has ${show(a)}, model ${show(b)}`);
    }
  }

  async function restart(): Promise<void> {
    core.stop();
    core = await testCore(t, { store, stagingDir: core.stagingDir });
    await within(core.recover(), 'recover');
    await within(core.drain(), 'drain after restart');
    fhs.clear();
  }

  const fh = (h: number) => fhs.get(h) ?? -1;

  /** The core's answer to an operation the kernel lets through. */
  function call(op: Op, wasFile: boolean): Promise<Buffer | undefined> {
    const f = fs();
    const none = async (p: Promise<unknown>) => {
      await p;
      return undefined;
    };
    switch (op.op) {
      case 'open':
        return (async () => {
          const n = wasFile ? await f.open(op.path, FLAG_BITS[op.flags]) : await f.create(op.path, 0o644);
          fhs.set(op.id, n);
          return undefined;
        })();
      case 'close':
        return (async () => {
          try {
            await f.flush(fh(op.h));
          } finally {
            await f.release(fh(op.h));
            fhs.delete(op.h);
          }
          return undefined;
        })();
      case 'fsync':
        return none(f.fsync(fh(op.h)));
      case 'read':
        return (async () => {
          const buf = Buffer.alloc(op.length);
          const n = await f.read(fh(op.h), buf, op.offset, op.length);
          return buf.subarray(0, n);
        })();
      case 'write':
        return (async () => {
          const data = opBytes(op);
          const n = await f.write(fh(op.h), data, op.offset, data.length);
          if (n !== data.length) throw new Mismatch(`write returned ${n}, not ${data.length}`);
          return undefined;
        })();
      case 'ftruncate':
        return none(f.ftruncate(fh(op.h), op.size));
      case 'truncate':
        return none(f.truncate(op.path, op.size));
      case 'unlink':
        return none(f.unlink(op.path));
      case 'mkdir':
        return none(f.mkdir(op.path, 0o755));
      case 'rmdir':
        return none(f.rmdir(op.path));
      case 'rename':
        return none(f.rename(op.from, op.to));
      case 'readdir':
        return none(listing(op.path));
      case 'stat':
        return none(f.getattr(op.path));
      case 'remount':
        return none(restart());
      case 'putObject':
        store.putBytes(op.key, opBytes(op));
        core.clock.advance(PAST_TTLS_MS);
        return Promise.resolve(undefined);
      case 'deleteObject':
        store.objects.delete(op.key);
        core.clock.advance(PAST_TTLS_MS);
        return Promise.resolve(undefined);
    }
  }

  function check(want: Expect, got: Got, what: string): void {
    if (got.errno === 'ok' && want.errno === 'ok') {
      if (
        want.altBytes &&
        got.bytes?.equals(want.altBytes.bytes) &&
        !got.bytes.equals(want.bytes ?? Buffer.alloc(0))
      )
        return want.altBytes.taken();
      if (want.bytes && !(got.bytes && got.bytes.equals(want.bytes)))
        throw new Mismatch(`${what}: read ${show(got.bytes)}, model wants ${show(want.bytes)}`);
      return;
    }
    if (got.errno === want.errno || want.alt?.includes(got.errno as never)) return;
    throw new Mismatch(`${what}: core gives ${got.errno}, model wants ${want.errno}`);
  }

  async function step(op: Op): Promise<void> {
    const paths = 'path' in op ? [op.path] : op.op === 'rename' ? [op.from, op.to] : [];
    for (const p of paths) await lookup(p); // what the kernel does first, compared too
    const pre = model.precheck(op);
    if (pre !== undefined) return; // the kernel answers (or nothing to do): the core is not called
    const before = model.dirs();
    const wasFile = op.op === 'open' && model.kind(op.path) === 'file';
    const want = model.apply(op);
    const got = await outcome(within(call(op, wasFile), op.op));
    check(want, got, op.op);
    // an implicit directory whose last key went away: S3 has no trace of it, the mount's
    // cache has; the model says it is gone, so let the cache expire (SEMANTICS.md: TTLs)
    const after = model.dirs();
    if ([...before].some((d) => !after.has(d))) core.clock.advance(PAST_TTLS_MS);
    compareStore();
  }

  try {
    for (let i = 0; i < ops.length; i++) {
      try {
        await step(ops[i] as Op);
      } catch (err) {
        return { step: i, message: err instanceof Mismatch ? err.message : `threw ${String(err)}` };
      }
    }
    // the end: every program exits (close), the daemon restarts, everything must be in S3 and shown
    try {
      for (const h of [...model.handles.keys()]) await step({ op: 'close', h });
      await step({ op: 'remount' });
      const walk = async (dir: string): Promise<void> => {
        await lookup(dir);
        await listing(dir);
        for (const e of model.list(dir))
          if (e.kind === 'dir') await walk(dir === '/' ? `/${e.name}` : `${dir}/${e.name}`);
      };
      await walk('/');
    } catch (err) {
      return { step: ops.length, message: err instanceof Mismatch ? err.message : `threw ${String(err)}` };
    }
    return undefined;
  } finally {
    for (const f of teardowns.reverse()) await f();
  }
}

/** A failure, the sequence, and how to run it again. */
export function describe(ops: Op[], f: Failure): string {
  const at = ops[f.step];
  return [
    `step ${f.step} ${at ? JSON.stringify(at) : '(final close, remount and walk)'}: ${f.message}`,
    `sequence (${ops.length} ops):`,
    formatOps(ops),
  ].join('\n');
}
