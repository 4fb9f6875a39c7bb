import t from 'tap';
import { emptyDirectory, mergePage, type Directory } from '../../../src/meta/listing.js';
import { dirPrefix } from '../../../src/meta/paths.js';
import { SubtreeMerge, type SealedDir } from '../../../src/meta/subtree.js';
import type { ObjectInfo } from '../../../src/s3/store.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

/** What a delimiter listing of `path` shows (listing.ts over the in-memory store, all pages). */
async function delimiterListing(store: MemoryObjectStore, prefix: string, path: string): Promise<Directory> {
  const dir = emptyDirectory();
  const p = dirPrefix(prefix, path);
  let token: string | undefined;
  do {
    const page = await store.list({
      prefix: p,
      delimiter: '/',
      ...(token ? { continuationToken: token } : {}),
    });
    mergePage(dir, p, page);
    token = page.nextToken;
  } while (token !== undefined);
  return dir;
}

/** Every directory of a subtree listing of `path`, its pages `pageKeys` keys long. */
async function subtreeListing(
  store: MemoryObjectStore,
  prefix: string,
  path: string,
  pageKeys: number,
): Promise<{ sealed: SealedDir[]; perPage: number[]; merge: SubtreeMerge }> {
  const merge = new SubtreeMerge(path, dirPrefix(prefix, path));
  const sealed: SealedDir[] = [];
  const perPage: number[] = [];
  let token: string | undefined;
  do {
    const page = await store.list({
      prefix: dirPrefix(prefix, path),
      maxKeys: pageKeys,
      ...(token ? { continuationToken: token } : {}),
    });
    const done = merge.addPage(page.objects);
    perPage.push(done.length);
    sealed.push(...done);
    token = page.nextToken;
  } while (token !== undefined);
  sealed.push(...merge.finish());
  return { sealed, perPage, merge };
}

const shown = (d: Directory) =>
  [...d.entries]
    .map(([name, n]) => `${name}:${n.kind}${n.kind === 'dir' ? '' : `:${n.size}`}`)
    .sort()
    .join(' ');

const KEYS = [
  'w/a/x', // implicit directory a
  'w/b/', // empty directory b, only its marker
  'w/c', // file c ...
  'w/c!', // (sorts between "c" and "c/")
  'w/c-1/z',
  'w/c/y', // ... shadowed by directory c
  'w/c/deep/er/est', // implicit directories three levels down
  'w/d/', // marker with content below
  'w/d/e',
  'w/e//z', // empty segment: hidden in e
  'w/f/./g', // "." segment: hidden in f
  `w/g/${'n'.repeat(256)}`, // name over NAME_MAX: hidden in g
  `w/g/${'n'.repeat(256)}/below`,
  'w/g/ok',
  'w/top',
  'w/', // the root's own marker
];

t.test('a subtree listing shows every directory as a delimiter listing of it would', async (t) => {
  for (const prefix of ['', 'mnt/']) {
    const store = new MemoryObjectStore();
    for (const k of KEYS) store.putBytes(prefix + k, k);
    for (const pageKeys of [1, 2, 3, 1000]) {
      const { sealed, merge } = await subtreeListing(store, prefix, '/w', pageKeys);
      t.notOk(merge.disordered);
      const paths = sealed.map((s) => s.path);
      t.equal(new Set(paths).size, paths.length, 'each directory handed out once');
      t.same(
        [...paths].sort(),
        ['/w', '/w/a', '/w/b', '/w/c', '/w/c-1', '/w/c/deep', '/w/c/deep/er', '/w/d', '/w/e', '/w/f', '/w/g'],
        `every directory, none of the hidden ones (pages of ${pageKeys})`,
      );
      for (const s of sealed) {
        const want = await delimiterListing(store, prefix, s.path);
        t.equal(
          shown(s.dir),
          shown(want),
          `${s.path}: same entries (pages of ${pageKeys}, prefix "${prefix}")`,
        );
        t.equal(s.dir.hidden, want.hidden, `${s.path}: same hidden count`);
      }
      t.equal(paths.at(-1), '/w', 'the root last');
    }
  }
});

t.test('a directory is handed out with the page whose keys leave it', async (t) => {
  const store = new MemoryObjectStore();
  for (let d = 0; d < 10; d++) for (let f = 0; f < 3; f++) store.putBytes(`t/d${d}/f${f}`, 'x');
  const { perPage, sealed } = await subtreeListing(store, '', '/t', 6);
  // 30 keys, 6 a page: pages end inside d1, d3, d5, d7 and d9; each page leaves two directories
  t.same(perPage, [1, 2, 2, 2, 2], 'complete directories come page by page, not at the end');
  t.equal(sealed.length, 11);
  t.same(shown(sealed[0]?.dir ?? emptyDirectory()), 'f0:file:1 f1:file:1 f2:file:1');
});

t.test('keys out of order make the merge disordered', async (t) => {
  const obj = (key: string): ObjectInfo => ({ key, size: 1, etag: 'e', lastModifiedMs: 0 });
  const m = new SubtreeMerge('/', '');
  m.addPage([obj('a/x'), obj('b/y')]);
  t.notOk(m.disordered);
  m.addPage([obj('a/z')]);
  t.ok(m.disordered, '"a" came back after "b" had closed it');
  // a file listed after its own sub-directory (on-disk order) is still right
  const n = new SubtreeMerge('/', '');
  const sealed = [...n.addPage([obj('k/child'), obj('k'), obj('l')]), ...n.finish()];
  t.notOk(n.disordered);
  t.same(
    sealed.map((s) => [s.path, shown(s.dir)]),
    [
      ['/k', 'child:file:1'],
      ['/', 'k:dir l:file:1'],
    ],
  );
});
