// What stat shows for special files, and what chmod/chown/mknod store (src/fs/attr.ts,
// src/fs/attr-changes.ts).
import t from 'tap';
import { attrOf, type AttrDefaults } from '../../../src/fs/attr.js';
import { modeChange, ownerChange, specialNodeAttrs } from '../../../src/fs/attr-changes.js';
import { toErrno } from '../../../src/fs/errno.js';
import { attrsFromMetadata, metadataFromAttrs } from '../../../src/meta/attrs.js';

const D: AttrDefaults = {
  uid: 1000,
  gid: 1000,
  fileMode: 0o644,
  dirMode: 0o755,
  blksize: 4096,
  mountTimeMs: 5,
};
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFSOCK = 0o140000;
const S_IFREG = 0o100000;

t.test('special files show their type, devices their number', async (t) => {
  const fifo = attrOf({ kind: 'file', size: 0, mtimeMs: 1, etag: 'e', attrs: { mode: S_IFIFO | 0o620 } }, D);
  t.equal(fifo.mode, S_IFIFO | 0o620);
  t.equal(fifo.rdev, 0);
  const dev = attrOf(
    {
      kind: 'file',
      size: 0,
      mtimeMs: 1,
      etag: 'e',
      attrs: attrsFromMetadata({ mode: String(S_IFCHR | 0o666), rdev: '259' }),
    },
    D,
  );
  t.equal(dev.mode, S_IFCHR | 0o666);
  t.equal(dev.rdev, 259);
  const plain = attrOf({ kind: 'file', size: 3, mtimeMs: 1, etag: 'e', attrs: { rdev: 9 } }, D);
  t.equal(plain.mode, S_IFREG | 0o644, 'no stored mode: a regular file with the mount default');
  t.equal(plain.rdev, 0, 'a regular file has no device number');
});

t.test('chmod keeps the type; chown -1 keeps that id', async (t) => {
  const change = modeChange(0o600);
  t.same(change({ kind: 'file', size: 0, mtimeMs: 1, etag: '', attrs: { mode: S_IFSOCK | 0o755 } }), {
    mode: S_IFSOCK | 0o600,
  });
  t.same(change({ kind: 'file', size: 0, mtimeMs: 1, etag: '' }), { mode: S_IFREG | 0o600 });
  t.same(ownerChange(5, 0xffffffff), { uid: 5 });
  t.same(ownerChange(-1, 7), { gid: 7 });
});

t.test('mknod stores what s3fs stores', async (t) => {
  const a = specialNodeAttrs('/d', S_IFCHR | 0o640, 0x103, { uid: 1, gid: 2 });
  t.same(metadataFromAttrs(a), { mode: String(S_IFCHR | 0o640), uid: '1', gid: '2', rdev: String(0x103) });
  t.same(specialNodeAttrs('/p', S_IFIFO | 0o600, 77, { uid: 1, gid: 2 }), {
    uid: 1,
    gid: 2,
    mode: S_IFIFO | 0o600,
  });
  let code = '';
  try {
    specialNodeAttrs('/r', S_IFREG | 0o600, 0, { uid: 1, gid: 2 });
  } catch (err) {
    code = toErrno(err).code;
  }
  t.equal(code, 'EINVAL', 'not for a regular file');
});
