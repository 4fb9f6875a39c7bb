// A directory walk through the whole core (S3FileSystem over the in-memory store, the
// mount's defaults): readdir of every directory costs LIST pages, not a LIST each, and a
// file written here and not yet uploaded is listed like any other.
import t from 'tap';
import { constants } from 'node:fs';
import type { S3FileSystem } from '../../../src/fs/filesystem.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { testCore } from '../../fixtures/core.js';

const S_IFDIR = constants.S_IFDIR;

/** find: readdir, then each sub-directory, depth first; every path once. */
async function find(fs: S3FileSystem, path: string, out: string[] = []): Promise<string[]> {
  for (const e of await fs.readdir(path)) {
    if (e.name === '.' || e.name === '..') continue;
    const child = path === '/' ? `/${e.name}` : `${path}/${e.name}`;
    out.push(child);
    if ((e.attr.mode & constants.S_IFMT) === S_IFDIR) await find(fs, child, out);
  }
  return out;
}

function tree(store: MemoryObjectStore, dirs: number, files: number): string[] {
  const paths: string[] = [];
  for (let d = 0; d < dirs; d++) {
    const dir = `/t/d${String(d).padStart(4, '0')}`;
    paths.push(dir);
    for (let f = 0; f < files; f++) {
      store.putBytes(`${dir.slice(1)}/f${f}`, 'x');
      paths.push(`${dir}/f${f}`);
    }
  }
  return paths.sort();
}

t.test('find over 500 directories: LIST pages, not a LIST per directory', async (t) => {
  const store = new MemoryObjectStore();
  const want = tree(store, 500, 4);
  const { fs, meta } = await testCore(t, { store });
  // a file written here, not uploaded yet (the handle is open)
  const fh = await fs.create('/t/d0250/local', 0o644);
  t.teardown(() => fs.release(fh));
  const before = store.calls.list ?? 0;
  const found = (await find(fs, '/t')).sort();
  t.same(found, [...want, '/t/d0250/local'].sort(), 'every path once, the staged file too');
  const lists = (store.calls.list ?? 0) - before;
  // the delimiter listing of /t, then 2,000 keys in 2 pages (and a third, empty, at most)
  t.ok(lists <= 5, `${lists} LISTs for 500 directories`);
  t.equal(meta.walkCounters.walks, 1, 'one subtree listing');
});

t.test('--recursive-list 0: a LIST per directory (with siblings listed ahead)', async (t) => {
  const store = new MemoryObjectStore();
  const want = tree(store, 100, 2);
  const { fs, meta } = await testCore(t, { store, flags: { 'recursive-list': 0 } });
  const before = store.calls.list ?? 0;
  t.same((await find(fs, '/t')).sort(), want);
  t.ok((store.calls.list ?? 0) - before >= 100, 'one LIST per directory at least');
  t.equal(meta.walkCounters.walks, 0);
});
