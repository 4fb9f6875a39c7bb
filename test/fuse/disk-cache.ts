// The block cache on local disk (--cache-dir) on real mounts: a remount reads from it
// without S3 and byte-exact; an object replaced in S3 is never served from the old entry;
// a damaged entry is detected and fetched again; two mounts sharing one cache directory
// read correct bytes at the same time. Counts come from `s3mount status --json`.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { MountStatus } from '../../src/control/protocol.js';
import { sha256 } from '../fixtures/helpers.js';
import { mount, runAsync, runS3mountAsync, serverEnv } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const HEADER_BYTES = 64;

async function blockFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(dir, 'v1')))
    if (!d.startsWith('.'))
      for (const n of await readdir(join(dir, 'v1', d))) out.push(join(dir, 'v1', d, n));
  return out;
}

t.test(`disk cache on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'dcache');
  const work = await mkdtemp(join(tmpdir(), 's3mount-dcache-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const cacheDir = join(work, 'cache');
  const stateEnv = { XDG_STATE_HOME: join(work, 'state') };
  const env = serverEnv(server, stateEnv);
  const args = ['--cache-dir', cacheDir, '--block-size', '256K'];
  const put = (key: string, body: Buffer) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const status = async (dir: string) => {
    const r = await runS3mountAsync(['status', dir, '--json'], env);
    if (r.status !== 0) throw new Error(`status failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as MountStatus[])[0] as MountStatus;
  };
  /** mounts, reads `key`, returns its hash and the mount's status, unmounts */
  const readOnce = async (key: string) => {
    const m = await mount(server, bucket, args, stateEnv);
    try {
      const hash = sha256(await readFile(join(m.dir, key)));
      return { hash, st: await status(m.dir) };
    } finally {
      await m.unmount();
    }
  };

  const v1 = randomBytes(2 * 1024 * 1024 + 1000); // 9 blocks of 256 KiB
  await put('data/ref.bin', v1);

  t.test('a remount reads from the disk cache, not from S3', async (t) => {
    const first = await readOnce('data/ref.bin');
    t.equal(first.hash, sha256(v1), 'first read: the object');
    t.ok((first.st.s3.requests.GetObject ?? 0) >= 1, 'first read went to S3');
    t.equal(first.st.diskCache?.misses, 9, 'nine blocks missed the disk cache');
    t.equal((await blockFiles(cacheDir)).length, 9, 'and were stored there');

    const second = await readOnce('data/ref.bin');
    t.equal(second.hash, sha256(v1), 'after a remount: the same bytes');
    t.equal(second.st.s3.requests.GetObject ?? 0, 0, 'no GET');
    t.equal(second.st.s3.downloadedBytes, 0, 'nothing downloaded');
    t.equal(second.st.diskCache?.hits, 9, 'all nine blocks from disk');
    t.equal(second.st.diskCache?.dir, cacheDir, 'status names the directory');
  });

  t.test('an object replaced in S3 is read anew, never from the old entry', async (t) => {
    const v2 = randomBytes(v1.length);
    await put('data/ref.bin', v2);
    const r = await readOnce('data/ref.bin');
    t.equal(r.hash, sha256(v2), 'the new version');
    t.ok((r.st.s3.requests.GetObject ?? 0) >= 1, 'fetched from S3');
    t.equal(r.st.diskCache?.hits, 0, 'no block of the old version served');
    await put('data/ref.bin', v1); // back, for the next test: its blocks are still cached
  });

  t.test('a damaged block file is detected and fetched again', async (t) => {
    const files = await blockFiles(cacheDir);
    let damaged = 0;
    for (const f of files) {
      const b = await readFile(f);
      if (b.length < HEADER_BYTES + 100) continue;
      b[HEADER_BYTES + 50] = (b[HEADER_BYTES + 50] as number) ^ 0xff;
      await writeFile(f, b);
      damaged++;
    }
    t.ok(damaged >= 9, `damaged ${damaged} block files`);
    const r = await readOnce('data/ref.bin');
    t.equal(r.hash, sha256(v1), 'still the exact bytes');
    t.equal(r.st.diskCache?.corrupt, 9, 'the nine damaged blocks of this version were detected');
    t.ok((r.st.s3.requests.GetObject ?? 0) >= 1, 'and fetched from S3');
  });

  t.test('blocks that left memory are read from their block files by FUSE threads, byte-exact', async (t) => {
    if (process.env.S3_TEST_NATIVE === '0') {
      t.plan(0, 'the FUSE threads read block files only with the native fast paths'); // skipped
      return;
    }
    // four blocks in memory, nine in the object: after one whole read (from the disk
    // cache, checked), blocks 0-4 are only on disk
    const m = await mount(server, bucket, [...args, '--cache-size', '1M'], stateEnv);
    t.teardown(() => m.unmount());
    const path = join(m.dir, 'data/ref.bin');
    t.equal(sha256(await readFile(path)), sha256(v1), 'first read: the object');
    const before = await status(m.dir);
    t.ok((before.diskCache?.mappedFiles ?? 0) >= 5, `${before.diskCache?.mappedFiles} block files open`);
    // drop the kernel's copy of the file, so that the reads reach the mount again
    const again = await runAsync(
      'python3',
      [
        '-c',
        [
          'import hashlib, os, sys',
          'fd = os.open(sys.argv[1], os.O_RDONLY)',
          'os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)',
          'h = hashlib.sha256()',
          'while True:',
          '    b = os.read(fd, 131072)',
          '    if not b: break',
          '    h.update(b)',
          'print(h.hexdigest())',
        ].join('\n'),
        path,
      ],
      env,
    );
    t.equal(again.stdout.trim(), sha256(v1), 'read again: the same bytes');
    const after = await status(m.dir);
    t.ok(
      (after.diskCache?.fileReads ?? 0) > (before.diskCache?.fileReads ?? 0),
      `reads answered from block files: ${before.diskCache?.fileReads} before, ${after.diskCache?.fileReads} after`,
    );
    t.equal(after.s3.requests.GetObject ?? 0, 0, 'no GET: the blocks came from disk');
  });

  t.test('two mounts sharing the cache directory read correct bytes at once', async (t) => {
    const objects = Array.from({ length: 4 }, () =>
      randomBytes(700_000 + Math.floor(Math.random() * 300_000)),
    );
    await Promise.all(objects.map((o, i) => put(`shared/f${i}.bin`, o)));
    const a = await mount(server, bucket, args, stateEnv);
    t.teardown(() => a.unmount());
    const b = await mount(server, bucket, args, stateEnv);
    t.teardown(() => b.unmount());
    for (let round = 0; round < 3; round++) {
      const reads = await Promise.all(
        [a, b].flatMap((m) => objects.map((_, i) => readFile(join(m.dir, 'shared', `f${i}.bin`)))),
      );
      reads.forEach((got, j) =>
        t.equal(sha256(got), sha256(objects[j % objects.length] as Buffer), `round ${round}, read ${j}`),
      );
    }
    const [sa, sb] = [await status(a.dir), await status(b.dir)];
    t.equal((sa.diskCache?.corrupt ?? 0) + (sb.diskCache?.corrupt ?? 0), 0, 'no damaged entry seen');
    t.same(
      (await readdir(join(cacheDir, 'v1'))).filter((n) => n.startsWith('.tmp')),
      [],
      'no temporary file left',
    );
  });
});
