import t from 'tap';
import { baseName, dirPrefix, fileKey, isShowableName, joinPath, parentPath } from '../../../src/meta/paths.js';

t.test('paths map to keys under the mount prefix', async (t) => {
  t.equal(fileKey('', '/a/b'), 'a/b');
  t.equal(fileKey('p/', '/a b/ü+%.txt'), 'p/a b/ü+%.txt');
  t.equal(dirPrefix('', '/'), '');
  t.equal(dirPrefix('p/', '/'), 'p/');
  t.equal(dirPrefix('p/', '/a/b'), 'p/a/b/');
  t.equal(parentPath('/a/b'), '/a');
  t.equal(parentPath('/a'), '/');
  t.equal(baseName('/a/b c'), 'b c');
  t.equal(joinPath('/', 'x'), '/x');
  t.equal(joinPath('/a', 'x'), '/a/x');
});

t.test('names that cannot be shown', async (t) => {
  for (const bad of ['', '.', '..', 'a/b', 'x'.repeat(256), 'é'.repeat(128)]) t.notOk(isShowableName(bad), JSON.stringify(bad.slice(0, 10)));
  for (const ok of ['a', '...', '.hidden', 'x'.repeat(255), 'with space', '漢字']) t.ok(isShowableName(ok), ok.slice(0, 10));
});
