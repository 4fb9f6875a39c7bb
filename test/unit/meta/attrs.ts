import t from 'tap';
import { attrsFromMetadata, isSymlinkMode, metadataFromAttrs } from '../../../src/meta/attrs.js';

t.test('s3fs and rclone metadata', async (t) => {
  t.same(attrsFromMetadata({ mode: '33188', uid: '1000', gid: '100', mtime: '1600000000' }), {
    mode: 0o100644,
    uid: 1000,
    gid: 100,
    mtimeMs: 1600000000000,
  });
  t.same(
    attrsFromMetadata({ mtime: '1600000000.123456789' }),
    { mtimeMs: 1600000000123 },
    'rclone fractional seconds',
  );
  t.same(
    attrsFromMetadata({ mtime: '2020-09-13T12:26:40Z' }),
    { mtimeMs: Date.parse('2020-09-13T12:26:40Z') },
    'RFC 3339',
  );
  t.same(attrsFromMetadata({ mode: 'rwx', uid: '-1' }), {}, 'garbage is ignored');
  t.same(metadataFromAttrs({ mode: 0o100640, uid: 1, gid: 2, mtimeMs: 1600000000999 }), {
    mode: '33184',
    uid: '1',
    gid: '2',
    mtime: '1600000000',
  });
  t.ok(isSymlinkMode(0o120777));
  t.notOk(isSymlinkMode(0o100777));
});
