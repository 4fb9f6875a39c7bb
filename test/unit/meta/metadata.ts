import t from 'tap';
import { MetadataCache } from '../../../src/meta/metadata.js';
import { nullLogger } from '../../../src/log/logger.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { ManualClock } from '../../../src/util/clock.js';

function setup(prefix = '') {
  const store = new MemoryObjectStore();
  const clock = new ManualClock(1_000_000);
  const meta = new MetadataCache({
    store,
    prefix,
    clock,
    logger: nullLogger(),
    ttlMs: 10_000,
    negativeTtlMs: 2_000,
  });
  return { store, clock, meta };
}

t.test('lookup: HEAD name and LIST name/ together; directories shadow files', async (t) => {
  const { store, meta } = setup();
  store.putBytes('f', 'abc');
  store.putBytes('d/x', '1');
  store.putBytes('both', 'file');
  store.putBytes('both/y', 'dir');
  store.putBytes('marker/', '');
  t.match(await meta.lookup('/f'), { kind: 'file', size: 3 });
  t.same(await meta.lookup('/d'), { kind: 'dir' });
  t.same(await meta.lookup('/both'), { kind: 'dir' });
  t.same(await meta.lookup('/marker'), { kind: 'dir' });
  t.equal(await meta.lookup('/none'), undefined);
});

t.test('ls -l costs LIST pages, not a HEAD per entry', async (t) => {
  const { store, meta } = setup();
  for (let i = 0; i < 2500; i++) store.putBytes(`big/o${i}`, 'x'.repeat(i % 5));
  store.putBytes('big/sub/z', '');
  await meta.lookup('/big');
  const before = { ...store.calls };
  const entries = await meta.list('/big');
  t.equal(entries.size, 2501);
  for (const name of entries.keys()) await meta.lookup(`/big/${name}`);
  t.equal((store.calls.list ?? 0) - (before.list ?? 0), 3, '3 LIST pages for 2,501 entries');
  t.equal((store.calls.head ?? 0) - (before.head ?? 0), 0, 'no HEAD per entry');
});

t.test('TTL, negative cache and invalidation', async (t) => {
  const { store, clock, meta } = setup();
  t.equal(await meta.lookup('/late'), undefined);
  store.putBytes('late', 'now here');
  t.equal(await meta.lookup('/late'), undefined, 'negative entry still fresh');
  clock.advance(2_001);
  t.match(await meta.lookup('/late'), { kind: 'file', size: 8 }, 'seen after the negative TTL');
  store.putBytes('late', 'changed!!');
  t.match(await meta.lookup('/late'), { size: 8 }, 'cached within the TTL');
  meta.invalidate('/late');
  t.match(await meta.lookup('/late'), { size: 9 }, 'invalidate forces a new lookup');
  store.putBytes('late', 'x');
  clock.advance(10_001);
  t.match(await meta.lookup('/late'), { size: 1 }, 'expired after the TTL');
});

t.test('concurrent lookups of one path share one remote lookup', async (t) => {
  const { store, meta } = setup();
  store.putBytes('f', 'abc');
  await Promise.all([meta.lookup('/f'), meta.lookup('/f'), meta.lookup('/f')]);
  t.equal(store.calls.head, 1);
});

t.test('prefix mounts look below the prefix only', async (t) => {
  const { store, meta } = setup('p/');
  store.putBytes('p/a', '1');
  store.putBytes('a', 'outside');
  t.same([...(await meta.list('/')).keys()], ['a']);
  t.match(await meta.lookup('/a'), { size: 1 });
});

