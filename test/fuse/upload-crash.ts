// A daemon killed in the middle of a multipart upload leaks nothing: the next mount
// uploads the staged data and aborts every multipart upload the dead daemon had started
// (their parts would otherwise keep their storage forever). Killed while writing and
// while closing; the network is held still with a loopback proxy for the latter.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { eventually, getObjectOrUndefined, sha256, stagedData } from '../fixtures/helpers.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount, type Mounted } from '../fixtures/mount.js';
import { startProxy } from '../fixtures/proxy.js';

const kind = serverKindFromEnv();
const MiB = 1024 * 1024;
/** RGW's smallest part (all but the last); the mount uses it as its part size */
const PART = 5 * MiB;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** s3rver 3.7.1 answers ListMultipartUploads with 501 (and AbortMultipartUpload with 405) */
const canListUploads = kind !== 's3rver';

/** Multipart uploads in progress in the bucket (where the server can list them). */
async function uploadsInProgress(s3: S3Client, Bucket: string): Promise<string[]> {
  const r = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
  return (r.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`);
}

/** On a server that can list them, waits until no multipart upload is in progress. */
async function noUploadsLeft(
  t: { ok(v: unknown, msg: string): unknown },
  s3: S3Client,
  Bucket: string,
): Promise<void> {
  if (!canListUploads) return;
  const left = await eventually(async () => (await uploadsInProgress(s3, Bucket)).length === 0, 30_000);
  t.ok(left, `no multipart upload left in progress ${(await uploadsInProgress(s3, Bucket)).join(', ')}`);
}

/** SIGKILL, as a crash or the OOM killer would; the dead mount is detached by hand. */
async function kill(m: Mounted): Promise<void> {
  const exited =
    m.child.exitCode !== null || m.child.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => m.child.once('exit', r));
  m.child.kill('SIGKILL');
  await exited;
  spawnSync('fusermount', ['-uz', m.dir]);
}

t.test(`a daemon killed during a multipart upload, on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'crash');
  const proxy = await startProxy(server.endpoint);
  t.teardown(() => proxy.close());
  // the remount must reach the same endpoint (the staging directory is named after it)
  const args = ['--part-size', '5M'];
  const at = { endpoint: proxy.endpoint };
  /** a remount with the dead daemon's staging uploads `key` intact, aborts its upload, stages nothing */
  const remountUploads = async (t: Test, staging: string, key: string, data: Buffer) => {
    const m2 = await mount(server, bucket, args, {}, { ...at, stagingDir: staging });
    t.teardown(() => m2.unmount());
    t.ok(
      await eventually(
        async () => sha256((await getObjectOrUndefined(s3, bucket, key)) ?? Buffer.alloc(0)) === sha256(data),
        60_000,
      ),
      'the remount uploaded the staged data intact',
    );
    // s3rver can neither list nor abort uploads (501, 405): there the log shows the attempt
    t.match(
      m2.output(),
      /aborting a multipart upload left unfinished/,
      "the remount aborts the dead daemon's upload",
    );
    await noUploadsLeft(t, s3, bucket);
    await m2.unmount();
    t.same(await stagedData(staging), [], 'nothing left staged');
  };

  t.test('killed while the file is written (parts already sent)', async (t) => {
    const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
    t.teardown(() => rm(staging, { recursive: true, force: true }));
    const m = await mount(server, bucket, args, {}, { ...at, stagingDir: staging });
    t.teardown(() => m.unmount());
    const data = randomBytes(2 * PART + 2 * MiB); // two full parts go out while it is written
    const fh = await open(join(m.dir, 'killed-writing.bin'), 'w');
    for (let off = 0; off < data.length; off += MiB) await fh.write(data, off, MiB, off);
    if (canListUploads)
      t.ok(
        await eventually(async () => (await uploadsInProgress(s3, bucket)).length > 0, 10_000),
        'a multipart upload is in progress',
      );
    await sleep(1000); // let the parts arrive
    await kill(m);
    await fh.close().catch(() => undefined); // the mount is gone: nothing to close
    const staged = await stagedData(staging);
    t.ok(
      staged.some((b) => sha256(b) === sha256(data)),
      'every byte written is staged',
    );

    await remountUploads(t, staging, 'killed-writing.bin', data);
  });

  t.test('killed while close() uploads the last part', async (t) => {
    const staging = await mkdtemp(join(tmpdir(), 's3mount-staging-'));
    t.teardown(() => rm(staging, { recursive: true, force: true }));
    t.teardown(() => proxy.resume());
    const m = await mount(server, bucket, args, {}, { ...at, stagingDir: staging });
    t.teardown(() => m.unmount());
    const data = randomBytes(3 * PART); // parts 1-2 go out while written, part 3 at close
    const fh = await open(join(m.dir, 'killed-closing.bin'), 'w');
    for (let off = 0; off < data.length; off += MiB) await fh.write(data, off, MiB, off);
    if (canListUploads)
      await eventually(async () => (await uploadsInProgress(s3, bucket)).length > 0, 10_000);
    await sleep(1000); // parts 1-2 are sent
    proxy.stall(); // the last part and the completion hang on the way
    const closing = fh.close().then(
      () => 'closed',
      (err: NodeJS.ErrnoException) => err.code ?? 'failed',
    );
    // the SDK sends a part's headers with "Expect: 100-continue" and its body only after
    // the answer: held bytes show the request went out, not how much of the part did
    t.ok(await eventually(async () => proxy.heldBytes() > 0, 10_000), 'close() is sending the last part');
    await kill(m);
    t.not(await closing, 'closed', 'close() did not complete');
    proxy.resume();
    t.equal(
      await getObjectOrUndefined(s3, bucket, 'killed-closing.bin'),
      undefined,
      'not in S3 before the remount',
    );
    t.ok(
      (await stagedData(staging)).some((b) => sha256(b) === sha256(data)),
      'the file is staged',
    );

    await remountUploads(t, staging, 'killed-closing.bin', data);
  });
});
