// SmallFileLookahead on its own: when it starts, how far it goes, how many GETs it keeps
// in flight, which entries it skips, and how directories share the budget.
import t from 'tap';
import { nullLogger } from '../../../src/log/logger.js';
import type { ObjectVersion } from '../../../src/read/block-fetcher.js';
import { SmallFileLookahead, type ListedFiles } from '../../../src/read/lookahead.js';
import { deferred, type Deferred } from '../../../src/util/deferred.js';

/** fetchWhole calls, each settled by the test */
class FakeFetcher {
  readonly started: string[] = [];
  readonly pending = new Map<string, Deferred<undefined>>();
  readonly cached = new Set<string>();

  fetchWhole(obj: ObjectVersion): Promise<void> {
    this.started.push(obj.key);
    const d = deferred<undefined>();
    this.pending.set(obj.key, d);
    return d.promise.then(() => {
      this.pending.delete(obj.key);
      this.cached.add(obj.key);
    });
  }

  isCachedOrFetching(obj: ObjectVersion): boolean {
    return this.cached.has(obj.key) || this.pending.has(obj.key);
  }

  /** completes every fetch under way and lets the look-ahead start the next ones */
  async settleAll(): Promise<void> {
    for (const d of [...this.pending.values()]) d.resolve(undefined);
    await new Promise((r) => setImmediate(r));
  }
}

/** A directory of `n` entries f000.. (`big` ones are not small files, `dirs` not files at all). */
function listing(dir: string, n: number, opts: { big?: Set<number>; dirs?: Set<number> } = {}): ListedFiles {
  const names = Array.from({ length: n }, (_, i) => `f${String(i).padStart(3, '0')}`);
  return {
    names,
    index: new Map(names.map((name, i) => [name, i])),
    smallFileAt: (i) => {
      if (opts.big?.has(i) || opts.dirs?.has(i) || i >= n) return undefined;
      const key = `${dir}/${names[i] as string}`;
      return { key, size: 4096, etag: `e${i}`, version: `e${i}` };
    },
  };
}

const name = (i: number) => `f${String(i).padStart(3, '0')}`;

function make(fetcher: FakeFetcher, o: Partial<{ perDir: number; total: number; concurrency: number }> = {}) {
  return new SmallFileLookahead({
    fetcher,
    filesPerDir: o.perDir ?? 8,
    filesTotal: o.total ?? 100,
    concurrency: o.concurrency ?? 4,
    logger: nullLogger(),
  });
}

t.test('one open fetches nothing; the second in listing order starts the look-ahead', async (t) => {
  const f = new FakeFetcher();
  const la = make(f);
  const files = listing('d', 50);
  la.opened('d', files, name(0));
  t.same(f.started, [], 'a single open costs no GET beyond its own');
  la.opened('d', files, name(1));
  t.same(
    f.started,
    ['d/f002', 'd/f003', 'd/f004', 'd/f005'],
    'the next files, in order, as many as GETs may be in flight',
  );
  await f.settleAll();
  t.same(f.started.length, 8, 'then more as those complete');
  await f.settleAll();
  t.same(f.started.length, 8, 'never further than the window (8) ahead of the furthest open');
  t.equal(f.started.at(-1), 'd/f009', 'the window ends 8 files past file 1');
  la.opened('d', files, name(2));
  la.opened('d', files, name(3));
  await f.settleAll();
  t.equal(f.started.at(-1), 'd/f011', 'each open moves the window on');
  t.equal(new Set(f.started).size, f.started.length, 'no file is fetched twice');
});

t.test('opens that jump around do not start it', async (t) => {
  const f = new FakeFetcher();
  const la = make(f, { perDir: 4 });
  const files = listing('d', 100);
  for (const i of [0, 50, 10, 90, 30, 70]) la.opened('d', files, name(i));
  t.same(f.started, [], 'no two opens within the window of each other');
  la.opened('d', files, name(72));
  t.ok(f.started.length > 0, 'two opens close together do');
  t.ok(
    f.started.every((k) => Number(k.slice(3)) > 72 && Number(k.slice(3)) <= 76),
    'ahead of the open that continued the run only',
  );
});

t.test('entries that are not small files are skipped, and count in the window', async (t) => {
  const f = new FakeFetcher();
  const la = make(f, { perDir: 6, concurrency: 10 });
  const files = listing('d', 20, { big: new Set([3, 4]), dirs: new Set([5]) });
  la.opened('d', files, name(0));
  la.opened('d', files, name(1));
  t.same(f.started, ['d/f002', 'd/f006', 'd/f007'], 'big files and directories are not fetched');
});

t.test('files already cached or under way are not fetched again', async (t) => {
  const f = new FakeFetcher();
  f.cached.add('d/f003');
  const la = make(f);
  const files = listing('d', 6);
  la.opened('d', files, name(0));
  la.opened('d', files, name(1));
  t.same(f.started, ['d/f002', 'd/f004', 'd/f005'], 'f003 was cached; the listing ends at f005');
});

t.test('a new listing of the directory starts over', async (t) => {
  const f = new FakeFetcher();
  const la = make(f, { perDir: 2 });
  la.opened('d', listing('d', 10), name(0));
  la.opened('d', listing('d', 10), name(1)); // another view: a new listing
  t.same(f.started, [], 'the second open is the first of the new listing');
});

t.test('the total over directories is bounded; the newest reader wins', async (t) => {
  const f = new FakeFetcher();
  const la = make(f, { perDir: 5, total: 6, concurrency: 20 });
  const a = listing('a', 50);
  const b = listing('b', 50);
  la.opened('a', a, name(0));
  la.opened('a', a, name(1));
  t.equal(f.started.length, 5, 'a: its window');
  la.opened('b', b, name(0));
  la.opened('b', b, name(1));
  const fromB = f.started.filter((k) => k.startsWith('b/')).length;
  t.equal(fromB, 5, 'b gets its window: a, whose reader is older, is forgotten');
  await f.settleAll();
  la.opened('a', a, name(2)); // a's reader is back: it starts again from one open
  t.equal(f.started.filter((k) => k.startsWith('a/')).length, 5, 'nothing more for a until its run restarts');
});

t.test('failed fetches free their slot and are not retried by the look-ahead', async (t) => {
  const f = new FakeFetcher();
  const la = make(f, { perDir: 4, concurrency: 2 });
  const files = listing('d', 10);
  la.opened('d', files, name(0));
  la.opened('d', files, name(1));
  t.same(f.started, ['d/f002', 'd/f003']);
  for (const d of f.pending.values()) d.reject(new Error('412'));
  f.pending.clear();
  await new Promise((r) => setImmediate(r));
  t.same(f.started, ['d/f002', 'd/f003', 'd/f004', 'd/f005'], 'the next ones go out');
  t.equal(la.counters.failures, 2, 'the failures are counted');
});
