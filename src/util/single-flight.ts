// SingleFlight: concurrent callers asking for the same key share one in-flight promise.
// The entry is dropped when the promise settles, so a later call starts afresh.

export class SingleFlight<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  run(key: string, job: () => Promise<T>): Promise<T> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    const p = job().finally(() => {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    });
    this.inflight.set(key, p);
    return p;
  }

  has(key: string): boolean {
    return this.inflight.has(key);
  }

  get size(): number {
    return this.inflight.size;
  }
}
