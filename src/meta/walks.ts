// Walks: when a directory walk (find, du, ls -R, rsync) descends into the sub-directories
// of a directory, one listing without a delimiter fills the listings of its whole subtree.
import type { Logger } from '../log/logger.js';
import type { ObjectStore } from '../s3/store.js';
import type { Clock } from '../util/clock.js';
import type { Directory } from './listing.js';
import { baseName, dirPrefix, joinPath, parentPath } from './paths.js';
import { Semaphore } from '../util/semaphore.js';
import { SubtreeMerge, type SealedDir } from './subtree.js';

export interface WalkOptions {
  store: ObjectStore;
  prefix: string;
  clock: Clock;
  logger: Logger;
  /** most keys one subtree listing takes in (its share of memory); beyond, directories are listed one by one. 0: never */
  maxKeys: number;
  /** how long a directory whose subtree was too large is not listed as a whole again */
  ttlMs: number;
  /** the fresh cached listing of the directory at `path`, if there is one */
  cached(path: string): Directory | undefined;
  /** stores the complete listing of `path` a subtree listing made */
  install(path: string, dir: Directory): void;
  /** drops a listing `install` stored (the subtree listing turned out wrong) */
  forget(path: string): void;
  /**
   * lists the directory at `path` in the background (its LIST sent through `gate`) unless
   * it is cached or being listed; whether it started
   */
  listAhead(path: string, gate: <T>(job: () => Promise<T>) => Promise<T>): boolean;
}

/**
 * A directory is listed as a whole when a walk descends into one of at least this many
 * sub-directories: with one, the walk goes on one level down, where the choice comes again.
 */
export const WALK_MIN_SUBDIRS = 2;
/** subtree listings under way at once; more walks list directories one by one */
const WALK_MAX_ACTIVE = 4;
/**
 * How many more pages a listing of a directory waits for while a subtree listing has not
 * reached it yet: a walk reads in key order, right behind the listing's front, so one or
 * two pages cover it; a directory far ahead (an `ls` during a walk) is listed by itself.
 */
const WALK_WAIT_PAGES = 2;
/** siblings listed ahead of a walk that lists directories one by one, and how many of those LISTs run at once */
const SIBLING_PREFETCH = 32;
const SIBLING_PREFETCH_CONCURRENCY = 8;

interface Waiter {
  path: string;
  pagesLeft: number;
  resolve: () => void;
}

/** One subtree listing under way. */
class Walk {
  lastKey: string | undefined;
  done = false;
  readonly waiters = new Set<Waiter>();
  /** listings stored so far, dropped again if the listing turns out wrong */
  readonly installed: string[] = [];
  /** directories whose listing changed here since this listing began */
  private readonly touched = new Set<string>();
  private readonly touchedTrees: string[] = [];

  constructor(
    readonly root: string,
    readonly rootPrefix: string,
  ) {}

  covers(path: string): boolean {
    return path !== this.root && (this.root === '/' || path.startsWith(`${this.root}/`));
  }

  /** Records a local change of `path` (`tree`: of everything below it too); its directories' listings change. */
  touch(path: string, tree: boolean): void {
    if (tree) this.touchedTrees.push(path);
    for (let p = path; ; p = parentPath(p)) {
      this.touched.add(p);
      if (p === '/') break;
    }
  }

  changedHere(path: string): boolean {
    return (
      this.touched.has(path) ||
      this.touchedTrees.some((t) => t === '/' || path === t || path.startsWith(`${t}/`))
    );
  }

  /** whether the listing's front is past every key starting with `prefix` (a hint: string order, not byte order) */
  passed(prefix: string): boolean {
    return this.lastKey !== undefined && this.lastKey > prefix && !this.lastKey.startsWith(prefix);
  }

  wake(match: (w: Waiter) => boolean): void {
    for (const w of this.waiters)
      if (match(w)) {
        this.waiters.delete(w);
        w.resolve();
      }
  }
}

export class Walks {
  private readonly active = new Map<string, Walk>();
  /** directories whose subtree listing reached maxKeys, until when they are not listed whole again */
  private readonly tooBig = new Map<string, number>();
  readonly counters = { walks: 0, walkPages: 0, walksCapped: 0, walkDirs: 0 };

  private readonly siblingSlots = new Semaphore(SIBLING_PREFETCH_CONCURRENCY);

  constructor(private readonly o: WalkOptions) {}

