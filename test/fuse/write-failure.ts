// Nothing written is lost: an upload that fails at close is reported, stays staged and
// is retried; a daemon killed with staged data uploads it at the next mount; write-back
// mounts drain their uploads before exiting. The network is cut with a loopback proxy.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { eventually, getObjectOrUndefined, sha256, stagedData } from '../fixtures/helpers.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount } from '../fixtures/mount.js';
import { startProxy } from '../fixtures/proxy.js';

const kind = serverKindFromEnv();

/** Polls S3 until the object has the expected content (uploads are retried with backoff). */
function arrives(
  s3: S3Client,
  bucket: string,
  key: string,
  want: Buffer,
  timeoutMs = 60_000,
): Promise<boolean> {
  return eventually(
    async () => {
      const got = await getObjectOrUndefined(s3, bucket, key);
      return got !== undefined && sha256(got) === sha256(want);
    },
    timeoutMs,
    250,
  );
}

t.test(`write failures on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'fail');
  const proxy = await startProxy(server.endpoint);
  t.teardown(() => proxy.close());
  // fail fast while the network is down: short deadlines, no long SDK retries
  const quick = ['--request-timeout', '5', '--connect-timeout', '2'];

  t.test('S3 unreachable at close: close fails, the file stays staged, then arrives', async (t) => {
    const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
    t.teardown(() => rm(staging, { recursive: true, force: true }));
    const m = await mount(server, bucket, quick, {}, { endpoint: proxy.endpoint, stagingDir: staging });
    t.teardown(() => m.unmount());
    const data = randomBytes(300_000);
    const fh = await open(join(m.dir, 'during-outage.bin'), 'w');
    await fh.write(data);
    await proxy.down();
    await t.rejects(fh.close(), { code: 'EIO' }, 'close reports the failed upload');
    const staged = await stagedData(staging);
    t.ok(
      staged.some((b) => sha256(b) === sha256(data)),
      'the data is still staged on local disk',
    );
    t.equal(await getObjectOrUndefined(s3, bucket, 'during-outage.bin'), undefined, 'not in S3 yet');
    await proxy.up();
    t.ok(await arrives(s3, bucket, 'during-outage.bin', data), 'uploaded by a retry once S3 is back');
    await eventually(async () => (await stagedData(staging)).length === 0, 10_000, 100);
    t.same(await stagedData(staging), [], 'and then removed from the staging directory');
  });

  t.test('S3 lost in the middle of a large sequential write (parts already going out)', async (t) => {
    const m = await mount(server, bucket, [...quick, '--part-size', '5M'], {}, { endpoint: proxy.endpoint });
    t.teardown(() => m.unmount());
    const data = randomBytes(23 * 1024 * 1024);
    const fh = await open(join(m.dir, 'big-during-outage.bin'), 'w');
    await fh.write(data, 0, 12 * 1024 * 1024, 0); // two parts fill up and go out
    await new Promise((r) => setTimeout(r, 300));
    await proxy.down();
    await fh.write(data, 12 * 1024 * 1024, data.length - 12 * 1024 * 1024, 12 * 1024 * 1024);
    await t.rejects(fh.close(), { code: 'EIO' }, 'close reports the failed upload');
    await proxy.up();
    t.ok(await arrives(s3, bucket, 'big-during-outage.bin', data), 'the whole file arrives by a retry');
  });

  t.test(
    'truncate and chmod by path of a file whose upload waits for its retry: uploaded at once',
    async (t) => {
      const m = await mount(server, bucket, quick, {}, { endpoint: proxy.endpoint });
      t.teardown(() => m.unmount());
      const data = randomBytes(100_000);
      const fhs = await Promise.all(
        ['pending-trunc.bin', 'pending-mode.bin'].map((n) => open(join(m.dir, n), 'w')),
      );
      await proxy.down();
      for (const fh of fhs) {
        await fh.write(data);
        await t.rejects(fh.close(), { code: 'EIO' }, 'close reports the failed upload');
      }
      await proxy.up();
      // no process has them open: the change is uploaded like a close, not left to the retry.
      // truncate(2) by path (Node's fs.truncate and coreutils' truncate open the file
      // instead); not execFileSync: the proxy runs in this process
      await promisify(execFile)('python3', [
        '-c',
        'import os, sys; os.truncate(sys.argv[1], 10)',
        join(m.dir, 'pending-trunc.bin'),
      ]);
      t.equal(
        sha256((await getObjectOrUndefined(s3, bucket, 'pending-trunc.bin')) ?? Buffer.alloc(1)),
        sha256(data.subarray(0, 10)),
        'S3 has the truncated file when truncate returns',
      );
      await chmod(join(m.dir, 'pending-mode.bin'), 0o600);
      const head = await s3
        .send(new HeadObjectCommand({ Bucket: bucket, Key: 'pending-mode.bin' }))
        .catch(() => undefined);
      t.equal(Number(head?.Metadata?.mode ?? 0) & 0o7777, 0o600, 'S3 has the new mode when chmod returns');
      t.equal(
        sha256((await getObjectOrUndefined(s3, bucket, 'pending-mode.bin')) ?? Buffer.alloc(0)),
        sha256(data),
        'with the data',
      );
    },
  );

  t.test('daemon killed with staged data: the next mount uploads it', async (t) => {
    const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
    t.teardown(() => rm(staging, { recursive: true, force: true }));
    const m = await mount(
      server,
      bucket,
      [...quick, '--write-back'],
      {},
      { endpoint: proxy.endpoint, stagingDir: staging },
    );
    t.teardown(() => m.unmount());
    const data = randomBytes(200_000);
    const fh = await open(join(m.dir, 'survives-kill.bin'), 'w'); // the name lookup needs S3
    await proxy.down();
    await fh.write(data);
    await fh.close(); // write-back: returns once staged; the upload fails in the background
    m.child.kill('SIGKILL');
    await new Promise((r) => m.child.once('exit', r));
    spawnSync('fusermount', ['-uz', m.dir]);
    t.ok(
      (await stagedData(staging)).some((b) => sha256(b) === sha256(data)),
      'staged data outlived the daemon',
    );
    await proxy.up();
    t.equal(
      await getObjectOrUndefined(s3, bucket, 'survives-kill.bin'),
      undefined,
      'not in S3 before the remount',
    );
    const m2 = await mount(server, bucket, quick, {}, { endpoint: proxy.endpoint, stagingDir: staging });
    t.teardown(() => m2.unmount());
    t.ok(await arrives(s3, bucket, 'survives-kill.bin', data), 'the remount uploaded it');
  });

  t.test('write-back: close returns at once, unmount waits for the uploads', async (t) => {
    const m = await mount(server, bucket, ['--write-back'], {});
    t.teardown(() => m.unmount());
    const files = Array.from({ length: 20 }, (_, i) => ({
      name: `wb-${i}.bin`,
      data: randomBytes(50_000 + i),
    }));
    for (const f of files) await writeFile(join(m.dir, f.name), f.data);
    const fh = await open(join(m.dir, 'wb-fsync.bin'), 'w');
    const synced = randomBytes(70_000);
    await fh.write(synced);
    await fh.sync();
    t.ok(
      await getObjectOrUndefined(s3, bucket, 'wb-fsync.bin').then(
        (b) => b !== undefined && sha256(b) === sha256(synced),
      ),
      'fsync returns once S3 has the data',
    );
    await fh.close();
    spawnSync('fusermount', ['-u', m.dir]);
    const code = await new Promise((r) =>
      m.child.exitCode !== null ? r(m.child.exitCode) : m.child.once('exit', r),
    );
    t.equal(code, 0, 'daemon exits 0 after draining');
    for (const f of files)
      t.equal(
        sha256((await getObjectOrUndefined(s3, bucket, f.name)) ?? Buffer.alloc(0)),
        sha256(f.data),
        `${f.name} is in S3 when the daemon is gone`,
      );
  });
});
