// Nothing written is lost: an upload that fails at close is reported, stays staged and
// is retried; a daemon killed with staged data uploads it at the next mount; write-back
// mounts drain their uploads before exiting. The network is cut with a loopback proxy.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount } from '../fixtures/mount.js';
import { startProxy } from '../fixtures/proxy.js';

const kind = serverKindFromEnv();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function getOrUndefined(s3: S3Client, Bucket: string, Key: string): Promise<Buffer | undefined> {
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket, Key }));
    return Buffer.from(await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  } catch {
    return undefined; // not there (yet)
  }
}

/** Polls S3 until the object has the expected content (uploads are retried with backoff). */
async function eventually(s3: S3Client, Bucket: string, Key: string, want: Buffer, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const got = await getOrUndefined(s3, Bucket, Key);
    if (got && sha(got) === sha(want)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function stagedData(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const sub of await readdir(dir).catch(() => [] as string[])) {
    for (const f of await readdir(join(dir, sub)).catch(() => [] as string[])) {
      if (f.endsWith('.data')) out.push(await readFile(join(dir, sub, f)));
    }
  }
  return out;
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
    t.ok(staged.some((b) => sha(b) === sha(data)), 'the data is still staged on local disk');
    t.equal(await getOrUndefined(s3, bucket, 'during-outage.bin'), undefined, 'not in S3 yet');
    await proxy.up();
    t.ok(await eventually(s3, bucket, 'during-outage.bin', data), 'uploaded by a retry once S3 is back');
    const deadline = Date.now() + 10_000;
    while ((await stagedData(staging)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
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
    t.ok(await eventually(s3, bucket, 'big-during-outage.bin', data), 'the whole file arrives by a retry');
  });

  t.test('truncate and chmod by path of a file whose upload waits for its retry: uploaded at once', async (t) => {
    const m = await mount(server, bucket, quick, {}, { endpoint: proxy.endpoint });
    t.teardown(() => m.unmount());
    const data = randomBytes(100_000);
    const fhs = await Promise.all(['pending-trunc.bin', 'pending-mode.bin'].map((n) => open(join(m.dir, n), 'w')));
    await proxy.down();
    for (const fh of fhs) {
      await fh.write(data);
      await t.rejects(fh.close(), { code: 'EIO' }, 'close reports the failed upload');
    }
    await proxy.up();
    // no process has them open: the change is uploaded like a close, not left to the retry.
    // truncate(2) by path (Node's fs.truncate and coreutils' truncate open the file
    // instead); not execFileSync: the proxy runs in this process
    await promisify(execFile)('python3', ['-c', 'import os, sys; os.truncate(sys.argv[1], 10)', join(m.dir, 'pending-trunc.bin')]);
    t.equal(sha((await getOrUndefined(s3, bucket, 'pending-trunc.bin')) ?? Buffer.alloc(1)), sha(data.subarray(0, 10)), 'S3 has the truncated file when truncate returns');
    await chmod(join(m.dir, 'pending-mode.bin'), 0o600);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'pending-mode.bin' })).catch(() => undefined);
    t.equal(Number(head?.Metadata?.mode ?? 0) & 0o7777, 0o600, 'S3 has the new mode when chmod returns');
    t.equal(sha((await getOrUndefined(s3, bucket, 'pending-mode.bin')) ?? Buffer.alloc(0)), sha(data), 'with the data');
  });

  t.test('daemon killed with staged data: the next mount uploads it', async (t) => {
    const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
    t.teardown(() => rm(staging, { recursive: true, force: true }));
    const m = await mount(server, bucket, [...quick, '--write-back'], {}, { endpoint: proxy.endpoint, stagingDir: staging });
    t.teardown(() => m.unmount());
    const data = randomBytes(200_000);
    const fh = await open(join(m.dir, 'survives-kill.bin'), 'w'); // the name lookup needs S3
    await proxy.down();
    await fh.write(data);
    await fh.close(); // write-back: returns once staged; the upload fails in the background
    m.child.kill('SIGKILL');
    await new Promise((r) => m.child.once('exit', r));
    spawnSync('fusermount', ['-uz', m.dir]);
    t.ok((await stagedData(staging)).some((b) => sha(b) === sha(data)), 'staged data outlived the daemon');
    await proxy.up();
    t.equal(await getOrUndefined(s3, bucket, 'survives-kill.bin'), undefined, 'not in S3 before the remount');
    const m2 = await mount(server, bucket, quick, {}, { endpoint: proxy.endpoint, stagingDir: staging });
    t.teardown(() => m2.unmount());
    t.ok(await eventually(s3, bucket, 'survives-kill.bin', data), 'the remount uploaded it');
  });

  t.test('write-back: close returns at once, unmount waits for the uploads', async (t) => {
    const m = await mount(server, bucket, ['--write-back'], {});
    t.teardown(() => m.unmount());
    const files = Array.from({ length: 20 }, (_, i) => ({ name: `wb-${i}.bin`, data: randomBytes(50_000 + i) }));
    for (const f of files) await writeFile(join(m.dir, f.name), f.data);
    const fh = await open(join(m.dir, 'wb-fsync.bin'), 'w');
    const synced = randomBytes(70_000);
    await fh.write(synced);
    await fh.sync();
    t.ok(await getOrUndefined(s3, bucket, 'wb-fsync.bin').then((b) => b !== undefined && sha(b) === sha(synced)), 'fsync returns once S3 has the data');
    await fh.close();
    spawnSync('fusermount', ['-u', m.dir]);
    const code = await new Promise((r) => (m.child.exitCode !== null ? r(m.child.exitCode) : m.child.once('exit', r)));
    t.equal(code, 0, 'daemon exits 0 after draining');
    for (const f of files) t.equal(sha((await getOrUndefined(s3, bucket, f.name)) ?? Buffer.alloc(0)), sha(f.data), `${f.name} is in S3 when the daemon is gone`);
  });
});
