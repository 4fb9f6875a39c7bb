// Random operation sequences from a seed: a shadow model keeps track of what exists and
// which handles are open, so most operations hit live names and handles.
import { Model, type Kind } from './model.js';
import type { Op, OpenFlags } from './ops.js';

const KiB = 1024;
/** files grow to a few 64 KiB blocks (the test core's block size) */
const MAX_OFFSET = 160 * KiB;
const MAX_WRITE = 70 * KiB;
const NAMES = ['a', 'b', 'c'];
const FLAGS: OpenFlags[] = ['r', 'w', 'rw', 'w+trunc', 'rw+trunc'];

/** mulberry32: small, fast, and the same sequence on every machine */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Picker {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  one<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  /** small sizes often (bytes), large ones sometimes (blocks) */
  size(max: number): number {
    return this.chance(0.5) ? this.int(100) + 1 : this.int(max) + 1;
  }
}

/** Paths of up to three components over a small alphabet, so names collide often. */
function randomPath(p: Picker): string {
  const depth = 1 + p.int(3);
  return `/${Array.from({ length: depth }, () => p.one(NAMES)).join('/')}`;
}

function existing(model: Model, kind: Kind): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of model.list(dir)) {
      const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
      if (e.kind === kind) out.push(path);
      if (e.kind === 'dir') walk(path);
    }
  };
  walk('/');
  return out;
}

/** A path that exists as `kind` most of the time, else any path. */
function pathOf(p: Picker, model: Model, kind: Kind): string {
  const live = existing(model, kind);
  return live.length > 0 && p.chance(0.75) ? p.one(live) : randomPath(p);
}

/** `steps` operations for `seed`. The same seed always gives the same sequence. */
export function generate(seed: number, steps: number): Op[] {
  const p = new Picker(prng(seed));
  const model = new Model();
  const ops: Op[] = [];
  let nextId = 1;
  // a few objects from another client to start with (implicit directories among them)
  for (let i = p.int(4); i > 0; i--) {
    const op: Op = {
      op: 'putObject',
      key: randomPath(p).slice(1),
      length: p.size(MAX_WRITE),
      seed: p.int(1000),
    };
    ops.push(op);
    if (model.precheck(op) === undefined) model.apply(op);
  }
  while (ops.length < steps) {
    const handles = [...model.handles.keys()];
    const h = () => p.one(handles);
    const r = p.int(100);
    let op: Op;
    if (r < 14) {
      const create = p.chance(0.5);
      const path = create && p.chance(0.5) ? randomPath(p) : pathOf(p, model, 'file');
      op = { op: 'open', id: nextId++, path, flags: p.one(FLAGS), create };
    } else if (handles.length > 0 && r < 26) op = { op: 'close', h: h() };
    else if (handles.length > 0 && r < 40) {
      op = { op: 'write', h: h(), offset: p.int(MAX_OFFSET), length: p.size(MAX_WRITE), seed: p.int(1000) };
    } else if (handles.length > 0 && r < 50) {
      op = { op: 'read', h: h(), offset: p.chance(0.3) ? 0 : p.int(MAX_OFFSET), length: p.size(MAX_WRITE) };
    } else if (handles.length > 0 && r < 53) op = { op: 'ftruncate', h: h(), size: p.int(MAX_OFFSET) };
    else if (handles.length > 0 && r < 55) op = { op: 'fsync', h: h() };
    else if (r < 58) op = { op: 'truncate', path: pathOf(p, model, 'file'), size: p.int(MAX_OFFSET) };
    else if (r < 63) op = { op: 'unlink', path: pathOf(p, model, 'file') };
    else if (r < 69) op = { op: 'mkdir', path: randomPath(p) };
    else if (r < 72) op = { op: 'rmdir', path: pathOf(p, model, 'dir') };
    else if (r < 79) {
      const from = pathOf(p, model, p.chance(0.7) ? 'file' : 'dir');
      op = { op: 'rename', from, to: randomPath(p) };
    } else if (r < 85) op = { op: 'readdir', path: p.chance(0.3) ? '/' : pathOf(p, model, 'dir') };
    else if (r < 91) op = { op: 'stat', path: randomPath(p) };
    else if (r < 93) op = { op: 'remount' };
    else if (r < 96) {
      op = { op: 'putObject', key: randomPath(p).slice(1), length: p.size(MAX_WRITE), seed: p.int(1000) };
    } else if (r < 98) op = { op: 'deleteObject', key: pathOf(p, model, 'file').slice(1) };
    else continue;
    ops.push(op);
    if (model.precheck(op) === undefined) model.apply(op);
  }
  return ops;
}
