// SmallFileLookahead: a program that goes through the small files of a listed directory
// one after another (cat dir/*, cp -r, tar, a loader reading samples) finds the next ones
// fetched ahead, whole, by GETs pinned to the ETags of the listing: its reads come from
// the block cache instead of a round trip each. Bounded in files, directories and bytes.
import type { Logger } from '../log/logger.js';
import type { BlockFetcher, ObjectVersion } from './block-fetcher.js';

/** A directory's listing as the look-ahead sees it (built by fs/, which knows listings). */
export interface ListedFiles {
  /** the entries' names in listing order (files, directories, anything listed) */
  readonly names: readonly string[];
  /** the position of each name in `names` */
  readonly index: ReadonlyMap<string, number>;
  /** the object to fetch for entry `i` if it is a small file (one block, with an ETag), as listed now */
  smallFileAt(i: number): ObjectVersion | undefined;
}

export interface LookaheadOptions {
  fetcher: Pick<BlockFetcher, 'fetchWhole' | 'isCachedOrFetching'>;
  /** small files fetched ahead of one directory's reader, at most (--small-file-lookahead) */
  filesPerDir: number;
  /** files fetched ahead and not yet opened, over all directories, at most (a share of the cache) */
  filesTotal: number;
  /** look-ahead GETs in flight at once */
  concurrency: number;
  logger: Logger;
}

/**
 * Opens of a directory's files in listing order before it looks ahead: a program that
 * opens one file of a directory (an editor, a config read) costs no GETs beyond its own;
 * the second open in order is the first sign of a walk through them.
 */
export const LOOKAHEAD_TRIGGER_OPENS = 2;
/** directories followed at once; the least recently opened one is forgotten beyond that */
export const LOOKAHEAD_MAX_DIRS = 8;

interface DirState {
  path: string;
  files: ListedFiles;
  /** opens that came in listing order (within the window of the one before) */
  run: number;
  /** the furthest entry opened since the last jump */
  front: number;
  /** the next entry to consider fetching */
  next: number;
}

export class SmallFileLookahead {
  /** by directory path, least recently opened first */
  private readonly dirs = new Map<string, DirState>();
  private inflight = 0;
  readonly counters = { fetches: 0, failures: 0 };

  constructor(private readonly o: LookaheadOptions) {}

  /**
   * File `name` of directory `dir` (listed as `files`) was opened for reading: if that
   * continues opens in listing order, fetch the next small files ahead of it.
   */
  opened(dir: string, files: ListedFiles, name: string): void {
    const i = files.index.get(name);
    if (i === undefined) return;
    let st = this.dirs.get(dir);
    if (st?.files !== files) st = { path: dir, files, run: 0, front: -1, next: 0 };
    this.dirs.delete(dir); // re-inserted last: the most recently opened
    this.dirs.set(dir, st);
    if (this.dirs.size > LOOKAHEAD_MAX_DIRS) this.forgetOldest();
    const inOrder = st.front >= 0 && i !== st.front && Math.abs(i - st.front) <= this.o.filesPerDir;
    if (inOrder) {
      st.run++;
      st.front = Math.max(st.front, i);
      st.next = Math.max(st.next, st.front + 1);
    } else {
      // a jump: start counting again from here
      st.run = 1;
      st.front = i;
      st.next = i + 1;
    }
    if (st.run >= LOOKAHEAD_TRIGGER_OPENS) this.pump();
  }

  /** Files fetched ahead of their directory's reader and not opened yet (at most). */
  private aheadOf(st: DirState): number {
    return st.run >= LOOKAHEAD_TRIGGER_OPENS ? Math.max(0, st.next - 1 - st.front) : 0;
  }

  private forgetOldest(): void {
    const oldest = this.dirs.keys().next();
    if (!oldest.done) this.dirs.delete(oldest.value);
  }

  /** Starts fetches while GET slots and the windows allow, most recently opened directory first. */
  private pump(): void {
    const states = [...this.dirs.values()].reverse();
    let total = states.reduce((n, st) => n + this.aheadOf(st), 0);
    for (const st of states) {
      if (st.run < LOOKAHEAD_TRIGGER_OPENS) continue;
      while (this.inflight < this.o.concurrency && st.next < st.files.names.length) {
        if (st.next - 1 - st.front >= this.o.filesPerDir) break;
        if (total >= this.o.filesTotal) {
          // the newest reader goes on at the expense of the least recently opened
          // directory (a reader that stopped keeps its window otherwise)
          if (st === states[0] && this.dirs.size > 1) {
            this.forgetOldest();
            this.pump();
          }
          return;
        }
        const obj = st.files.smallFileAt(st.next++);
        total++;
        if (!obj || this.o.fetcher.isCachedOrFetching(obj)) continue;
        this.start(obj);
      }
      if (this.inflight >= this.o.concurrency) return;
    }
  }

  private start(obj: ObjectVersion): void {
    this.inflight++;
    this.counters.fetches++;
    this.o.fetcher
      .fetchWhole(obj)
      .catch((err: unknown) => {
        // nobody waits for it: a reader that opens the file fetches it again (and an
        // object replaced since the listing fails its If-Match: nothing stale is kept)
        this.counters.failures++;
        this.o.logger.debug('small file look-ahead failed', { key: obj.key, error: String(err) });
      })
      .finally(() => {
        this.inflight--;
        this.pump();
      });
  }
}
