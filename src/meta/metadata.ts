// MetadataCache: path → Node lookups and directory listings backed by S3, with TTLs,
// a negative cache and single-flight remote lookups. Knows nothing of FUSE or errno.
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log/logger.js';
import { isStoreError } from '../s3/errors.js';
import type { ObjectStore } from '../s3/store.js';
import type { Clock } from '../util/clock.js';
import { RecentMap } from '../util/recent-map.js';
import { SingleFlight } from '../util/single-flight.js';
import { attrsFromMetadata } from './attrs.js';
import {
  emptyDirectory,
  keepKnownAttrs,
  mergePage,
  nodeFromHead,
  PageStream,
  type Directory,
  type Node,
} from './listing.js';
import { DEFAULT_MAX_ENTRIES, RELIST_MAX_ENTRIES, type Listed, type Timed } from './cache-entries.js';
import { baseName, dirPrefix, fileKey, joinPath, parentPath } from './paths.js';
import { Relists } from './relists.js';
import { Walks } from './walks.js';

export type { Node } from './listing.js';

export interface MetadataOptions {
  store: ObjectStore;
  prefix: string;
  clock: Clock;
  logger: Logger;
  ttlMs: number;
  negativeTtlMs: number;
  /** most cached paths (stat + negative); listing entries count too */
  maxEntries?: number;
  /** called on every change this cache records, so that caches copied from it drop too */
  onChange?: () => void;
  /** told what this cache learns or records of a path (undefined: nothing there), and what it
   *  knew of it before (even expired) when learnt from S3 (undefined: a change made here) */
  onNode?: (path: string, node: Node | undefined, before: Node | undefined, local: boolean) => void;
  /** most keys a directory walk's subtree listing takes in (walks.ts); 0 or absent: directories are listed one by one */
  walkMaxKeys?: number;
}

export class MetadataCache {
  private readonly stats: LRUCache<string, Timed<Node>>;
  private readonly negative: LRUCache<string, number>;
  private readonly dirs: LRUCache<string, Listed>;
  /** the mount root: no object holds its attributes, so times and modes set on it live here */
  private root: Node = { kind: 'dir', attrs: {} };
  private readonly lookups = new SingleFlight<Node | undefined>();
  private readonly listings = new SingleFlight<Directory>();
  private readonly heads = new SingleFlight<Node | undefined>();
  private readonly relists: Relists;
  /** names seen as a file written here and as a directory at once (S3 allows both) */
  private readonly both = new RecentMap<string, true>(1000);
  /** bumped by every local change, so a remote answer that raced a change is not cached */
  private generation = 0;
  readonly counters = { lookups: 0, remoteLookups: 0, listPages: 0 };
  private readonly walks: Walks;

  constructor(private readonly o: MetadataOptions) {
    const max = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
    // maxSize rather than max: lru-cache preallocates arrays of `max` slots (~0.1 s each at start)
    this.stats = new LRUCache({ maxSize: max, sizeCalculation: () => 1 });
    this.negative = new LRUCache({ maxSize: max, sizeCalculation: () => 1 });
    this.dirs = new LRUCache({ maxSize: max, sizeCalculation: (d) => Math.max(1, d.value.entries.size) });
    this.relists = new Relists({
      ...o,
      list: (dir) => this.remoteList(dir),
      peek: (dir) => this.dirs.peek(dir),
    });
    this.walks = new Walks({
      store: o.store,
      prefix: o.prefix,
      clock: o.clock,
      logger: o.logger,
      ttlMs: o.ttlMs,
      maxKeys: o.ttlMs > 0 ? (o.walkMaxKeys ?? 0) : 0,
      cached: (path) => {
        const d = this.dirs.get(path);
        return this.fresh(d) ? d.value : undefined;
      },
      install: (path, dir) => this.keepListing(path, dir),
      forget: (path) => this.dirs.delete(path),
      listAhead: (path, gate) => {
        if (this.fresh(this.dirs.get(path)) || this.listings.has(path)) return false;
        void this.listings
          .run(path, () => gate(() => this.remoteList(path)))
          .catch((err: unknown) => this.o.logger.debug('listing ahead failed', { path, error: String(err) }));
        return true;
      },
    });
  }

