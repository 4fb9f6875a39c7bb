// PrefetchBudget: how the bytes readers may prefetch ahead are shared between them. Pure
// policy, one per mount (BlockFetcher owns it).

/**
 * Each sequential stream gets an equal share, so that many readers do not evict each
 * other's prefetched blocks before they are read. Readers of one object version less
 * than one window apart (8 processes reading one input file at once) fetch the same
 * blocks: they are one stream, with one share. Without that they would each get an
 * eighth, and the file would come in at an eighth of the window.
 */
export class PrefetchBudget {
  /** readers currently prefetching: the object version they read, and where */
  private readonly readers = new Map<object, { version: string; at: number }>();

  constructor(private readonly budgetBytes: number) {}

  /**
   * `reader`, reading object version `version` at offset `at`, wants `wantedBytes`
   * ahead (0: it is not prefetching): what it may have.
   */
  allow(reader: object, wantedBytes: number, version: string, at: number): number {
    if (wantedBytes <= 0) {
      this.readers.delete(reader);
      return 0;
    }
    this.readers.set(reader, { version, at });
    return Math.min(wantedBytes, Math.floor(this.budgetBytes / this.streams(wantedBytes)));
  }

  /** The reader is closed. */
  forget(reader: object): void {
    this.readers.delete(reader);
  }

  /** prefetching readers, counting once those of one version less than `near` bytes apart */
  streams(near: number): number {
    if (this.readers.size <= 1) return this.readers.size;
    const byVersion = new Map<string, number[]>();
    for (const r of this.readers.values()) {
      const at = byVersion.get(r.version);
      if (at) at.push(r.at);
      else byVersion.set(r.version, [r.at]);
    }
    let n = 0;
    for (const at of byVersion.values()) {
      at.sort((a, b) => a - b);
      n += 1;
      for (let i = 1; i < at.length; i++) if ((at[i] as number) - (at[i - 1] as number) >= near) n += 1;
    }
    return n;
  }
}
