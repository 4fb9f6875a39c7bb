// HashThreads: the hashes of upload parts (each part's MD5 for Content-MD5, its SHA-256
// for the SigV4 payload, the whole object's SHA-256 for `verify`) computed on two worker
// threads. On the JavaScript thread they took 2.7 of the 4.2 s it was busy while `dd`
// wrote 1 GiB (profiled), time the thread that answers FUSE could not serve writes in.
// Part buffers are SharedArrayBuffers (part-buffers.ts): a thread hashes them where
// they are. Other memory is copied to the thread, or hashed here when small.
import { createHash } from 'node:crypto';
import { WorkerCalls } from './worker-calls.js';

/** a thread's round trip costs more than hashing this much here */
export const INLINE_MAX_BYTES = 256 * 1024;

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
  private readonly threads: WorkerCalls[];
  private nextStream = 1;

  constructor(count = 2) {
    this.threads = Array.from({ length: count }, () => new WorkerCalls(THREAD_SOURCE, 'hash thread'));
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
          await thread.call({ op: 'update', bytes, stream });
        } catch {
          broken = true;
        }
      },
      digest: async () => {
        if (broken) return undefined;
        try {
          return (await thread.call({ op: 'digest', stream })) as string;
        } catch {
          return undefined;
        }
      },
      discard: () => {
        broken = true; // a piece still on its way is not sent
        thread.post({ op: 'drop', stream });
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
      return from(await thread.call({ op, bytes }));
    } catch {
      return here(); // the thread failed: hashed here rather than not at all
    }
  }

  private idlest(): WorkerCalls {
    let best = this.threads[0] as WorkerCalls;
    for (const t of this.threads) if (!t.failed && (best.failed || t.busy < best.busy)) best = t;
    return best;
  }
}

/** The process's hash threads (started at their first use). */
export const hashThreads = new HashThreads();
