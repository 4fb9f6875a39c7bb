// MetadataCache: path → Node lookups and directory listings backed by S3, with TTLs,
// a negative cache and single-flight remote lookups. Knows nothing of FUSE or errno.
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log/logger.js';
import { isStoreError } from '../s3/errors.js';
import type { ObjectInfo, ObjectStore } from '../s3/store.js';
import type { Clock } from '../util/clock.js';
import { Semaphore } from '../util/semaphore.js';
import { SingleFlight } from '../util/single-flight.js';
import { attrsFromMetadata, isSymlinkMode } from './attrs.js';
import {
  deleteEntry,
  emptyDirectory,
  mayBeShadowedLater,
  mergePage,
  setEntry,
  type Directory,
  type Node,
} from './listing.js';
import { pathEntryBytes, planMetadata } from './listing-memory.js';
import { baseName, dirPrefix, fileKey, joinPath, parentPath } from './paths.js';

export type { Node } from './listing.js';

export interface MetadataOptions {
  store: ObjectStore;
  prefix: string;
  clock: Clock;
  logger: Logger;
  ttlMs: number;
  negativeTtlMs: number;
  /**
   * bytes of listing metadata to hold (the metadata share of --memory-limit, see
   * listing-memory.ts); a listing larger than its part is handed out page by page, not kept
   */
  maxBytes?: number;
  /** called on every change this cache records, so that caches copied from it drop too */
  onChange?: () => void;
  /** told what this cache learns or records of a path (undefined: nothing there), so open read handles can compare versions */
  onNode?: (path: string, node: Node | undefined) => void;
}

interface Timed<T> {
  value: T;
  expiresAtMs: number;
}

/** A listing answers for the names in it until `expiresAtMs`; for names missing from it only until `missesUntilMs`. */
interface Listed extends Timed<Directory> {
  missesUntilMs: number;
}

/** without a budget (tests, tools): 64 MiB, the share of the default --memory-limit */
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** siblings listed ahead of a directory walk, and how many of those LISTs run at once */
const SIBLING_PREFETCH = 32;
const SIBLING_PREFETCH_CONCURRENCY = 8;

export class MetadataCache {
  private readonly stats: LRUCache<string, Timed<Node>>;
  private readonly negative: LRUCache<string, number>;
  private readonly dirs: LRUCache<string, Listed>;
  /** the mount root: no object holds its attributes, so times and modes set on it live here */
  private root: Node = { kind: 'dir', attrs: {} };
  private readonly lookups = new SingleFlight<Node | undefined>();
  private readonly listings = new SingleFlight<Directory>();
  private readonly heads = new SingleFlight<Node | undefined>();
  private readonly siblingSlots = new Semaphore(SIBLING_PREFETCH_CONCURRENCY);
  /** bumped by every local change, so a remote answer that raced a change is not cached */
  private generation = 0;
  /** listings too large to keep (handed out page by page): `listedBytes` is what the kept ones cost */
  readonly counters = { lookups: 0, remoteLookups: 0, listPages: 0, uncachedListings: 0 };
  private readonly listingBytes: number;

  constructor(private readonly o: MetadataOptions) {
    const plan = planMetadata(o.maxBytes ?? DEFAULT_MAX_BYTES);
    this.listingBytes = plan.listingBytes;
    // sized in bytes (maxSize): lru-cache would preallocate arrays of `max` slots
    this.stats = new LRUCache({
      maxSize: plan.statBytes,
      sizeCalculation: (_v, path) => pathEntryBytes(path),
    });
    this.negative = new LRUCache({
      maxSize: plan.negativeBytes,
      sizeCalculation: (_v, path) => pathEntryBytes(path),
    });
    this.dirs = new LRUCache({
      maxSize: plan.listingBytes,
      sizeCalculation: (d) => Math.max(1, d.value.bytes),
    });
  }

  /** Bytes the cached listings are charged (at most the listing part of the budget). */
  get listedBytes(): number {
    return this.dirs.calculatedSize;
  }

  private fresh<T>(t: Timed<T> | undefined): t is Timed<T> {
    return t !== undefined && t.expiresAtMs > this.o.clock.nowMs();
  }

  private changed(): void {
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
    const parent = this.dirs.get(parentPath(path));
    if (this.fresh(parent)) {
      const listed = parent.value.entries.get(baseName(path));
      // a name missing from a listing is asked for once the listing is older than the
      // negative TTL: another client may have put it since (a job's output on another node)
      if (listed !== undefined || parent.missesUntilMs > this.o.clock.nowMs()) return listed;
    }
    return this.lookups.run(path, () => this.remoteLookup(path));
  }

