import t from 'tap';
import { emptyDirectory, mergePage } from '../../../src/meta/listing.js';

const obj = (key: string, size = 1) => ({ key, size, etag: 'e', lastModifiedMs: 1000 });

t.test('merging listing pages into directory entries', async (t) => {
  const d = emptyDirectory();
  mergePage(d, 'p/', { objects: [obj('p/'), obj('p/a', 5), obj('p/sub')], prefixes: ['p/sub/', 'p//', 'p/../'] });
  mergePage(d, 'p/', { objects: [obj('p/z', 7), obj('p/.')], prefixes: ['p/later/'] });
  t.same([...d.entries.keys()].sort(), ['a', 'later', 'sub', 'z'], 'names');
  t.same(d.entries.get('a'), { kind: 'file', size: 5, mtimeMs: 1000, etag: 'e' }, 'file entry from the listing');
  t.same(d.entries.get('sub'), { kind: 'dir' }, 'a directory shadows a same-named file');
  t.equal(d.hidden, 3, 'empty, "..", "." names are hidden and counted');
});

t.test('a file listed on a later page than its same-named directory stays hidden', async (t) => {
  const d = emptyDirectory();
  mergePage(d, '', { objects: [], prefixes: ['x/'] });
  mergePage(d, '', { objects: [obj('x')], prefixes: [] });
  t.same(d.entries.get('x'), { kind: 'dir' });
});
