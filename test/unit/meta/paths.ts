import t from 'tap';
import {
  baseName,
  dirPrefix,
  fileKey,
  isShowableName,
  joinPath,
  parentPath,
} from '../../../src/meta/paths.js';

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
  for (const bad of ['', '.', '..', 'a/b', 'x'.repeat(256), 'é'.repeat(128)])
    t.notOk(isShowableName(bad), JSON.stringify(bad.slice(0, 10)));
  for (const ok of ['a', '...', '.hidden', 'x'.repeat(255), 'with space', '漢字'])
    t.ok(isShowableName(ok), ok.slice(0, 10));
});

t.test('name and key limits count UTF-8 bytes, the prefix included', async (t) => {
  const { pathTooLong } = await import('../../../src/meta/paths.js');
  t.equal(pathTooLong('', `/${'x'.repeat(255)}`), undefined, '255-byte name');
  t.equal(pathTooLong('', `/${'x'.repeat(256)}`), 'name', '256-byte name');
  t.equal(pathTooLong('', `/${'é'.repeat(128)}`), 'name', '128 two-byte characters');
  t.equal(pathTooLong('', `/${'x'.repeat(256)}/y`), 'name', 'a directory on the way');
  const deep = `/${'d'.repeat(200)}`.repeat(5); // key 'd…/d…' of 1,004 bytes
  t.equal(pathTooLong('', `${deep}/${'f'.repeat(19)}`), undefined, '1,024-byte key');
  t.equal(pathTooLong('', `${deep}/${'f'.repeat(20)}`), 'key', '1,025-byte key');
  t.equal(
    pathTooLong('', `${deep}/${'f'.repeat(19)}`, true),
    'key',
    'as a directory its marker has one byte more',
  );
  t.equal(pathTooLong('p/', `${deep}/${'f'.repeat(18)}`), 'key', 'the prefix counts');
  t.equal(pathTooLong('p/', `${deep}/${'f'.repeat(17)}`), undefined);
  t.equal(pathTooLong('', '/'), undefined, 'the root');
});