  /**
   * HEAD "name" and LIST "name/" (max 1) together. Any key below "name/" makes it a
   * directory, which shadows an object of the same name.
   */
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
        this.o.onNode?.(path, undefined);
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
          if (unchanged) this.o.onNode?.(path, undefined);
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
   * all at once; each name once. Undefined for a listing too large for the memory budget:
   * it was only handed to `onEntries`, page by page, and is not kept.
   */
  async list(
    path: string,
    onEntries?: (entries: Array<[string, Node]>) => void,
  ): Promise<Map<string, Node> | undefined> {
    const cached = this.dirs.get(path);
    if (this.fresh(cached)) {
      onEntries?.([...cached.value.entries]);
      return cached.value.entries;
    }
    let streamed = false;
    let dir = await this.listings.run(path, () => {
      streamed = onEntries !== undefined;
      return this.remoteList(path, onEntries);
    });
    // joined another caller's listing that was too large to keep: list again, for this one
    if (!streamed && dir.partial && onEntries) dir = await this.remoteList(path, onEntries);
    else if (!streamed) onEntries?.([...dir.entries]);
    this.prefetchSiblings(path);
    return dir.partial ? undefined : dir.entries;
  }

  /**
   * A directory walk (find, ls -R, du, rsync) lists sibling directories one after
   * another, each a LIST round trip. When one sub-directory is listed, list the next
   * few siblings in the background, so the walk finds them ready. `ls` of a single
   * directory triggers nothing.
   */
  private prefetchSiblings(path: string): void {
    if (path === '/' || this.o.ttlMs <= 0) return;
    const dirPath = parentPath(path);
    const parent = this.dirs.get(dirPath);
    if (!this.fresh(parent)) return;
    const me = baseName(path);
    let seen = false;
    let started = 0;
    for (const [name, node] of parent.value.entries) {
      if (!seen) {
        seen = name === me;
        continue;
      }
      if (started >= SIBLING_PREFETCH) break;
      if (node.kind !== 'dir') continue;
      const sibling = joinPath(dirPath, name);
      if (this.fresh(this.dirs.get(sibling)) || this.listings.has(sibling)) continue;
      started++;
      void this.listings
        .run(sibling, () => this.siblingSlots.run(() => this.remoteList(sibling)))
        .catch((err: unknown) =>
          this.o.logger.debug('sibling prefetch failed', { path: sibling, error: String(err) }),
        );
    }
  }

