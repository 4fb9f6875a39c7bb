// WorkerCalls: one worker thread, started at its first call, and the calls waiting for
// its answers. The thread runs `source` (CommonJS, with eval: no file to find next to
// this module, in dist/ or src/ under tsx); it answers each message `{ id, ...fields }`
// with `{ id, value }` or `{ id, error }`. While a call waits, the thread keeps the
// process up; idle, it does not. If it fails or exits, waiting calls reject and later
// ones reject at once: it is never started again (state it held is gone).
import { Worker } from 'node:worker_threads';

interface Reply {
  id: number;
  value?: unknown;
  error?: string;
}

export class WorkerCalls {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  /** it failed, could not start, or was closed */
  failed = false;

  constructor(
    private readonly source: string,
    /** for error messages: what the thread does */
    private readonly name: string,
  ) {}

  /** calls waiting for an answer */
  get busy(): number {
    return this.waiting.size;
  }

  call(fields: Record<string, unknown>): Promise<unknown> {
    if (this.failed) return Promise.reject(new Error(`${this.name} failed`));
    let w: Worker;
    try {
      w = this.start();
    } catch (err) {
      this.failed = true;
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const id = this.nextId++;
    const done = new Promise<unknown>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    if (this.waiting.size === 1) w.ref(); // while a call waits, the process stays up for it
    w.postMessage({ ...fields, id });
    return done;
  }

  /** Fire and forget (no answer comes); nothing if the thread is not running. */
  post(fields: Record<string, unknown>): void {
    if (!this.failed && this.worker) this.worker.postMessage({ ...fields, id: 0 });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failed = true;
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.source, { eval: true });
    w.on('message', (r: Reply) => {
      const call = this.waiting.get(r.id);
      if (!call) return;
      this.waiting.delete(r.id);
      if (this.waiting.size === 0) w.unref();
      if (r.error !== undefined) call.reject(new Error(`${this.name}: ${r.error}`));
      else call.resolve(r.value);
    });
    const fail = (err: Error) => {
      this.failed = true;
      for (const c of this.waiting.values()) c.reject(err);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`${this.name} exited (${code})`)));
    w.unref(); // (after the listeners: adding one refs it again)
    this.worker = w;
    return w;
  }
}