  /**
   * A walk that lists directories one by one (no subtree listing: off, too large a tree,
   * too many at once) lists sibling directories one after another, each a LIST round
   * trip. When one sub-directory was listed, list the next few siblings in the
   * background, so the walk finds them ready. `ls` of a single directory triggers nothing.
   */
  siblingsAfter(path: string): void {
    if (path === '/' || this.o.ttlMs <= 0) return;
    const dirPath = parentPath(path);
    const parent = this.o.cached(dirPath);
    if (!parent) return;
    const me = baseName(path);
    let seen = false;
    let started = 0;
    for (const [name, node] of parent.entries) {
      if (!seen) {
        seen = name === me;
        continue;
      }
      if (started >= SIBLING_PREFETCH) break;
      if (node.kind !== 'dir') continue;
      if (this.o.listAhead(joinPath(dirPath, name), (job) => this.siblingSlots.run(job))) started++;
    }
  }

  /**
   * Called before the directory at `path` is listed from S3. If a subtree listing covers
   * it, or one starts now (a walk descends into a sub-directory of a freshly listed
   * directory), waits until that listing has completed `path`, ended, or gone on for
   * WALK_WAIT_PAGES pages without reaching it. Returns whether it waited: the caller
   * looks at its cache again, and lists `path` itself if it is still not there.
   */
  async before(path: string): Promise<boolean> {
    if (this.o.maxKeys <= 0) return false;
    const walk = this.covering(path) ?? this.maybeStart(path);
    if (!walk) return false;
    if (walk.done || walk.passed(dirPrefix(this.o.prefix, path))) return true;
    await new Promise<void>((resolve) => walk.waiters.add({ path, pagesLeft: WALK_WAIT_PAGES, resolve }));
    return true;
  }

  /** Tells every subtree listing under way that `path` (with `tree`, all below it) changed here: those listings are not stored. */
  touch(path: string, tree = false): void {
    for (const w of this.active.values()) w.touch(path, tree);
  }

  private covering(path: string): Walk | undefined {
    let best: Walk | undefined;
    for (const w of this.active.values())
      if (w.covers(path) && (!best || w.root.length > best.root.length)) best = w;
    return best;
  }

  private maybeStart(path: string): Walk | undefined {
    if (path === '/' || this.active.size >= WALK_MAX_ACTIVE) return undefined;
    const root = parentPath(path);
    const dir = this.o.cached(root);
    if (dir?.entries.get(baseName(path))?.kind !== 'dir') return undefined;
    const until = this.tooBig.get(root);
    if (until !== undefined) {
      if (until > this.o.clock.nowMs()) return undefined;
      this.tooBig.delete(root);
    }
    let subdirs = 0;
    for (const n of dir.entries.values()) if (n.kind === 'dir' && ++subdirs >= WALK_MIN_SUBDIRS) break;
    if (subdirs < WALK_MIN_SUBDIRS) return undefined;
    const walk = new Walk(root, dirPrefix(this.o.prefix, root));
    this.active.set(root, walk);
    this.counters.walks++;
    void this.run(walk);
    return walk;
  }

  private async run(walk: Walk): Promise<void> {
    const merge = new SubtreeMerge(walk.root, walk.rootPrefix);
    try {
      let token: string | undefined;
      do {
        const page = await this.o.store.list({
          prefix: walk.rootPrefix,
          ...(token !== undefined ? { continuationToken: token } : {}),
        });
        this.counters.walkPages++;
        const sealed = merge.addPage(page.objects);
        if (merge.disordered) throw new Error('the server listed keys out of order');
        token = page.nextToken;
        walk.lastKey = page.objects.at(-1)?.key ?? walk.lastKey;
        this.deliver(walk, sealed);
        walk.wake((w) => --w.pagesLeft <= 0);
        if (token !== undefined && merge.keys >= this.o.maxKeys) {
          this.counters.walksCapped++;
          this.tooBig.set(walk.root, this.o.clock.nowMs() + this.o.ttlMs);
          this.o.logger.info('directory tree too large to list at once: listing its directories one by one', {
            path: walk.root,
            keys: merge.keys,
          });
          return;
        }
      } while (token !== undefined);
      this.deliver(walk, merge.finish());
      if (merge.hidden > 0)
        this.o.logger.info('listing has keys that cannot be shown as names', {
          path: walk.root,
          hidden: merge.hidden,
        });
    } catch (err) {
      for (const p of walk.installed) this.o.forget(p);
      this.o.logger.debug('subtree listing failed: directories are listed one by one', {
        path: walk.root,
        error: String(err),
      });
    } finally {
      walk.done = true;
      this.active.delete(walk.root);
      walk.wake(() => true);
    }
  }

  /** Stores the listings a page completed, but not those of directories changed here since the listing began. */
  private deliver(walk: Walk, sealed: SealedDir[]): void {
    for (const s of sealed) {
      if (walk.changedHere(s.path)) continue;
      this.o.install(s.path, s.dir);
      walk.installed.push(s.path);
      this.counters.walkDirs++;
    }
    if (sealed.length > 0) {
      const done = new Set(sealed.map((s) => s.path));
      walk.wake((w) => done.has(w.path));
    }
  }
}