t.test('listing one sub-directory lists the next siblings ahead (directory walks)', async (t) => {
  const { store, meta } = setup();
  for (let d = 0; d < 50; d++) store.putBytes(`tree/d${String(d).padStart(2, '0')}/f`, 'x');
  await meta.list('/tree');
  const before = store.calls.list ?? 0;
  await meta.list('/tree');
  t.equal(store.calls.list ?? 0, before, 'listing a directory alone prefetches nothing');
  await meta.list('/tree/d00');
  await new Promise((r) => setTimeout(r, 20));
  const afterFirst = store.calls.list ?? 0;
  t.equal(afterFirst - before, 1 + 32, 'one listing plus 32 siblings ahead');
  for (let d = 1; d <= 32; d++) await meta.list(`/tree/d${String(d).padStart(2, '0')}`);
  t.ok((store.calls.list ?? 0) - afterFirst <= 32, 'the walk finds them ready (only new prefetches go out)');
});

t.test('onChange is called for every change it records, not for lookups or listings', async (t) => {
  const store = new MemoryObjectStore();
  let changes = 0;
  const meta = new MetadataCache({
    store,
    prefix: '',
    clock: new ManualClock(1_000_000),
    logger: nullLogger(),
    ttlMs: 10_000,
    negativeTtlMs: 2_000,
    onChange: () => changes++,
  });
  store.putBytes('d/a', 'abc');
  await meta.lookup('/d');
  await meta.list('/d');
  await meta.lookup('/d/a');
  t.equal(changes, 0, 'reading S3 changes nothing');
  meta.put('/d/b', { kind: 'file', size: 1, mtimeMs: 0, etag: 'e' });
  t.equal(changes, 1, 'put');
  meta.putNewDir('/d/n', { kind: 'dir' });
  t.equal(changes, 2, 'putNewDir');
  meta.remove('/d/b');
  t.equal(changes, 3, 'remove');
  meta.invalidate('/d/a');
  t.equal(changes, 4, 'invalidate (a read found the object changed)');
  meta.invalidateTree('/d');
  t.equal(changes, 5, 'invalidateTree');
});

t.test('list hands out entries page by page, each name once, a file shadowed later held back', async (t) => {
  const { store, meta } = setup();
  // 999 files, then "b" last on page 1; "b/c" makes "b" a directory on page 2
  for (let i = 0; i < 999; i++) store.putBytes(`e/a${String(i).padStart(3, '0')}`, 'x');
  store.putBytes('e/b', 'file');
  store.putBytes('e/b!', 'x');
  store.putBytes('e/b/c', 'x');
  for (let i = 0; i < 500; i++) store.putBytes(`e/z${i}`, 'x');
  await meta.lookup('/e');
  const chunks: Array<Array<[string, { kind: string }]>> = [];
  const final = await meta.list('/e', (entries) => chunks.push(entries));
  t.equal(chunks.length, 2, 'one chunk per page');
  t.equal(chunks[0]?.length, 999, 'page 1 without "b"');
  t.notOk(
    chunks[0]?.some(([n]) => n === 'b'),
    '"b" held back',
  );
  const all = chunks.flat();
  t.equal(all.length, final.size, 'every name');
  t.equal(new Set(all.map(([n]) => n)).size, all.length, 'each once');
  t.equal(all.find(([n]) => n === 'b')?.[1].kind, 'dir', '"b" handed out as the directory');
  const again: unknown[][] = [];
  await meta.list('/e', (entries) => again.push(entries));
  t.equal(again.length, 1, 'a cached listing comes at once');
  t.equal(again[0]?.length, final.size, 'whole');
});

t.test('list hands out a name once even if the server repeats it on a later page', async (t) => {
  const store = new MemoryObjectStore();
  const meta = new MetadataCache({
    store,
    prefix: '',
    clock: new ManualClock(1_000_000),
    logger: nullLogger(),
    ttlMs: 10_000,
    negativeTtlMs: 2_000,
  });
  const pages = [
    {
      objects: [{ key: 'r/a', size: 1, etag: 'e', lastModifiedMs: 0 }],
      prefixes: ['r/d/'],
      nextToken: 'next',
    },
    { objects: [{ key: 'r/z', size: 1, etag: 'e', lastModifiedMs: 0 }], prefixes: ['r/d/'] },
  ];
  store.list = async (p) =>
    (p.continuationToken === undefined ? pages[0] : pages[1]) as (typeof pages)[number];
  const got: string[] = [];
  await meta.list('/r', (entries) => got.push(...entries.map(([n]) => n)));
  t.same(got.sort(), ['a', 'd', 'z'], '"d" once');
});