  /** subtree listings of directory walks: started, pages, stopped at their limit, directories filled */
  get walkCounters(): Walks['counters'] {
    return this.walks.counters;
  }

  private fresh<T>(t: Timed<T> | undefined): t is Timed<T> {
    return t !== undefined && t.expiresAtMs > this.o.clock.nowMs();
  }

  /** A local change of `path` (`tree`: and all below it). */
  private changed(path: string, tree = false): void {
    this.walks.touch(path, tree);
    this.generation++;
    this.o.onChange?.();
  }

  private expiry(ttlMs: number): number {
    return this.o.clock.nowMs() + ttlMs;
  }

  /** The node at `path`, or undefined if nothing is there. Throws StoreError on S3 failure. */
  async lookup(path: string): Promise<Node | undefined> {
    this.counters.lookups++;
    if (path === '/') return this.root;
    const cached = this.stats.get(path);
    if (this.fresh(cached)) return cached.value;
    const neg = this.negative.get(path);
    if (neg !== undefined && neg > this.o.clock.nowMs()) return undefined;
    const dir = parentPath(path);
    let parent = this.dirs.get(dir);
    if (this.fresh(parent)) {
      const listed = parent.value.entries.get(baseName(path));
      // a name missing from a listing is asked for once the listing is older than the
      // negative TTL: another client may have put it since (a job's output on another node)
      if (listed !== undefined || parent.missesUntilMs > this.o.clock.nowMs()) return listed;
      if (parent.value.entries.size <= RELIST_MAX_ENTRIES && this.o.negativeTtlMs > 0) {
        await this.relists.relist(dir, parent);
        parent = this.dirs.get(dir);
        if (this.fresh(parent) && parent.missesUntilMs > this.o.clock.nowMs())
          return parent.value.entries.get(baseName(path));
      }
    }
    return this.lookups.run(path, () => this.remoteLookup(path));
  }

  /** HEAD "name" and LIST "name/" (max 1) together: a key below "name/" makes it a directory. */
  private async remoteLookup(path: string): Promise<Node | undefined> {
    this.counters.remoteLookups++;
    const gen = this.generation;
    const key = fileKey(this.o.prefix, path);
    const [head, list] = await Promise.allSettled([
      this.o.store.head(key),
      this.o.store.list({ prefix: dirPrefix(this.o.prefix, path), maxKeys: 1 }),
    ]);
    if (list.status === 'rejected') throw list.reason;
    let node: Node | undefined;
    if (list.value.objects.length > 0 || list.value.prefixes.length > 0) {
      node = { kind: 'dir' };
    } else if (head.status === 'fulfilled') {
      node = nodeFromHead(head.value);
    } else if (!isStoreError(head.reason, 'NotFound')) {
      throw head.reason;
    }
    if (gen === this.generation) {
      if (node) this.remember(path, (node = keepKnownAttrs(node, this.stats.peek(path)?.value)));
      else {
        this.tell(path, undefined);
        if (this.o.negativeTtlMs > 0) this.negative.set(path, this.expiry(this.o.negativeTtlMs));
      }
    }
    this.o.logger.debug('lookup', { path, found: node?.kind ?? 'none' });
    return node;
  }

  /**
   * Like lookup, but a file known only from a listing is completed with a HEAD, so that
   * its attributes from object metadata (mode, owner, mtime, symlink) are known.
   */
  async lookupWithAttrs(path: string): Promise<Node | undefined> {
    const node = await this.lookup(path);
    if (!node || node.attrs !== undefined) return node;
    if (node.kind === 'dir') return this.heads.run(path, () => this.dirAttrs(path));
    return this.heads.run(path, async () => {
      const gen = this.generation;
      try {
        const full = nodeFromHead(await this.o.store.head(fileKey(this.o.prefix, path)));
        if (gen === this.generation) this.remember(path, full);
        return full;
      } catch (err) {
        if (isStoreError(err, 'NotFound')) {
          const unchanged = gen === this.generation;
          this.invalidate(path);
          if (unchanged) this.tell(path, undefined);
          return undefined;
        }
        throw err;
      }
    });
  }

