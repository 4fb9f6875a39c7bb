// HashThreads: the hashes of upload parts (each part's MD5 for Content-MD5, its SHA-256
// for the SigV4 payload, the whole object's SHA-256 for `verify`) computed on two worker
// threads. On the JavaScript thread they took 2.7 of the 4.2 s it was busy while `dd`
// wrote 1 GiB (profiled), time the thread that answers FUSE could not serve writes in.
// Part buffers are SharedArrayBuffers (part-buffers.ts): a thread hashes them where
// they are. Other memory is copied to the thread, or hashed here when small.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** a thread's round trip costs more than hashing this much here */
const INLINE_MAX_BYTES = 256 * 1024;

// CommonJS, run with eval: no file to find next to this module (dist/ or src/ under tsx)
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const streams = new Map();
parentPort.on('message', (m) => {
  try {
    let value;
    if (m.op === 'md5') value = createHash('md5').update(m.bytes).digest();
    else if (m.op === 'sha256') value = createHash('sha256').update(m.bytes).digest('hex');
    else if (m.op === 'update') {
      let h = streams.get(m.stream);
      if (!h) streams.set(m.stream, (h = createHash('sha256')));
      h.update(m.bytes);
    } else if (m.op === 'digest') {
      value = (streams.get(m.stream) || createHash('sha256')).digest('hex');
      streams.delete(m.stream);
    } else if (m.op === 'drop') return void streams.delete(m.stream);
    parentPort.postMessage({ id: m.id, value });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  }
});
`;

type Op = 'md5' | 'sha256' | 'update' | 'digest' | 'drop';
interface Reply {
  id: number;
  value?: unknown;
  error?: string;
}

/** One worker thread and the calls waiting for it. */
class HashThread {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  /** it failed (or could not start): one-shot hashes are made on the caller's thread from then on */
  failed = false;

  get busy(): number {
    return this.waiting.size;
  }

  call(op: Op, fields: { bytes?: Uint8Array; stream?: number }): Promise<unknown> {
    // (never started again: the streams it held are gone)
    if (this.failed) return Promise.reject(new Error('hash thread failed'));
    const w = this.start();
    const id = this.nextId++;
    const done = new Promise<unknown>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    if (this.waiting.size === 1) w.ref(); // while a call waits, the process stays up for it
    w.postMessage({ id, op, ...fields });
    return done;
  }

  /** Fire and forget (no answer comes). */
  post(op: Op, fields: { stream: number }): void {
    if (!this.failed && this.worker) this.worker.postMessage({ id: 0, op, ...fields });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(THREAD_SOURCE, { eval: true });
    w.on('message', (r: Reply) => {
      const call = this.waiting.get(r.id);
      if (!call) return;
      this.waiting.delete(r.id);
      if (this.waiting.size === 0) w.unref();
      if (r.error !== undefined) call.reject(new Error(`hash thread: ${r.error}`));
      else call.resolve(r.value);
    });
    const fail = (err: Error) => {
      this.failed = true;
      for (const c of this.waiting.values()) c.reject(err);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`hash thread exited (${code})`)));
    w.unref(); // (after the listeners: adding one refs it again)
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failed = true;
    if (w) await w.terminate();
  }
}

/** A SHA-256 over pieces fed in order, made on one thread. */
export interface HashStream {
  /** hashes `bytes` after the pieces fed before; resolves once `bytes` may be reused */
  update(bytes: Uint8Array): Promise<void>;
  /** the hex digest of all pieces; undefined if the thread failed on the way */
  digest(): Promise<string | undefined>;
  /** no digest will be asked: the thread forgets the stream */
  discard(): void;
}

export class HashThreads {
  private readonly threads: HashThread[];
  private nextStream = 1;

  constructor(count = 2) {
    this.threads = Array.from({ length: count }, () => new HashThread());
  }

  md5(bytes: Uint8Array): Promise<Buffer> {
    return this.oneShot(
      'md5',
      bytes,
      () => createHash('md5').update(bytes).digest(),
      (v) => {
        const u = v as Uint8Array;
        return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
      },
    );
  }

  sha256(bytes: Uint8Array): Promise<string> {
    return this.oneShot(
      'sha256',
      bytes,
      () => createHash('sha256').update(bytes).digest('hex'),
      (v) => v as string,
    );
  }

  stream(): HashStream {
    const thread = this.idlest();
    const stream = this.nextStream++;
    let broken = thread.failed;
    return {
      update: async (bytes) => {
        if (broken) return;
        try {
          await thread.call('update', { bytes, stream });
        } catch {
          broken = true;
        }
      },
      digest: async () => {
        if (broken) return undefined;
        try {
          return (await thread.call('digest', { stream })) as string;
        } catch {
          return undefined;
        }
      },
      discard: () => {
        broken = true; // a piece still on its way is not sent
        thread.post('drop', { stream });
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }

  private async oneShot<T>(
    op: 'md5' | 'sha256',
    bytes: Uint8Array,
    here: () => T,
    from: (v: unknown) => T,
  ): Promise<T> {
    const thread = this.idlest();
    if (bytes.byteLength < INLINE_MAX_BYTES || thread.failed) return here();
    try {
      return from(await thread.call(op, { bytes }));
    } catch {
      return here(); // the thread failed: hashed here rather than not at all
    }
  }

  private idlest(): HashThread {
    let best = this.threads[0] as HashThread;
    for (const t of this.threads) if (!t.failed && (best.failed || t.busy < best.busy)) best = t;
    return best;
  }
}

/** The process's hash threads (started at their first use). */
export const hashThreads = new HashThreads();