t.test(
  'misses in a small listing older than --negative-ttl: the directory is listed again, once',
  async (t) => {
    const { store, clock, meta } = setup();
    for (let i = 0; i < 10; i++) store.putBytes(`d/f${i}`, 'x');
    await meta.list('/d');
    clock.advance(2_001); // past the negative TTL, within the TTL
    store.putBytes('d/new', 'from elsewhere');
    const before = { ...store.calls };
    const found = await Promise.all(['/d/a', '/d/b', '/d/new', '/d/c'].map((p) => meta.lookup(p)));
    t.same(
      found.map((n) => n?.kind),
      [undefined, undefined, 'file', undefined],
      "another client's new name is found",
    );
    t.equal((store.calls.list ?? 0) - (before.list ?? 0), 1, 'one LIST for all four names');
    t.equal((store.calls.head ?? 0) - (before.head ?? 0), 0, 'no HEAD per name');
    t.equal(await meta.lookup('/d/zzz'), undefined);
    t.equal(
      (store.calls.list ?? 0) - (before.list ?? 0),
      1,
      'misses are answered from it for --negative-ttl',
    );

    // a large directory: a HEAD and a LIST per missing name, as before
    for (let i = 0; i < 1001; i++) store.putBytes(`big/o${i}`, 'x');
    await meta.list('/big');
    clock.advance(2_001);
    const b2 = { ...store.calls };
    t.equal(await meta.lookup('/big/none'), undefined);
    t.equal((store.calls.head ?? 0) - (b2.head ?? 0), 1, 'over 1,000 entries: HEAD the name');
  },
);

t.test('listing again never brings back a name removed, nor overrides one recorded, meanwhile', async (t) => {
  const { store, clock, meta } = setup();
  store.putBytes('d/gone', 'old');
  store.putBytes('d/mine', 'old');
  await meta.list('/d');
  clock.advance(2_001);
  // the LIST that answers the miss is slow; meanwhile this mount removes one name and writes another
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const realList = store.list.bind(store);
  store.list = async (p) => {
    const page = await realList(p);
    await gate;
    return page;
  };
  const miss = meta.lookup('/d/other');
  await new Promise((r) => setImmediate(r));
  meta.remove('/d/gone');
  meta.put('/d/mine', { kind: 'file', size: 3, mtimeMs: 1, etag: 'local' });
  release();
  t.equal(await miss, undefined);
  const listed = meta.listed('/d');
  t.ok(listed, 'the listing answers misses again');
  t.notOk(listed?.has('gone'), 'the removed name is not brought back by the LIST that began before');
  t.match(listed?.get('mine'), { etag: 'local' }, "this mount's record stays");
});

t.test(
  'a version learnt by HEAD replaces the one a fresh listing holds (readdir never hands out the older)',
  async (t) => {
    const { store, meta } = setup();
    store.putBytes('d/s5', 'x'.repeat(8129));
    t.match((await meta.list('/d')).get('s5'), { size: 8129 }, 'listed');
    store.putBytes('d/s5', 'y'.repeat(14466));
    // a HEAD while the listing is fresh: an open for writing, --object-metadata
    t.match(await meta.lookupWithAttrs('/d/s5'), { size: 14466 }, 'learnt by HEAD');
    t.match(
      (await meta.list('/d')).get('s5'),
      { size: 14466 },
      'the fresh listing hands out what HEAD learnt',
    );
    t.match(meta.listed('/d')?.get('s5'), { size: 14466 });
  },
);
