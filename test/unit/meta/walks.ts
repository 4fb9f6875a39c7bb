import t from 'tap';
import { nullLogger } from '../../../src/log/logger.js';
import { MetadataCache, type Node } from '../../../src/meta/metadata.js';
import type { ListPage, ListParams } from '../../../src/s3/store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { deferred } from '../../../src/util/deferred.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

/** The in-memory store, whose listings without a delimiter can be held at a gate by the test. */
class GatedStore extends MemoryObjectStore {
  gate: Promise<unknown> | undefined;
  /** keys listed without a delimiter: pages of this many */
  pageKeys = 1000;
  recursivePages = 0;
  override async list(p: ListParams): Promise<ListPage> {
    if (p.delimiter !== undefined || p.maxKeys !== undefined) return super.list(p);
    this.recursivePages++;
    const page = await super.list({ ...p, maxKeys: this.pageKeys });
    await this.gate;
    return page;
  }
}

function setup(walkMaxKeys = 100_000) {
  const store = new GatedStore();
  const clock = new ManualClock(1_000_000);
  const meta = new MetadataCache({
    store,
    prefix: '',
    clock,
    logger: nullLogger(),
    ttlMs: 10_000,
    negativeTtlMs: 2_000,
    walkMaxKeys,
  });
  return { store, clock, meta };
}

const pad = (n: number, w = 3) => String(n).padStart(w, '0');
const lists = (s: MemoryObjectStore) => s.calls.list ?? 0;
const file = (size: number): Node => ({ kind: 'file', size, mtimeMs: 0, etag: 'local' });

/** find: list a directory, then each sub-directory in order, depth first. */
async function find(meta: MetadataCache, path: string, out: string[] = []): Promise<string[]> {
  for (const [name, node] of await meta.list(path)) {
    const child = path === '/' ? `/${name}` : `${path}/${name}`;
    out.push(child);
    if (node.kind === 'dir') await find(meta, child, out);
  }
  return out;
}

t.test('a walk of 300 directories costs LIST pages, not a LIST per directory', async (t) => {
  const { store, meta } = setup();
  const want: string[] = ['/tree'];
  for (let d = 0; d < 300; d++) {
    want.push(`/tree/d${pad(d)}`);
    for (let f = 0; f < 10; f++) {
      store.putBytes(`tree/d${pad(d)}/f${f}`, 'x'.repeat(f));
      want.push(`/tree/d${pad(d)}/f${f}`);
    }
  }
  store.putBytes('other/file', 'not walked');
  await meta.lookup('/tree');
  const before = lists(store);
  const found = ['/tree', ...(await find(meta, '/tree'))];
  t.same(found.sort(), want.sort(), 'every directory and file, once');
  // 1 delimiter listing of /tree, then 3,000 keys in 3 pages (one more when the last is full)
  t.ok(lists(store) - before <= 5, `${lists(store) - before} LISTs for 300 directories`);
  t.equal(store.recursivePages, 3, 'one listing without a delimiter, 3 pages');
  t.equal(meta.walkCounters.walks, 1);
  t.equal(meta.walkCounters.walksCapped, 0);
  const heads = store.calls.head ?? 0;
  for (const p of want.slice(1)) t.ok(await meta.lookup(p), `${p} known`);
  t.equal(store.calls.head ?? 0, heads, 'lookups in the walked tree are answered from the listing');
  t.equal(await meta.lookup('/tree/d000/nothing'), undefined, 'a name missing from a walked directory');
  t.equal(store.calls.head ?? 0, heads, 'is a miss without asking S3 (negative TTL)');
});

t.test(
  'listing one directory alone, or one with a single sub-directory, lists nothing below it',
  async (t) => {
    const { store, meta } = setup();
    for (let d = 0; d < 5; d++) store.putBytes(`a/d${d}/f`, 'x');
    store.putBytes('solo/only/x', 'x');
    await meta.list('/a');
    t.equal(store.recursivePages, 0, 'ls of a directory: no subtree listing');
    await meta.list('/solo');
    await meta.list('/solo/only');
    t.equal(store.recursivePages, 0, 'descending into the only sub-directory: none either');
    await meta.list('/a/d0');
    t.equal(store.recursivePages, 1, 'descending into one of several: the subtree is listed');
  },
);