  /** A directory's attributes live on its "dir/" marker, if it has one. */
  private async dirAttrs(path: string): Promise<Node> {
    const gen = this.generation;
    let attrs = {};
    try {
      attrs = attrsFromMetadata((await this.o.store.head(dirPrefix(this.o.prefix, path))).metadata);
    } catch (err) {
      if (!isStoreError(err, 'NotFound')) throw err; // an implicit directory: no attributes
    }
    const node: Node = { kind: 'dir', attrs };
    if (gen === this.generation) this.remember(path, node);
    return node;
  }

  /**
   * Entries of the directory at `path` (which must be a directory). `onEntries`, if
   * given, gets them as they become known: page by page when this call lists S3, else
   * all at once; each name once.
   */
  async list(path: string, onEntries?: (entries: Array<[string, Node]>) => void): Promise<Map<string, Node>> {
    const cached = this.dirs.get(path);
    if (this.fresh(cached)) {
      onEntries?.([...cached.value.entries]);
      return cached.value.entries;
    }
    // a walk's subtree listing may fill it: wait for that rather than list it here too
    const walked = await this.walks.before(path);
    if (walked) {
      const filled = this.dirs.get(path);
      if (this.fresh(filled)) {
        onEntries?.([...filled.value.entries]);
        return filled.value.entries;
      }
    }
    let streamed = false;
    const dir = await this.listings.run(path, () => {
      streamed = onEntries !== undefined;
      return this.remoteList(path, onEntries);
    });
    if (!streamed) onEntries?.([...dir.entries]);
    if (!walked) this.walks.siblingsAfter(path);
    return dir.entries;
  }

  /** The entries of the directory's listing while it is fresh (no S3 request), in listing order. */
  listed(path: string): ReadonlyMap<string, Node> | undefined {
    const d = this.dirs.peek(path);
    return this.fresh(d) ? d.value.entries : undefined;
  }

  private async remoteList(
    path: string,
    onEntries?: (entries: Array<[string, Node]>) => void,
  ): Promise<Directory> {
    const gen = this.generation;
    const prefix = dirPrefix(this.o.prefix, path);
    const dir = emptyDirectory();
    const stream =
      onEntries &&
      new PageStream(dir, prefix, onEntries, (name, node) =>
        keepKnownAttrs(node, this.stats.peek(joinPath(path, name))?.value),
      );
    let token: string | undefined;
    do {
      const page = await this.o.store.list({
        prefix,
        delimiter: '/',
        ...(token !== undefined ? { continuationToken: token } : {}),
      });
      this.counters.listPages++;
      const names = mergePage(dir, prefix, page);
      token = page.nextToken;
      stream?.page(page, names, token !== undefined);
    } while (token !== undefined);
    if (dir.hidden > 0)
      this.o.logger.info('listing has keys that cannot be shown as names', { path, hidden: dir.hidden });
    // (a listing that raced a change made here may be older than that change: neither kept nor told)
    if (gen === this.generation) this.keepListing(path, dir);
    return dir;
  }

  /** Keeps a complete listing of `path` fresh from S3 for the TTL, its entries' nodes too, and tells them. */
  private keepListing(path: string, dir: Directory): void {
    // what was known of the names before (stats are replaced below), for onNode
    const before = new Map<string, Node | undefined>();
    if (this.o.onNode)
      for (const name of dir.entries.keys()) before.set(name, this.stats.peek(joinPath(path, name))?.value);
    if (this.o.ttlMs > 0) {
      const expiresAtMs = this.expiry(this.o.ttlMs);
      this.dirs.set(path, { value: dir, expiresAtMs, missesUntilMs: this.missesUntil() });
      for (const [name, listed] of dir.entries) {
        const child = joinPath(path, name);
        const node = keepKnownAttrs(listed, this.stats.peek(child)?.value);
        if (node !== listed) dir.entries.set(name, node);
        this.stats.set(child, { value: node, expiresAtMs });
        this.negative.delete(child);
      }
    }
    if (this.o.onNode)
      for (const [name, node] of dir.entries) this.tell(joinPath(path, name), node, before.get(name));
  }

  /** until when a listing made now answers that a name is missing (as a miss of a HEAD would) */
  private missesUntil(): number {
    return this.expiry(Math.min(this.o.ttlMs, this.o.negativeTtlMs));
  }

  /** onNode, with what was known of `path` before */
  private tell(path: string, node: Node | undefined, before = this.stats.peek(path)?.value): void {
    this.o.onNode?.(path, node, before, false);
  }

