// The numbers C and TypeScript share (native/fuse-native/s3mount-abi.json) stay shared:
// the built bindings report the version of their source, binding.gyp passes the JSON's
// numbers to the C, the C tables use those names rather than literals, the stat field
// indices are fuse-native's getStatArray layout, and encodeStats writes what the C's
// populate_stat reads back field by field (through the test binding); and with the fast
// paths on, a JavaScript opendir cannot take over s3m_readdir's handles.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rmdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeStats } from '../../../src/fuse/adapter.js';
import { ABI_VERSION, STAT_FIELDS, STAT_INTS, TWO32 } from '../../../src/fuse/native.js';
import type { Attr } from '../../../src/fs/filesystem.js';
import { HEADER_BYTES } from '../../../src/read/disk-cache.js';
import { MAX_OBJECT_BYTES } from '../../../src/write/part-plan.js';
import { loadTestBinding } from '../../fixtures/native/binding.js';
import { decodeStat } from '../../fixtures/native/attr-model.js';

const require = createRequire(import.meta.url);
const NATIVE_DIR = fileURLToPath(new URL('../../../native/fuse-native/', import.meta.url));

t.test('the built binding is the version of its source', async (t) => {
  const abi = JSON.parse(await readFile(join(NATIVE_DIR, 's3mount-abi.json'), 'utf8')) as {
    version: number;
    statInts: number;
    halfBits: number;
    statFields: Record<string, number>;
  };
  t.equal(ABI_VERSION, abi.version);
  t.same(STAT_FIELDS, abi.statFields);
  t.equal(STAT_INTS, abi.statInts);
  t.equal(TWO32, 2 ** abi.halfBits);
  const binding = require('fuse-native/binding.js') as { s3m_version?: number };
  t.equal(
    binding.s3m_version,
    ABI_VERSION,
    'rebuilt since s3mount-abi.json changed (npm rebuild fuse-native)',
  );
  t.equal(loadTestBinding().s3m_version, ABI_VERSION, 'the test binding too');
});