t.test('a tree larger than the limit is listed up to it, then directory by directory', async (t) => {
  const { store, meta } = setup(1000);
  store.pageKeys = 500;
  const want: string[] = [];
  for (let d = 0; d < 300; d++)
    for (let f = 0; f < 10; f++) {
      store.putBytes(`big/d${pad(d)}/f${f}`, 'x');
      want.push(`/big/d${pad(d)}/f${f}`);
    }
  await meta.lookup('/big');
  const found = await find(meta, '/big');
  t.same(found.filter((p) => /\/f\d$/.test(p)).sort(), want, 'every file');
  t.equal(meta.walkCounters.walksCapped, 1, 'stopped at the limit');
  t.equal(store.recursivePages, 2, 'two pages of 500: the limit');
  t.equal(meta.walkCounters.walks, 1, 'not listed whole again while the walk goes on');
  t.ok(lists(store) < 300, `directories past the limit listed one by one: ${lists(store)} LISTs in all`);
});

t.test('local changes made while the subtree is listed win over the listing', async (t) => {
  const { store, meta } = setup();
  for (let d = 0; d < 6; d++) for (let f = 0; f < 3; f++) store.putBytes(`w/d${d}/f${f}`, 'x');
  // listed before their parent, so no walk: cached when the subtree listing starts
  for (const d of ['/w/d1', '/w/d2', '/w/d3']) await meta.list(d);
  await meta.list('/w');
  t.equal(store.recursivePages, 0);
  const gate = deferred<undefined>();
  store.gate = gate.promise;
  const first = meta.list('/w/d0'); // starts the subtree listing, held at the gate
  await new Promise((r) => setImmediate(r));
  t.equal(store.recursivePages, 1, 'the listing is under way');
  // made here after the listing was sent: its answer does not know them
  meta.put('/w/d1/new', file(3));
  meta.remove('/w/d2/f0');
  meta.putNewDir('/w/d3/sub', { kind: 'dir' });
  meta.invalidateTree('/w/d4');
  gate.resolve(undefined);
  t.same([...(await first).keys()], ['f0', 'f1', 'f2']);
  const before = lists(store);
  t.same(
    [...(await meta.list('/w/d1')).keys()].sort(),
    ['f0', 'f1', 'f2', 'new'],
    'a file created here stays',
  );
  t.same(
    [...(await meta.list('/w/d2')).keys()].sort(),
    ['f1', 'f2'],
    'a file removed here does not come back',
  );
  t.ok((await meta.list('/w/d3')).has('sub'), 'a directory made here stays');
  t.equal(lists(store) - before, 0, 'd1-d3 answered from what was recorded here, no LIST');
  await meta.list('/w/d4');
  t.equal(lists(store) - before, 1, 'd4 (forgotten here) is listed again');
  await meta.list('/w/d5');
  t.equal(lists(store) - before, 1, 'd5 (unchanged) comes from the subtree listing');
  t.match(await meta.lookup('/w/d1/new'), { size: 3 }, 'the new file is still known');
  t.equal(await meta.lookup('/w/d2/f0'), undefined, 'the removed file is still gone');
});

t.test('a directory far ahead of the listing does not wait for all of it', async (t) => {
  const { store, meta } = setup();
  store.pageKeys = 10;
  for (let d = 0; d < 50; d++) for (let f = 0; f < 10; f++) store.putBytes(`far/d${pad(d)}/f${f}`, 'x');
  await meta.list('/far');
  const gate = deferred<undefined>();
  store.gate = gate.promise;
  const first = meta.list('/far/d000');
  await new Promise((r) => setImmediate(r));
  gate.resolve(undefined);
  store.gate = undefined;
  // the subtree listing has 50 pages to go through; /far/d049 is listed by itself after two of them
  const last = await meta.list('/far/d049');
  t.equal(last.size, 10);
  t.ok(store.recursivePages < 50, `answered after ${store.recursivePages} pages of the subtree listing`);
  t.equal((await first).size, 10);
});

t.test(
  'a server that lists keys out of order: the subtree listing is dropped, directories are listed one by one',
  async (t) => {
    const { store, meta } = setup();
    for (const k of ['o/a/x', 'o/b/y', 'o/a/z', 'o/c/w']) store.putBytes(k, 'x');
    const inOrder = store.list.bind(store);
    // the page holds a/x, b/y, then a/z: "a" comes back after "b" closed it
    store.list = async (p: ListParams) => {
      if (p.delimiter !== undefined || p.maxKeys !== undefined) return inOrder(p);
      store.recursivePages++;
      const obj = (key: string) => ({ key, size: 1, etag: 'e', lastModifiedMs: 0 });
      return { objects: ['o/a/x', 'o/b/y', 'o/a/z', 'o/c/w'].map(obj), prefixes: [] };
    };
    await meta.list('/o');
    await meta.list('/o/b');
    t.equal(store.recursivePages, 1);
    t.same([...(await meta.list('/o/a')).keys()].sort(), ['x', 'z'], 'the wrong listing of "a" is not kept');
  },
);