  private remember(path: string, node: Node): void {
    this.tell(path, node);
    if (this.o.ttlMs <= 0) return;
    this.stats.set(path, { value: node, expiresAtMs: this.expiry(this.o.ttlMs) });
    this.negative.delete(path);
    // a fresh listing is what readdir (and the FUSE threads' attributes) hand out: never older
    const parent = this.dirs.peek(parentPath(path));
    if (this.fresh(parent) && parent.value.entries.has(baseName(path)))
      parent.value.entries.set(baseName(path), node);
  }

  /** Records a node this mount just created or changed (read-your-writes). */
  put(path: string, node: Node): void {
    this.changed(path);
    if (path === '/') {
      this.root = node.kind === 'dir' ? { kind: 'dir', attrs: { ...node.attrs } } : this.root;
      return;
    }
    if (node.kind !== 'dir' && this.stats.peek(path)?.value.kind === 'dir') this.both.set(path, true);
    this.record(path, node);
    // its directories exist, whatever was cached: one that lost its last key while a file
    // in it was open here comes back when that file is uploaded
    // (only one cached as missing or as a file is recorded: a directory keeps its attributes)
    for (let dir = parentPath(path); dir !== '/'; dir = parentPath(dir)) {
      const neg = this.negative.get(dir);
      const parent = this.dirs.get(parentPath(dir));
      const known = this.stats.peek(dir)?.value.kind;
      const wrong =
        (known !== undefined && known !== 'dir') ||
        (neg !== undefined && neg > this.o.clock.nowMs()) ||
        (this.fresh(parent) && parent.value.entries.get(baseName(dir))?.kind !== 'dir');
      if (known !== undefined && known !== 'dir') this.both.set(dir, true);
      if (wrong) this.record(dir, { kind: 'dir' });
    }
  }

  private record(path: string, node: Node): void {
    this.o.onNode?.(path, node, undefined, true); // a change made here: the kernel made it too
    this.stats.set(path, { value: node, expiresAtMs: this.expiry(Math.max(this.o.ttlMs, 1)) });
    this.negative.delete(path);
    const parent = this.dirs.get(parentPath(path));
    if (parent) parent.value.entries.set(baseName(path), node);
  }

  /** Records a directory this mount just made: it is known to be empty, so lookups of
   *  new names in it (every file a `cp -r` creates) need not ask S3. */
  putNewDir(path: string, node: Node): void {
    this.put(path, node);
    if (this.o.ttlMs > 0)
      this.dirs.set(path, {
        value: emptyDirectory(),
        expiresAtMs: this.expiry(this.o.ttlMs),
        missesUntilMs: this.missesUntil(),
      });
  }

  /** Records that this mount removed `path`. */
  remove(path: string): void {
    this.changed(path);
    this.relists.removed(path);
    this.stats.delete(path);
    // a file that also had keys below it: the directory may remain, so S3 is asked again
    if (!this.both.delete(path) && this.o.negativeTtlMs > 0)
      this.negative.set(path, this.expiry(this.o.negativeTtlMs));
    const parent = this.dirs.get(parentPath(path));
    if (parent) parent.value.entries.delete(baseName(path));
    this.dirs.delete(path);
  }

  /** Forgets `path` and everything below it (after a directory rename or removal). */
  invalidateTree(path: string): void {
    this.changed(path, true);
    const below = path === '/' ? '/' : `${path}/`;
    const hit = (k: string) => k === path || k.startsWith(below);
    for (const k of [...this.stats.keys()]) if (hit(k)) this.stats.delete(k);
    for (const k of [...this.negative.keys()]) if (hit(k)) this.negative.delete(k);
    for (const k of [...this.dirs.keys()]) if (hit(k)) this.dirs.delete(k);
    this.dirs.delete(parentPath(path));
  }

  /** Forgets what is known about `path` (e.g. after ESTALE) so the next lookup asks S3. */
  invalidate(path: string): void {
    this.changed(path);
    // kept, expired: what was known is still told to onNode when the next lookup learns anew
    const known = this.stats.peek(path);
    if (known) this.stats.set(path, { value: known.value, expiresAtMs: 0 });
    this.negative.delete(path);
    this.dirs.delete(parentPath(path));
    this.dirs.delete(path);
  }
}