  /**
   * Lists S3 page by page into a Directory. Once its entries cost more than the listing
   * part of the budget, it stops keeping them: every later page is handed to `onEntries`
   * and dropped (only names a later page may still shadow are kept), and the result is
   * `partial`, never cached.
   */
  private async remoteList(
    path: string,
    onEntries?: (entries: Array<[string, Node]>) => void,
  ): Promise<Directory> {
    const gen = this.generation;
    const prefix = dirPrefix(this.o.prefix, path);
    const dir = emptyDirectory();
    const childPath = (name: string) => joinPath(path, name);
    let held: string[] = []; // files a later page may still turn into directories
    // names handed out; a listing too large to keep remembers the last page's only (a
    // server repeats a name only across one page boundary: a common prefix split by it)
    let shown = new Set<string>();
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
      const ready: Array<[string, Node]> = [];
      const hold: string[] = [];
      for (const name of new Set([...held, ...names])) {
        if (shown.has(name)) continue;
        const node = dir.entries.get(name) as Node;
        if (token !== undefined && node.kind !== 'dir' && mayBeShadowedLater(prefix, page, name)) {
          hold.push(name);
        } else {
          shown.add(name);
          ready.push([name, keepKnownAttrs(node, this.stats.peek(childPath(name))?.value)]);
        }
      }
      held = hold;
      if (!dir.partial && dir.bytes > this.listingBytes) {
        dir.partial = true;
        this.counters.uncachedListings++;
        this.o.logger.info('listing larger than its memory budget: handed out page by page, not kept', {
          path,
          budgetBytes: this.listingBytes,
        });
      }
      if (ready.length > 0) onEntries?.(ready);
      if (dir.partial) {
        if (gen === this.generation && this.o.onNode)
          for (const [name, node] of ready) this.o.onNode(childPath(name), node);
        const keep = new Map(held.map((name) => [name, dir.entries.get(name) as Node]));
        dir.entries.clear();
        dir.bytes = 0;
        for (const [name, node] of keep) setEntry(dir, name, node);
        shown = new Set(ready.map(([name]) => name));
      }
    } while (token !== undefined);
    if (dir.hidden > 0)
      this.o.logger.info('listing has keys that cannot be shown as names', { path, hidden: dir.hidden });
    if (dir.partial) return dir;
    if (gen === this.generation && this.o.ttlMs > 0) {
      const expiresAtMs = this.expiry(this.o.ttlMs);
      // listed entries live in the listing only (lookups look there): no copy per path
      for (const [name, listed] of dir.entries) {
        const child = joinPath(path, name);
        const node = keepKnownAttrs(listed, this.stats.peek(child)?.value);
        if (node !== listed) {
          dir.entries.set(name, node);
          this.stats.set(child, { value: node, expiresAtMs });
        } else this.stats.delete(child);
        this.negative.delete(child);
      }
      this.dirs.set(path, { value: dir, expiresAtMs, missesUntilMs: this.missesUntil() });
    }
    // (a listing that raced a change made here may be older than that change: not told)
    if (gen === this.generation && this.o.onNode)
      for (const [name, node] of dir.entries) this.o.onNode(joinPath(path, name), node);
    return dir;
  }

  /** until when a listing made now answers that a name is missing (as a miss of a HEAD would) */
  private missesUntil(): number {
    return this.expiry(Math.min(this.o.ttlMs, this.o.negativeTtlMs));
  }

  private remember(path: string, node: Node): void {
    this.o.onNode?.(path, node);
    if (this.o.ttlMs <= 0) return;
    this.stats.set(path, { value: node, expiresAtMs: this.expiry(this.o.ttlMs) });
    this.negative.delete(path);
  }

  /** Records a node this mount just created or changed (read-your-writes). */
  put(path: string, node: Node): void {
    this.changed();
    if (path === '/') {
      this.root = node.kind === 'dir' ? { kind: 'dir', attrs: { ...node.attrs } } : this.root;
      return;
    }
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
      if (wrong) this.record(dir, { kind: 'dir' });
    }
  }

  private record(path: string, node: Node): void {
    this.o.onNode?.(path, node);
    this.stats.set(path, { value: node, expiresAtMs: this.expiry(Math.max(this.o.ttlMs, 1)) });
    this.negative.delete(path);
    const parent = this.dirs.get(parentPath(path));
    if (parent) setEntry(parent.value, baseName(path), node);
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
    this.changed();
    this.stats.delete(path);
    if (this.o.negativeTtlMs > 0) this.negative.set(path, this.expiry(this.o.negativeTtlMs));
    const parent = this.dirs.get(parentPath(path));
    if (parent) deleteEntry(parent.value, baseName(path));
    this.dirs.delete(path);
  }

  /** Forgets `path` and everything below it (after a directory rename or removal). */
  invalidateTree(path: string): void {
    this.changed();
    const below = path === '/' ? '/' : `${path}/`;
    const hit = (k: string) => k === path || k.startsWith(below);
    for (const k of [...this.stats.keys()]) if (hit(k)) this.stats.delete(k);
    for (const k of [...this.negative.keys()]) if (hit(k)) this.negative.delete(k);
    for (const k of [...this.dirs.keys()]) if (hit(k)) this.dirs.delete(k);
    this.dirs.delete(parentPath(path));
  }

  /** Forgets what is known about `path` (e.g. after ESTALE) so the next lookup asks S3. */
  invalidate(path: string): void {
    this.changed();
    this.stats.delete(path);
    this.negative.delete(path);
    this.dirs.delete(parentPath(path));
    this.dirs.delete(path);
  }
}

function nodeFromHead(info: ObjectInfo): Node {
  const attrs = attrsFromMetadata(info.metadata);
  return {
    kind: isSymlinkMode(attrs.mode) ? 'symlink' : 'file',
    size: info.size,
    mtimeMs: info.lastModifiedMs,
    etag: info.etag,
    attrs,
    metadata: info.metadata ?? {},
  };
}

/**
 * A listing carries no metadata: keep the attributes already known for the same object
 * version (same ETag; directories have none), so a re-listing does not forget them.
 */
function keepKnownAttrs(listed: Node, known: Node | undefined): Node {
  if (!known?.attrs || listed.attrs !== undefined) return listed;
  if (listed.kind === 'dir') return known.kind === 'dir' ? { ...listed, attrs: known.attrs } : listed;
  if (known.kind === 'dir' || known.etag === '' || known.etag !== listed.etag) return listed;
  return { ...listed, kind: known.kind, attrs: known.attrs };
}
