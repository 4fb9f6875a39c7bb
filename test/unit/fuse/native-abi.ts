// The numbers C and TypeScript share (native/fuse-native/s3mount-abi.json) stay shared:
// the built binding reports the version of its source, the C tables use the JSON's
// names rather than literals, and encodeStats writes fuse-native's own stat layout; and
// with the fast paths on, a JavaScript opendir cannot take over s3m_readdir's handles.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rmdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeStats } from '../../../src/fuse/adapter.js';
import { ABI_VERSION, STAT_INTS, TWO32 } from '../../../src/fuse/native.js';
import type { Attr } from '../../../src/fs/filesystem.js';

const require = createRequire(import.meta.url);
const NATIVE_DIR = fileURLToPath(new URL('../../../native/fuse-native/', import.meta.url));

t.test('the built binding is the version of its source', async (t) => {
  const abi = JSON.parse(await readFile(join(NATIVE_DIR, 's3mount-abi.json'), 'utf8')) as {
    version: number;
    statInts: number;
    halfBits: number;
  };
  t.equal(ABI_VERSION, abi.version);
  t.equal(STAT_INTS, abi.statInts);
  t.equal(TWO32, 2 ** abi.halfBits);
  const binding = require('fuse-native/binding.js') as { s3m_version?: number };
  t.equal(
    binding.s3m_version,
    ABI_VERSION,
    'rebuilt since s3mount-abi.json changed (npm rebuild fuse-native)',
  );
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
  };
  const theirs = getStatArray({
    ...attr,
    mtime: attr.mtimeMs,
    atime: attr.atimeMs,
    ctime: attr.ctimeMs,
    ino: 0,
    dev: 0,
    rdev: 0,
  });
  t.equal(theirs.length, STAT_INTS, 'STAT_INTS uint32 per stat');
  t.same(Array.from(encodeStats([attr])), Array.from(theirs));
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
