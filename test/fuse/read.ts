// FUSE read path, end to end: objects put with the SDK are read through a real mount
// with ordinary tools. Runs against the server named by S3_TEST_SERVER (rgw | s3rver).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount } from '../fixtures/mount.js';
import { sha256 } from '../fixtures/helpers.js';

const kind = serverKindFromEnv();
const MiB = 1024 * 1024;
const sh = (cmd: string, args: string[], cwd?: string) =>
  execFileSync(cmd, args, { encoding: 'utf8', cwd, maxBuffer: 64 * MiB });

t.test(`read path on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'read');
  const put = (Key: string, Body: Buffer | string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));

  // --- the data, put by "another client" (the SDK) ---
  const medium = randomBytes(3 * MiB + 12345); // crosses 1 MiB block edges
  const big = randomBytes(100 * MiB);
  const specialNames = [
    'with space.txt',
    'unicode-é漢字😀.txt',
    'plus+sign.txt',
    'percent%41.txt',
    '100%.txt',
    'amp&eq=.txt',
    "tilde~quote'.txt",
  ];
  await put('hello.txt', 'hello world\n');
  await put('empty', Buffer.alloc(0));
  await put('medium.bin', medium);
  await put('big.bin', big);
  for (const n of specialNames) await put(`special/${n}`, `content of ${n}\n`);
  await put('dir/a.txt', 'a\n');
  await put('dir/b.txt', 'b\n');
  await put('marker/', Buffer.alloc(0)); // an empty directory made by a "dir/" marker
  await put('shadow', 'I am hidden by the directory\n');
  await put('shadow/inside.txt', 'inside\n');
  // s3rver 3.7.1 answers 404 to a PUT of a key with "//" (DEVELOPERS.md, known gaps)
  if (kind !== 's3rver') await put('odd//double-slash.txt', 'x'); // key with an empty segment
  // s3rver 3.7.1 stores "a/./b" as "a/b" (DEVELOPERS.md, known gaps)
  if (kind !== 's3rver') await put('odd/./dot.txt', 'x'); // key with a "." segment
  await put('odd/fine.txt', 'fine\n');
  await put('deep/l1/l2/leaf.txt', 'leaf\n'); // implicit directories two levels down
  // a small tree for cp -r / tar / rsync / grep / find
  // tree/README.txt keeps "tree" visible in s3rver's root listing (it hides prefixes
  // whose objects all lie two or more levels down: DEVELOPERS.md, known gaps)
  const tree: Record<string, string> = { 'tree/README.txt': 'a tree\n' };
  for (let d = 0; d < 4; d++)
    for (let f = 0; f < 5; f++)
      tree[`tree/d${d}/f${f}.txt`] =
        `file ${d}/${f}\n${d === 2 && f === 3 ? 'needle\n' : ''}${randomBytes(200).toString('hex')}\n`;
  await Promise.all(Object.entries(tree).map(([k, v]) => put(k, v)));

  const before = randomBytes(20 * MiB);
  await put('changing.bin', before);

  const m = await mount(server, bucket);
  t.teardown(() => m.unmount());
  const p = (rel: string) => join(m.dir, rel);

  t.test('ls -l shows objects and implicit directories with sizes', async (t) => {
    const names = (await readdir(m.dir)).sort();
    for (const n of [
      'hello.txt',
      'empty',
      'medium.bin',
      'big.bin',
      'special',
      'dir',
      'marker',
      'shadow',
      'odd',
      'tree',
    ])
      t.ok(names.includes(n), `root lists ${n}`);
    const ls = sh('ls', ['-l', m.dir]);
    t.match(ls, /^-rw-r--r-- 1 \S+ \S+\s+12 .* hello\.txt$/m, 'hello.txt: regular file of 12 bytes');
    t.match(ls, /^drwxr-xr-x 2 .* dir$/m, 'dir is a directory');
    t.equal((await stat(p('medium.bin'))).size, medium.length, 'medium size');
    t.equal((await stat(p('empty'))).size, 0, 'empty object size 0');
    t.ok((await stat(p('dir'))).isDirectory(), 'dir is a directory');
    const mtime = (await stat(p('hello.txt'))).mtimeMs;
    t.ok(Math.abs(mtime - Date.now()) < 10 * 60_000, 'mtime is the object LastModified (recent)');
  });

  t.test('cat and hashes are byte-exact', async (t) => {
    t.equal(sh('cat', [p('hello.txt')]), 'hello world\n');
    t.equal(sh('cat', [p('empty')]), '');
    t.equal(sh('sha256sum', [p('medium.bin')]).split(' ')[0], sha256(medium), 'medium sha256');
    t.equal(
      sh('md5sum', [p('dir/a.txt')]).split(' ')[0],
      createHash('md5').update('a\n').digest('hex'),
      'md5sum of a small file',
    );
  });

  t.test('100 MiB object reads back identical', async (t) => {
    t.equal(sh('sha256sum', [p('big.bin')]).split(' ')[0], sha256(big));
  });

  t.test('reads at odd offsets and across block edges', async (t) => {
    const fh = await open(p('medium.bin'), 'r');
    t.teardown(() => fh.close());
    const cases: Array<[number, number]> = [
      [0, 1],
      [1, 10],
      [MiB - 3, 10],
      [MiB, 1],
      [2 * MiB - 1, MiB + 2],
      [3 * MiB + 12340, 100],
      [12345, 2 * MiB],
      [medium.length - 1, 1],
      [medium.length - 7, 7],
      [5, 0],
    ];
    for (const [pos, len] of cases) {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      const want = medium.subarray(pos, pos + len);
      t.equal(bytesRead, want.length, `bytes read at ${pos}+${len}`);
      t.ok(buf.subarray(0, bytesRead).equals(want), `bytes at ${pos}+${len}`);
    }
    const past = Buffer.alloc(10);
    t.equal((await fh.read(past, 0, 10, medium.length + 5)).bytesRead, 0, 'read past EOF gives 0');
  });

  t.test('keys with spaces, unicode, +, % read back', async (t) => {
    const names = (await readdir(p('special'))).sort();
    t.same(names, [...specialNames].sort(), 'all special names listed');
    for (const n of specialNames) t.equal(await readFile(p(`special/${n}`), 'utf8'), `content of ${n}\n`, n);
  });

  t.test('directories: markers, shadowing, keys that cannot be shown', async (t) => {
    t.same(await readdir(p('marker')), [], 'marker object makes an empty directory');
    t.ok((await stat(p('shadow'))).isDirectory(), 'a directory shadows a same-named object');
    t.equal(await readFile(p('shadow/inside.txt'), 'utf8'), 'inside\n');
    t.same((await readdir(p('odd'))).sort(), ['fine.txt'], '"a//b" and "a/./b" keys are hidden');
    if (kind === 'rgw') {
      // s3rver 3.7.1 hides prefixes whose objects are 2+ levels down in delimiter
      // listings (DEVELOPERS.md, known gaps): "deep" is missing from its root listing
      t.equal(
        await readFile(p('deep/l1/l2/leaf.txt'), 'utf8'),
        'leaf\n',
        'nested implicit directories resolve by path',
      );
      t.ok((await stat(p('deep/l1'))).isDirectory(), 'implicit directory stat');
      t.same(await readdir(p('deep')), ['l1'], 'implicit directory listed');
    }
    await t.rejects(stat(p('nope')), { code: 'ENOENT' }, 'missing file is ENOENT');
    await t.rejects(readFile(p('dir')), { code: 'EISDIR' }, 'reading a directory is EISDIR');
    await t.rejects(readdir(p('hello.txt')), { code: 'ENOTDIR' }, 'listing a file is ENOTDIR');
  });

  t.test('ordinary tools: find, grep -r, cp -r, tar c, rsync', async (t) => {
    const local = await mkdtemp(join(tmpdir(), 's3mount-local-'));
    t.teardown(() => rm(local, { recursive: true, force: true }));
    const src = join(local, 'src');
    for (const [k, v] of Object.entries(tree)) {
      await mkdir(join(src, k, '..'), { recursive: true });
      await writeFile(join(src, k), v);
    }
    const found = sh('find', ['.', '-type', 'f'], p('tree')).trim().split('\n').sort();
    t.same(
      found,
      Object.keys(tree)
        .map((k) => `./${k.slice('tree/'.length)}`)
        .sort(),
      'find lists every file',
    );
    t.equal(
      sh('grep', ['-rl', 'needle', '.'], p('tree')).trim(),
      './d2/f3.txt',
      'grep -r finds the one match',
    );
    sh('cp', ['-r', p('tree'), join(local, 'cp')]);
    t.equal(sh('diff', ['-r', join(src, 'tree'), join(local, 'cp')]), '', 'cp -r copy is identical');
    sh('mkdir', [join(local, 'untar')]);
    execFileSync('sh', ['-c', `tar c -C '${m.dir}' tree | tar x -C '${join(local, 'untar')}'`]);
    t.equal(
      sh('diff', ['-r', join(src, 'tree'), join(local, 'untar', 'tree')]),
      '',
      'tar c | tar x is identical',
    );
    sh('rsync', ['-a', `${p('tree')}/`, join(local, 'rsync')]);
    t.equal(sh('diff', ['-r', join(src, 'tree'), join(local, 'rsync')]), '', 'rsync -a copy is identical');
  });

  t.test('df and stat -f work', async (t) => {
    t.match(sh('df', ['-P', m.dir]), /s3mount:/, 'df shows the mount');
    t.match(sh('stat', ['-f', '-c', '%l', m.dir]).trim(), /^255$/, 'namemax is 255');
  });

  t.test('an object replaced while open gives ESTALE, never mixed bytes', async (t) => {
    const fh = await open(p('changing.bin'), 'r');
    let closed = false;
    t.teardown(() => (closed ? undefined : fh.close()));
    const head = Buffer.alloc(4096);
    await fh.read(head, 0, 4096, 0);
    t.ok(head.equals(before.subarray(0, 4096)), 'first bytes are the old version');
    const after = randomBytes(20 * MiB);
    await put('changing.bin', after);
    const tail = Buffer.alloc(4096);
    await t.rejects(
      fh.read(tail, 0, 4096, 15 * MiB),
      { name: 'Error', errno: -116 /* ESTALE: libuv has no name for it */ },
      'a read of the old version after the change fails (ESTALE)',
    );
    await fh.close();
    closed = true;
    t.equal(sha256(await readFile(p('changing.bin'))), sha256(after), 'reopening reads the new version');
  });
});
