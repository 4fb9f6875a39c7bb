// The native fast paths (native/fuse-native/s3mount-fast.h), end to end: reads FUSE threads
// answer from the block arena, and getattr answered from what a readdir listed. They must
// return exactly what the slow path would, and never anything stale after a change made
// through the mount. Runs against the server named by S3_TEST_SERVER (rgw | s3rver).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFile,
  chmod,
  open,
  readFile,
  rename,
  stat,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount, NATIVE } from '../fixtures/mount.js';
import { sha256 } from '../fixtures/helpers.js';

const kind = serverKindFromEnv();
const MiB = 1024 * 1024;
/**
 * Makes the kernel forget dentries and inodes (its own attribute cache), so that the next
 * stat is a FUSE LOOKUP, which the native attribute cache answers if it has the name.
 */
async function forgetKernelCache(): Promise<void> {
  await writeFile('/proc/sys/vm/drop_caches', '2');
}

t.test(`native fast paths on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'fast');
  const put = (Key: string, Body: Buffer | string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
  const data = randomBytes(12 * MiB + 777);
  await put('data.bin', data);
  await put('dir/x.txt', '0123456789');
  await put('dir/other.txt', 'other\n');

  const m = await mount(server, bucket);
  t.teardown(() => m.unmount());
  const p = (rel: string) => join(m.dir, rel);

  t.test('reads served from cached blocks are byte-exact', async (t) => {
    t.equal(sha256(await readFile(p('data.bin'))), sha256(data), 'first read (fetching)');
    t.equal(sha256(await readFile(p('data.bin'))), sha256(data), 'second read (from the arena)');
    const fh = await open(p('data.bin'), 'r');
    try {
      for (const [off, len] of [
        [0, 1],
        [262143, 2],
        [5 * MiB + 3, 300000],
        [12 * MiB, 777],
        [12 * MiB + 700, 4096],
      ] as const) {
        const buf = Buffer.alloc(len);
        const { bytesRead } = await fh.read(buf, 0, len, off);
        t.equal(bytesRead, Math.min(len, data.length - off), `count at ${off}`);
        t.ok(buf.subarray(0, bytesRead).equals(data.subarray(off, off + bytesRead)), `bytes at ${off}`);
      }
    } finally {
      await fh.close();
    }
    const all = await Promise.all(Array.from({ length: 4 }, () => readFile(p('data.bin'))));
    for (const [i, b] of all.entries()) t.equal(sha256(b), sha256(data), `concurrent reader ${i}`);
  });

  t.test('stat after a change through the mount is never the listed (stale) one', async (t) => {
    const ls = (): void => void execFileSync('ls', ['-l', p('dir')]);
    const fresh = async (rel: string) => {
      await forgetKernelCache();
      return stat(p(rel));
    };
    ls(); // lists dir: its entries' attributes are cached natively
    t.equal((await fresh('dir/x.txt')).size, 10, 'listed size');
    await appendFile(p('dir/x.txt'), 'abc');
    t.equal((await fresh('dir/x.txt')).size, 13, 'size right after an append');
    ls();
    await truncate(p('dir/x.txt'), 4);
    t.equal((await fresh('dir/x.txt')).size, 4, 'size right after truncate');
    ls();
    await chmod(p('dir/x.txt'), 0o600);
    t.equal((await fresh('dir/x.txt')).mode & 0o777, 0o600, 'mode right after chmod');
    ls();
    await rename(p('dir/x.txt'), p('dir/y.txt'));
    await t.rejects(fresh('dir/x.txt'), { code: 'ENOENT' }, 'old name gone right after rename');
    t.equal((await fresh('dir/y.txt')).size, 4, 'new name has the size');
    ls();
    await unlink(p('dir/y.txt'));
    await t.rejects(fresh('dir/y.txt'), { code: 'ENOENT' }, 'gone right after unlink');
    ls();
    await writeFile(p('dir/other.txt'), 'longer content\n');
    t.equal((await fresh('dir/other.txt')).size, 15, 'size right after an overwrite');
    await forgetKernelCache();
    const listing = execFileSync('ls', ['-l', p('dir')], { encoding: 'utf8' });
    t.match(listing, /^-rw-r--r-- 1 \S+ \S+\s+15 .* other\.txt$/m, 'ls -l agrees');
    t.notMatch(listing, /[xy]\.txt/, 'ls -l shows no removed name');
  });

  t.test('a read that finds the object changed in S3 drops the listed attributes', async (t) => {
    await put('ext/ext.txt', 'version one\n');
    execFileSync('ls', ['-l', p('ext')]); // lists ext/: ext.txt's size 12 is cached natively
    const fh = await open(p('ext/ext.txt'), 'r'); // pinned to the listed version
    try {
      await put('ext/ext.txt', 'version two, longer\n'); // changed by another client
      await forgetKernelCache();
      t.equal((await stat(p('ext/ext.txt'))).size, 12, 'the listing answers within --metadata-ttl');
      await t.rejects(fh.read(Buffer.alloc(100), 0, 100, 0), 'the read of the old version fails');
      // still open: no op that changes anything has run since the listing
      await forgetKernelCache();
      t.equal((await stat(p('ext/ext.txt'))).size, 20, 'stat sees the new size at once, not the listed one');
    } finally {
      await fh.close();
    }
    t.equal(
      await readFile(p('ext/ext.txt'), 'utf8'),
      'version two, longer\n',
      'a new open reads the new version',
    );
  });

  t.test('writes done by FUSE threads: sizes seen while writing, bytes in S3 exact', async (t) => {
    const body = randomBytes(10 * MiB + 12345);
    const fh = await open(p('dir/written.bin'), 'w');
    try {
      const chunk = 128 * 1024;
      for (let off = 0; off < body.length; off += chunk) {
        await fh.write(body, off, Math.min(chunk, body.length - off), off);
        if (off === 4 * MiB) {
          // a second open reads through JavaScript (the staged copy), which must take in
          // the size and bytes that FUSE threads wrote without it
          const sofar = await readFile(p('dir/written.bin'));
          t.equal(sofar.length, off + chunk, 'a reader while writing sees the size so far');
          t.ok(sofar.equals(body.subarray(0, off + chunk)), 'and the bytes');
        }
      }
      t.equal((await fh.stat()).size, body.length, 'fstat before close');
    } finally {
      await fh.close();
    }
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/written.bin' }));
    const bytes = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    t.equal(sha256(bytes), sha256(body), 'the object in S3 is what was written');
    await forgetKernelCache();
    t.equal((await stat(p('dir/written.bin'))).size, body.length, 'stat after close');
  });

  t.test('the daemon reports reads and writes done by FUSE threads', async (t) => {
    await m.unmount();
    // with --no-native (S3_TEST_NATIVE=0) every read and write went through JavaScript:
    // the results above must be the same, but there are no FUSE-thread counts to check
    if (!NATIVE) {
      t.notMatch(m.output(), /"fastReads"/, '--no-native: no fast-path counters');
      return;
    }
    const served = Number(/"fastReads":(\d+)/.exec(m.output())?.[1] ?? 0);
    t.ok(served > 0, `FUSE threads answered ${served} reads without JavaScript`);
    const written = Number(/"fastWrites":(\d+)/.exec(m.output())?.[1] ?? 0);
    t.ok(written >= 80, `FUSE threads did ${written} writes without JavaScript`);
  });
});

t.test(`overwriting an object does not download it first on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'otrunc');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'old.bin', Body: randomBytes(3 * MiB) }));
  const m = await mount(server, bucket);
  t.teardown(() => m.unmount());
  await writeFile(join(m.dir, 'old.bin'), 'new content\n'); // open(O_WRONLY|O_CREAT|O_TRUNC)
  await m.unmount();
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'old.bin' }));
  t.equal(
    await (got.Body as { transformToString(): Promise<string> }).transformToString(),
    'new content\n',
    'the object has the new content',
  );
  const requests = /"requests":\{([^}]*)\}/.exec(m.output())?.[1] ?? '';
  t.match(requests, /PutObject/, 'the exit log lists the requests sent');
  t.notMatch(requests, /GetObject/, 'no GET of the old content: the kernel passes O_TRUNC to open');
});