t.test('binding.gyp passes the C every number it names from s3mount-abi.json', async (t) => {
  const abi = JSON.parse(await readFile(join(NATIVE_DIR, 's3mount-abi.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const gyp = await readFile(join(NATIVE_DIR, 'binding.gyp'), 'utf8');
  const used = [
    ...gyp.matchAll(/(S3M_\w+)=<!\(node -p \\"require\('\.\/s3mount-abi\.json'\)\.([\w.]+)\\"\)/g),
  ];
  t.same(
    used.map((m) => m[1]).sort(),
    [
      'S3M_ABI_VERSION',
      'S3M_DISK_HEADER',
      'S3M_HALF_BITS',
      'S3M_MAX_FILE_BYTES',
      'S3M_STAT_INTS',
      'S3M_STAT_MODE',
    ],
    'the defines the C requires (s3m-common.h refuses to build without them)',
  );
  for (const m of used) {
    const value = (m[2] as string)
      .split('.')
      .reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], abi);
    t.type(value, 'number', `${m[1]} ← ${m[2]}`);
  }
  t.equal(abi.maxFileBytes, MAX_OBJECT_BYTES, "the C's largest file is S3's largest object (part-plan.ts)");
  t.equal(abi.diskHeaderBytes, HEADER_BYTES, 'the C reads block files past the header disk-cache.ts writes');
});

t.test('statFields are the indices of getStatArray, and populate_stat reads each back', async (t) => {
  const getStatArray = (require('fuse-native') as { getStatArray(s: object): Uint32Array }).getStatArray;
  // one field at a time changed from a baseline: the indices that change are that field's
  const base = { mode: 1, uid: 1, gid: 1, size: 1, dev: 1, nlink: 1, ino: 1, rdev: 1, blksize: 1, blocks: 1 };
  const baseline = getStatArray({ ...base, atime: 1, mtime: 1, ctime: 1 });
  for (const field of Object.keys(STAT_FIELDS) as Array<keyof typeof STAT_FIELDS>) {
    const wide = ['size', 'blocks', 'atime', 'mtime', 'ctime'].includes(field);
    const ints = getStatArray({
      ...base,
      atime: 1,
      mtime: 1,
      ctime: 1,
      [field]: wide ? 3 * TWO32 + 1234 : 4321,
    });
    const changed = Array.from(ints.keys()).filter((i) => ints[i] !== baseline[i]);
    const at = STAT_FIELDS[field];
    t.same(changed, wide ? [at, at + 1] : [at], `${field} at ${at}`);
    t.same(
      wide ? [ints[at], ints[at + 1]] : [ints[at]],
      wide ? [1234, 3] : [4321],
      `${field}: low half first`,
    );
  }
  const b = loadTestBinding();
  const ints = new Uint32Array(STAT_INTS).map((_, i) => 1000 + i * 7);
  t.same(b.s3m_test_stat(ints), decodeStat(ints), "the C's populate_stat agrees with the indices");
});

t.test('the C fast paths name the shared numbers instead of repeating them', async (t) => {
  const headers = (await readdir(NATIVE_DIR)).filter((f) => /^s3m.*\.h$/.test(f));
  t.ok(headers.length >= 5, `found ${headers.join(', ')}`);
  for (const h of headers) {
    const code = (await readFile(join(NATIVE_DIR, h), 'utf8')).replace(/\/\/.*$/gm, '');
    t.notMatch(code, /\b18\b/, `${h}: no literal stat size`);
    t.notMatch(code, /<< 32\b/, `${h}: no literal half width`);
    t.notMatch(code, /napi_create_uint32\(env, \d+, &v\)/, `${h}: no literal version`);
  }
});

t.test('encodeStats writes the layout fuse-native and populate_stat use', async (t) => {
  const getStatArray = (require('fuse-native') as { getStatArray(s: object): Uint32Array }).getStatArray;
  const attr: Attr = {
    mode: 0o100644,
    size: 5 * TWO32 + 12345,
    nlink: 1,
    uid: 1000,
    gid: 100,
    mtimeMs: 1_700_000_000_123,
    atimeMs: 1_600_000_000_456,
    ctimeMs: 1_650_000_000_789,
    blocks: 3 * TWO32 + 7,
    blksize: 4096,
    rdev: 0x0103, // a device node's number (character device 1:3)
  };
  const theirs = getStatArray({
    ...attr,
    mtime: attr.mtimeMs,
    atime: attr.atimeMs,
    ctime: attr.ctimeMs,
    ino: 0,
    dev: 0,
  });
  t.equal(theirs.length, STAT_INTS, 'STAT_INTS uint32 per stat');
  t.same(Array.from(encodeStats([attr])), Array.from(theirs));
  const back = loadTestBinding().s3m_test_stat(encodeStats([attr]));
  t.match(
    back,
    {
      mode: attr.mode,
      size: attr.size,
      blocks: attr.blocks,
      mtimeMs: attr.mtimeMs,
      atimeMs: attr.atimeMs,
      ctimeMs: attr.ctimeMs,
      uid: 1000,
      gid: 100,
      nlink: 1,
      blksize: 4096,
      rdev: 0x0103,
    },
    'and the C reads it back',
  );
});

t.test('with the fast paths on, a JavaScript opendir or releasedir is refused at mount', async (t) => {
  type Cb = (err: number, ...rest: unknown[]) => void;
  interface FuseLike {
    mount(cb: (err: Error | null) => void): void;
  }
  const Fuse = require('fuse-native') as new (mnt: string, ops: object) => FuseLike;
  (require('fuse-native/binding.js') as { s3m_enable(): void }).s3m_enable();
  const dir = await mkdtemp(join(tmpdir(), 's3mount-refuse-'));
  t.teardown(async () => {
    // only if the refusal failed and it really mounted
    spawnSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
    await rmdir(dir);
  });
  const ops = {
    getattr: (_p: string, cb: Cb) => cb(0, { mode: 0o40755, size: 0 }),
    readdir: (_p: string, cb: Cb) => cb(0, [], []),
  };
  for (const extra of [
    { opendir: (_p: string, _f: number, cb: Cb) => cb(0, 1) },
    { releasedir: (_p: string, _fd: number, cb: Cb) => cb(0) },
  ]) {
    const err = await new Promise<Error | null>((r) => new Fuse(dir, { ...ops, ...extra }).mount(r));
    t.match(err?.message ?? '', /owns opendir and releasedir/, `${Object.keys(extra)[0]} refused`);
  }
});
