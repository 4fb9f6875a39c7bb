// PartBuffers: the memory of upload parts in flight (a quarter of --memory-limit),
// allocated once and reused. A fresh Buffer per 8 MiB part made the kernel fault in and
// zero every page of it: the biggest single item (clear_page) in the daemon's CPU
// profile of a 1 GiB write, on a machine whose CPU the S3 server needs too. The memory
// is shared (SharedArrayBuffer): the hash threads (util/hash-threads.ts) hash a part in
// place, without a copy.
import { Semaphore } from '../util/semaphore.js';

export class PartBuffers {
  private readonly slots: Semaphore;
  private readonly free: Buffer[] = [];

  /** `count` parts of up to `bytes` bytes at once */
  constructor(
    count: number,
    private readonly bytes: number,
  ) {
    this.slots = new Semaphore(count);
  }

  /**
   * Runs `job` with `length` bytes of memory, once one of the slots is free. The memory
   * is reused after `job` settles: nothing may keep a reference to it.
   */
  run<T>(length: number, job: (buf: Buffer) => Promise<T>): Promise<T> {
    return this.slots.run(async () => {
      // a larger part (an object of over 10,000 parts) gets memory of its own
      if (length > this.bytes) return job(Buffer.allocUnsafe(length));
      const own = this.free.pop() ?? Buffer.from(new SharedArrayBuffer(this.bytes));
      try {
        return await job(own.subarray(0, length));
      } finally {
        this.free.push(own);
      }
    });
  }
}
