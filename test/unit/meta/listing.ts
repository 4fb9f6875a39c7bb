import t from 'tap';
import { emptyDirectory, mayBeShadowedLater, mergePage } from '../../../src/meta/listing.js';

const obj = (key: string, size = 1) => ({ key, size, etag: 'e', lastModifiedMs: 1000 });

t.test('merging listing pages into directory entries', async (t) => {
  const d = emptyDirectory();
  mergePage(d, 'p/', {
    objects: [obj('p/'), obj('p/a', 5), obj('p/sub')],
    prefixes: ['p/sub/', 'p//', 'p/../'],
  });
  mergePage(d, 'p/', { objects: [obj('p/z', 7), obj('p/.')], prefixes: ['p/later/'] });
  t.same([...d.entries.keys()].sort(), ['a', 'later', 'sub', 'z'], 'names');
  t.same(
    d.entries.get('a'),
    { kind: 'file', size: 5, mtimeMs: 1000, etag: 'e' },
    'file entry from the listing',
  );
  t.same(d.entries.get('sub'), { kind: 'dir' }, 'a directory shadows a same-named file');
  t.equal(d.hidden, 3, 'empty, "..", "." names are hidden and counted');
});

t.test('a file listed on a later page than its same-named directory stays hidden', async (t) => {
  const d = emptyDirectory();
  mergePage(d, '', { objects: [], prefixes: ['x/'] });
  mergePage(d, '', { objects: [obj('x')], prefixes: [] });
  t.same(d.entries.get('x'), { kind: 'dir' });
});

t.test('mayBeShadowedLater: only names the page end starts with', async (t) => {
  const page = (keys: string[], prefixes: string[] = []) => ({
    objects: keys.map((key) => ({ key, size: 0, etag: '', lastModifiedMs: 0 })),
    prefixes,
  });
  t.ok(mayBeShadowedLater('d/', page(['d/a', 'd/b']), 'b'), 'the last key itself');
  t.ok(mayBeShadowedLater('d/', page(['d/b', 'd/b!x']), 'b'), '"b/" sorts after "b!x"');
  t.notOk(mayBeShadowedLater('d/', page(['d/a', 'd/b']), 'a'), '"a/" would have come before "b"');
  t.ok(mayBeShadowedLater('d/', page(['d/a'], ['d/b/']), 'b'), 'a prefix ends the page');
  t.notOk(mayBeShadowedLater('d/', page([], []), 'b'), 'empty page');
});
