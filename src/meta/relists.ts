// Relists: lists a small directory again to answer for names its cached listing misses
// (another client may have put them since: RELIST_MAX_ENTRIES in cache-entries.ts), one
// listing per directory at a time, without bringing back names this mount removed meanwhile.
import type { Logger } from '../log/logger.js';
import type { Clock } from '../util/clock.js';
import { SingleFlight } from '../util/single-flight.js';
import type { Listed } from './cache-entries.js';
import type { Directory } from './listing.js';
import { baseName, parentPath } from './paths.js';

export interface RelistsOptions {
  clock: Clock;
  logger: Logger;
  ttlMs: number;
  negativeTtlMs: number;
  /** lists `dir` from S3 (replacing its cached listing if nothing raced it) */
  list(dir: string): Promise<Directory>;
  /** the cached listing of `dir` now, without touching its recency */
  peek(dir: string): Listed | undefined;
}

export class Relists {
  private readonly runs = new SingleFlight<void>();
  /** names removed here while their directory is listed again: not brought back by it */
  private readonly removedDuring = new Map<string, Set<string>>();

  constructor(private readonly o: RelistsOptions) {}

  /**
   * Lists directory `dir` again to answer for names its listing `listed` misses. A
   * listing nothing raced replaces it (`list`); otherwise the names it shows that `listed`
   * lacks are added (never over what this mount recorded meanwhile, never one it removed),
   * and misses are answered from `listed` again.
   */
  relist(dir: string, listed: Listed): Promise<void> {
    return this.runs.run(dir, async () => {
      const startMs = this.o.clock.nowMs();
      const removed = new Set<string>();
      this.removedDuring.set(dir, removed);
      try {
        const now = await this.o.list(dir);
        if (this.o.peek(dir) !== listed) return; // replaced by that listing, or dropped
        for (const [name, node] of now.entries)
          if (!listed.value.entries.has(name) && !removed.has(name)) listed.value.entries.set(name, node);
        listed.missesUntilMs = startMs + Math.min(this.o.ttlMs, this.o.negativeTtlMs);
      } catch (err) {
        // the per-name lookup that follows asks S3 itself and reports its own failure
        this.o.logger.debug('listing again failed', { path: dir, error: String(err) });
      } finally {
        this.removedDuring.delete(dir);
      }
    });
  }

  /** This mount removed `path`: a listing of its directory under way must not bring it back. */
  removed(path: string): void {
    this.removedDuring.get(parentPath(path))?.add(baseName(path));
  }
}
