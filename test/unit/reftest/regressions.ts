// Sequences on which the core once disagreed with the reference model (shrunk from
// random.ts, or written down while fixing what it found), kept as named tests: each must
// now run clean. Paste a new one from random.ts's output with a name saying what broke.
import t from 'tap';
import { describe, runOps } from '../../reftest/harness.js';
import type { Op } from '../../reftest/ops.js';

const cases: Record<string, Op[]> = {
  // the staged copy stayed at /a/b/a: its close uploaded the old name, the new one had the old bytes
  'a directory rename moves the files open below it (seed 5)': [
    { op: 'putObject', key: 'a/b/a', length: 1, seed: 0 },
    { op: 'mkdir', path: '/b' },
    { op: 'open', id: 3, path: '/a/b/a', flags: 'rw+trunc', create: false },
    { op: 'rename', from: '/a', to: '/b/a' },
  ],
  // the next core found the staged record and uploaded the unlinked file again
  'a file unlinked while open is not uploaded by the next mount (seed 3)': [
    { op: 'open', id: 3, path: '/c', flags: 'w+trunc', create: true },
    { op: 'unlink', path: '/c' },
    { op: 'remount' },
  ],
  // the replaced file's handle still owned the name: its close uploaded over the renamed file
  'a rename over a file open here: the replaced file is never uploaded again': [
    { op: 'putObject', key: 'b', length: 10, seed: 1 },
    { op: 'open', id: 1, path: '/a', flags: 'rw', create: true },
    { op: 'write', h: 1, offset: 0, length: 20, seed: 2 },
    { op: 'rename', from: '/b', to: '/a' },
    { op: 'read', h: 1, offset: 0, length: 20 },
    { op: 'close', h: 1 },
  ],
  // S3 had nothing under /b/: the rename went ahead and /b/c came back beside /a's entries
  'a directory rename onto one holding only files not yet uploaded is ENOTEMPTY': [
    { op: 'mkdir', path: '/a' },
    { op: 'putObject', key: 'a/x', length: 3, seed: 3 },
    { op: 'mkdir', path: '/b' },
    { op: 'open', id: 1, path: '/b/c', flags: 'w', create: true },
    { op: 'unlink', path: '/b/c' },
    { op: 'open', id: 2, path: '/b/c', flags: 'w', create: true },
    { op: 'rename', from: '/a', to: '/b' },
  ],
  // flush uploaded for writable handles only: the reader's close left the truncate staged
  'a truncate while only a reader has the file open is uploaded at its close (seed 101)': [
    { op: 'open', id: 2, path: '/c', flags: 'w', create: true },
    { op: 'open', id: 3, path: '/c', flags: 'r', create: false },
    { op: 'close', h: 2 },
    { op: 'truncate', path: '/c', size: 1 },
    { op: 'close', h: 3 },
  ],
  // moving the staged copy marked it changed: it was uploaded again, over another client's object
  'a file open here and renamed is not uploaded again unchanged (seed 102)': [
    { op: 'open', id: 21, path: '/b', flags: 'r', create: true },
    { op: 'rename', from: '/b', to: '/a' },
    { op: 'putObject', key: 'a', length: 1, seed: 0 },
    { op: 'close', h: 21 },
  ],
  // /b lost its last key while /b/a was open; after /b/a's upload the negative cache still hid /b
  'a directory that lost its last key shows again once a file in it is uploaded (seed 174)': [
    { op: 'putObject', key: 'c/a/c', length: 1, seed: 0 },
    { op: 'putObject', key: 'b/c', length: 1, seed: 0 },
    { op: 'open', id: 2, path: '/b/a', flags: 'w', create: true },
    { op: 'rename', from: '/b/c', to: '/c/c' },
    { op: 'rename', from: '/b', to: '/a/a' },
    { op: 'close', h: 2 },
    { op: 'mkdir', path: '/b' },
  ],
  // (a defect of the first fix of seed 5) /c/a stayed open after its directory lost its last
  // key, then a file /c was made: renaming the file /c moved (and uploaded) /c/a too
  'a rename of a file moves only that file, not files staged below its name (seed 1168)': [
    { op: 'putObject', key: 'c/c/a', length: 1, seed: 0 },
    { op: 'open', id: 28, path: '/c/a', flags: 'r', create: true },
    { op: 'unlink', path: '/c/c/a' },
    { op: 'open', id: 44, path: '/c', flags: 'rw+trunc', create: true },
    { op: 'rename', from: '/c', to: '/a' },
  ],
  // the upload of /c/b/a left /c cached as the file another client had put there
  'an upload below a name cached as a file shows it as the directory it now is (seed 3015)': [
    { op: 'putObject', key: 'c/b/a', length: 1, seed: 0 },
    { op: 'open', id: 26, path: '/c/b/a', flags: 'w+trunc', create: false },
    { op: 'deleteObject', key: 'c/b/a' },
    { op: 'putObject', key: 'c', length: 1, seed: 0 },
    { op: 'stat', path: '/c' },
    { op: 'close', h: 26 },
    { op: 'stat', path: '/c/b' },
  ],
  // /a lost its last key while /a/a was open, a file /a was created; after /a/a's upload,
  // renaming the file /a left /a cached as missing though S3 has a/a below it
  'a rename of a file that is also a directory in S3 hides the directory (seed 5025)': [
    { op: 'putObject', key: 'a/a', length: 1, seed: 0 },
    { op: 'open', id: 14, path: '/a/a', flags: 'rw+trunc', create: false },
    { op: 'deleteObject', key: 'a/a' },
    { op: 'open', id: 16, path: '/a', flags: 'rw', create: true },
    { op: 'close', h: 14 },
    { op: 'rename', from: '/a', to: '/c' },
    { op: 'truncate', path: '/a/a', size: 0 },
  ],
};

for (const [name, ops] of Object.entries(cases)) {
  t.test(name, async (t) => {
    const failure = await runOps(ops);
    t.equal(failure && describe(ops, failure), undefined, 'the core agrees with the model');
  });
}
