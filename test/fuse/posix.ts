// POSIX where it is cheap (issue #13): ownership and mode changes visible at once and
// after a remount; FIFOs, device nodes and unix sockets stored as s3fs stores them;
// ENOTDIR for a path through a file; inode numbers kept across rename; times set on the
// mount root; with --allow-other, the kernel keeps users apart (default_permissions).
import t from 'tap';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, open, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { run } from '../fixtures/install.js';
import { mount } from '../fixtures/mount.js';
import { machineLock } from '../fixtures/machine-lock.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const TEST_USER = 's3mount-test';

const S_IFMT = 0o170000;
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;

t.test(`POSIX where it is cheap, on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'posix');
  let m = await mount(server, bucket);
  t.teardown(() => m.unmount());
  const metadataOf = async (key: string) =>
    (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata ?? {};

  t.test('chown and chmod: visible at once, stored, and after a remount', async (t) => {
    const p = join(m.dir, 'owned.txt');
    await writeFile(p, 'data');
    await chmod(p, 0o640);
    t.equal((await stat(p)).mode & 0o7777, 0o640, 'chmod shows at once');
    if (isRoot) {
      await chown(p, 1234, 5678);
      const st = await stat(p);
      t.equal(st.uid, 1234, 'chown: uid at once');
      t.equal(st.gid, 5678, 'chown: gid at once');
      await chown(p, -1, 4321);
      t.equal((await stat(p)).uid, 1234, 'chown -1 keeps the uid');
      t.equal((await stat(p)).gid, 4321, 'and changes the gid');
    }
    const md = await metadataOf('owned.txt');
    t.equal(Number(md.mode) & 0o7777, 0o640, 'x-amz-meta-mode');
    if (isRoot) t.same([md.uid, md.gid], ['1234', '4321'], 'x-amz-meta-uid and -gid');
    await m.unmount();
    m = await mount(server, bucket);
    const st = await stat(join(m.dir, 'owned.txt'));
    t.equal(st.mode & 0o7777, 0o640, 'mode after a remount');
    if (isRoot) t.same([st.uid, st.gid], [1234, 4321], 'owner after a remount');
    t.equal(await readFile(join(m.dir, 'owned.txt'), 'utf8'), 'data', 'content unchanged');
  });

  t.test('FIFO, device nodes, unix socket: objects with the mode in metadata, as s3fs', async (t) => {
    const fifo = join(m.dir, 'pipe');
    await exec('mkfifo', ['-m', '0620', fifo]);
    const fst = await stat(fifo);
    t.equal(fst.mode & S_IFMT, S_IFIFO, 'mkfifo makes a FIFO');
    t.equal(fst.mode & 0o7777, 0o620, 'with its mode');
    t.equal(Number((await metadataOf('pipe')).mode), S_IFIFO | 0o620, 'x-amz-meta-mode holds type and mode');
    // the kernel runs the pipe: a reader gets what a writer writes
    const reader = exec('cat', [fifo], { timeout: 20_000 });
    await writeFile(fifo, 'through the pipe\n');
    t.equal((await reader).stdout, 'through the pipe\n', 'data goes through the FIFO');

    if (isRoot) {
      const chr = join(m.dir, 'null-again');
      await exec('mknod', ['-m', '0666', chr, 'c', '1', '3']);
      const cst = await stat(chr);
      t.equal(cst.mode & S_IFMT, S_IFCHR, 'mknod c: a character device');
      t.equal([Math.floor(cst.rdev / 256) & 0xfff, cst.rdev & 0xff].join(':'), '1:3', 'its device number');
      const cmd = await metadataOf('null-again');
      t.equal(Number(cmd.mode), S_IFCHR | 0o666, 'x-amz-meta-mode');
      t.equal(Number(cmd.rdev), cst.rdev, 'x-amz-meta-rdev');
      const blk = join(m.dir, 'loop-again');
      await exec('mknod', [blk, 'b', '7', '0']);
      t.equal((await stat(blk)).mode & S_IFMT, S_IFBLK, 'mknod b: a block device');
    }

    const sock = join(m.dir, 'sock');
    const srv = createServer((c) => c.end('hello from the socket\n'));
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(sock, resolve));
    t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
    t.equal((await stat(sock)).mode & S_IFMT, S_IFSOCK, 'bind() makes a socket node');
    const said = await new Promise<string>((resolve, reject) => {
      let got = '';
      createConnection(sock)
        .on('data', (d) => (got += d.toString()))
        .on('end', () => resolve(got))
        .on('error', reject);
    });
    t.equal(said, 'hello from the socket\n', 'a client connects through the mount');
    t.equal(Number((await metadataOf('sock')).mode) & S_IFMT, S_IFSOCK, 'stored with its type');

    await chmod(fifo, 0o600);
    t.equal((await stat(fifo)).mode & S_IFMT, S_IFIFO, 'chmod keeps the type');
  });

  t.test('ENOTDIR for a path through a regular file', async (t) => {
    await writeFile(join(m.dir, 'plain'), 'x');
    await t.rejects(stat(join(m.dir, 'plain', 'child')), { code: 'ENOTDIR' }, 'stat');
    await t.rejects(writeFile(join(m.dir, 'plain', 'child'), 'y'), { code: 'ENOTDIR' }, 'create');
    await t.rejects(mkdir(join(m.dir, 'plain', 'child')), { code: 'ENOTDIR' }, 'mkdir');
  });

  t.test('inode numbers stay across rename', async (t) => {
    await writeFile(join(m.dir, 'before.txt'), 'moving');
    const ino = (await stat(join(m.dir, 'before.txt'))).ino;
    await rename(join(m.dir, 'before.txt'), join(m.dir, 'after.txt'));
    t.equal((await stat(join(m.dir, 'after.txt'))).ino, ino, 'a file keeps its inode number');
    await mkdir(join(m.dir, 'dir1'));
    await writeFile(join(m.dir, 'dir1', 'in.txt'), 'inside');
    const dino = (await stat(join(m.dir, 'dir1'))).ino;
    await rename(join(m.dir, 'dir1'), join(m.dir, 'dir2'));
    t.equal((await stat(join(m.dir, 'dir2'))).ino, dino, 'a directory keeps its inode number');
    t.equal(await readFile(join(m.dir, 'dir2', 'in.txt'), 'utf8'), 'inside', 'with its content');
  });

  t.test('times set on the mount root are accepted', async (t) => {
    const when = new Date('2024-05-06T07:08:09Z');
    await utimes(m.dir, when, when);
    t.equal((await stat(m.dir)).mtimeMs, when.getTime(), 'the root shows the time set');
    const r = await run('touch', [m.dir]);
    t.equal(r.code, 0, `touch on the root ${r.stderr}`);
  });

  t.test('--allow-other: the kernel checks permissions between users', async (t) => {
    if (!isRoot) {
      t.plan(0, 'another user needs root to switch to'); // skipped
      return;
    }
    await machineLock(); // may add a user: see test/fixtures/machine-lock.ts
    const ids = await exec('id', ['-u', TEST_USER]).catch(() => undefined);
    if (ids === undefined) {
      const r = await run('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER]);
      t.equal(r.code, 0, `useradd ${TEST_USER} ${r.stderr}`);
    }
    const uid = Number((await exec('id', ['-u', TEST_USER])).stdout.trim());
    const gid = Number((await exec('id', ['-g', TEST_USER])).stdout.trim());
    const shared = await mount(server, bucket, ['--allow-other']);
    t.teardown(() => shared.unmount());
    const secret = join(shared.dir, 'secret.txt');
    const fh = await open(secret, 'w', 0o600);
    await fh.writeFile('root only\n');
    await fh.close();
    await writeFile(join(shared.dir, 'public.txt'), 'for everyone\n', { mode: 0o644 });
    t.equal((await stat(secret)).mode & 0o777, 0o600, 'the secret file is 0600');
    const asUser = (args: string[]) =>
      run('setpriv', [
        `--reuid=${uid}`,
        `--regid=${gid}`,
        '--init-groups',
        '--',
        'env',
        '-u',
        'NODE_OPTIONS',
        ...args,
      ]);
    const denied = await asUser(['cat', secret]);
    t.not(denied.code, 0, 'another user cannot read a 0600 file');
    t.match(denied.stderr, /Permission denied/, 'EACCES');
    t.notMatch(denied.stdout, /root only/, 'and gets none of it');
    const allowed = await asUser(['cat', join(shared.dir, 'public.txt')]);
    t.equal(allowed.code, 0, `but can read a 0644 one ${allowed.stderr}`);
    t.equal(allowed.stdout, 'for everyone\n', 'its bytes');
    const write = await asUser(['sh', '-c', `echo x > ${join(shared.dir, 'public.txt')}`]);
    t.not(write.code, 0, 'and cannot write it (0644, owned by root)');
    // a directory everyone may write to: what a user makes there is theirs
    const drop = join(shared.dir, 'drop');
    await mkdir(drop);
    await chmod(drop, 0o1777);
    const mine = join(drop, 'mine.txt');
    const made = await asUser([
      'sh',
      '-c',
      `echo one > ${mine} && echo two >> ${mine} && stat -c '%u %g' ${mine}`,
    ]);
    t.equal(made.code, 0, `the user creates and appends to a file ${made.stderr}`);
    t.equal(made.stdout.trim(), `${uid} ${gid}`, 'it belongs to the user who made it');
    t.equal(await readFile(mine, 'utf8'), 'one\ntwo\n', 'with both writes');
  });
});
