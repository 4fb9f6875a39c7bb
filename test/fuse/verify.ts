// Integrity end to end on a real mount: files written through the mount (one PutObject,
// and a multipart upload sent while written) carry their SHA-256 in x-amz-meta-s3mount-sha256;
// `s3mount verify` (no endpoint, no keys: the daemon's control channel) says OK, MISMATCH
// for bytes changed behind the mount's back, NO-CHECKSUM for another client's object,
// STAGED for a file not uploaded; a wrong ETag or a damaged upload body fails close() and
// the file is uploaded intact later; a GET body cut short is an error, never a checksum
// result; the server refuses a body whose Content-MD5 does not match.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SdkObjectStore } from '../../src/s3/sdk-store.js';
import { startFaultProxy } from '../fixtures/fault-proxy.js';
import { eventually, fixedCredentials, getObjectOrUndefined, sha256 } from '../fixtures/helpers.js';
import { mount, runS3mountAsync } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const MiB = 1024 * 1024;
const CHECKSUM = 's3mount-sha256';

t.test(`integrity checks and s3mount verify on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'verify');
  const work = await mkdtemp(join(tmpdir(), 's3mount-verify-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const stateEnv = { XDG_STATE_HOME: join(work, 'state') };
  // the verify command is given no endpoint and no keys: it asks the mount's daemon
  const verify = (args: string[]) =>
    runS3mountAsync(['verify', ...args], { PATH: process.env.PATH ?? '/usr/bin:/bin', ...stateEnv });
  const proxy = await startFaultProxy(server.endpoint);
  t.teardown(() => proxy.close());
  const m = await mount(server, bucket, [], stateEnv, { endpoint: proxy.endpoint });
  t.teardown(() => m.unmount());
  const metadataOf = async (key: string) =>
    (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata ?? {};

  const small = randomBytes(100_000);
  const big = randomBytes(11 * MiB); // over the 8 MiB part size: parts go out while it is written
  await mkdir(join(m.dir, 'd', 'sub'), { recursive: true });
  await writeFile(join(m.dir, 'd', 'small.bin'), small);
  await writeFile(join(m.dir, 'd', 'sub', 'big.bin'), big);

  t.test('uploads store the SHA-256 in the metadata', async (t) => {
    t.equal((await metadataOf('d/small.bin'))[CHECKSUM], sha256(small), 'PutObject');
    t.equal((await metadataOf('d/sub/big.bin'))[CHECKSUM], sha256(big), 'multipart upload');
    t.equal(
      sha256((await getObjectOrUndefined(s3, bucket, 'd/sub/big.bin')) ?? Buffer.alloc(0)),
      sha256(big),
    );
  });

  t.test('verify: OK for each file, recursively', async (t) => {
    const r = await verify([join(m.dir, 'd')]);
    t.equal(r.status, 0, `exit 0: ${r.stderr}`);
    t.same(r.stdout.trim().split('\n').sort(), [
      `OK ${join(m.dir, 'd', 'small.bin')}`,
      `OK ${join(m.dir, 'd', 'sub', 'big.bin')}`,
    ]);
  });

  t.test('bytes changed behind the mount: MISMATCH, exit 1', async (t) => {
    const md = await metadataOf('d/small.bin');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'd/tampered.bin', Body: small, Metadata: md }));
    const other = Buffer.from(small);
    other[500] = (other[500] ?? 0) ^ 1;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'd/tampered.bin', Body: other, Metadata: md }));
    const r = await verify([join(m.dir, 'd', 'tampered.bin'), join(m.dir, 'd', 'small.bin')]);
    t.equal(r.status, 1, 'exit 1');
    t.match(
      r.stdout,
      new RegExp(
        `^MISMATCH ${join(m.dir, 'd', 'tampered.bin')} \\(stored sha256 ${sha256(small)}, read ${sha256(other)}\\)$`,
        'm',
      ),
    );
    t.match(r.stdout, new RegExp(`^OK ${join(m.dir, 'd', 'small.bin')}$`, 'm'));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'd/tampered.bin', Body: small, Metadata: md }));
  });

  t.test("another client's object: NO-CHECKSUM; a failure only with --require-checksum", async (t) => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'e/foreign.txt', Body: 'no metadata' }));
    const path = join(m.dir, 'e', 'foreign.txt');
    const r = await verify([path]);
    t.equal(r.status, 0, 'exit 0');
    t.equal(r.stdout, `NO-CHECKSUM ${path} (the object has no stored SHA-256)\n`);
    t.match(r.stderr, /--require-checksum/, 'a note says how to make it a failure');
    t.equal((await verify(['--require-checksum', path])).status, 1, 'exit 1 with --require-checksum');
  });

  t.test('a file not uploaded yet: STAGED, exit 1; verified once uploaded', async (t) => {
    proxy.inject({ kinds: ['PUT'], fault: { kind: 'status', status: 500 }, times: 1_000_000 });
    const path = join(m.dir, 'd', 'pending.bin');
    const data = randomBytes(30_000);
    await t.rejects(writeFile(path, data), { code: 'EIO' }, 'close reports the failed upload');
    const r = await verify([join(m.dir, 'd')]);
    t.equal(r.status, 1, 'exit 1');
    t.match(r.stdout, new RegExp(`^STAGED ${path} \\(`, 'm'));
    proxy.clear();
    t.ok(
      await eventually(async () => (await verify([path])).stdout === `OK ${path}\n`, 60_000, 500),
      'uploaded by the background retry, then OK',
    );
  });

  t.test(
    'a wrong ETag from the server fails the upload; it stays staged and is uploaded again',
    async (t) => {
      proxy.inject({ kinds: ['PUT'], fault: { kind: 'etag', etag: `"${'0'.repeat(32)}"` }, times: 1 });
      const path = join(m.dir, 'd', 'etag.bin');
      const data = randomBytes(40_000);
      await t.rejects(writeFile(path, data), { code: 'EIO' }, 'close reports the mismatch');
      t.ok(
        await eventually(async () => (await verify([path])).stdout === `OK ${path}\n`, 30_000, 500),
        'the background retry uploads it',
      );
      t.match(m.output(), /ETag/, 'the daemon logged why');
    },
  );

  t.test('a body damaged on the way to the server is never stored', async (t) => {
    proxy.inject({ kinds: ['PUT'], fault: { kind: 'corrupt-request' }, times: 1 });
    const path = join(m.dir, 'd', 'damaged.bin');
    const data = randomBytes(50_000);
    await t.rejects(writeFile(path, data), { code: 'EIO' }, 'close fails');
    t.ok(
      await eventually(async () => (await verify([path])).stdout === `OK ${path}\n`, 30_000, 500),
      'then the retry stores it intact',
    );
    t.equal(
      sha256((await getObjectOrUndefined(s3, bucket, 'd/damaged.bin')) ?? Buffer.alloc(0)),
      sha256(data),
    );
    t.equal(sha256(await readFile(path)), sha256(data), 'and the mount reads it');
  });

  t.test('a GET body cut short: an ERROR line, not a checksum result', async (t) => {
    proxy.inject({ kinds: ['GET'], fault: { kind: 'cut-body', afterBytes: 1000 }, times: 1 });
    const path = join(m.dir, 'd', 'sub', 'big.bin');
    const r = await verify([path]);
    t.equal(r.status, 1, 'exit 1');
    t.match(r.stdout, new RegExp(`^ERROR ${path}: `, 'm'));
    t.notMatch(r.stdout, /MISMATCH|OK /);
    t.equal((await verify([path])).stdout, `OK ${path}\n`, 'verified again: OK');
  });

  t.test('verify refuses paths outside mounts with one line', async (t) => {
    const r = await verify([work]);
    t.equal(r.status, 1);
    t.match(r.stderr, /is not in an s3mount mount of yours/);
  });

  // s3rver 3.7.1 does not check Content-MD5 (DEVELOPERS.md, known gaps): Ceph RGW only
  t.test(
    'the server refuses a body whose Content-MD5 does not match (the store sends it)',
    { skip: kind === 's3rver' && 's3rver does not check Content-MD5' },
    async (t) => {
      const store = new SdkObjectStore({
        bucket,
        endpoint: server.endpoint,
        region: server.region,
        pathStyle: true,
        credentials: fixedCredentials(server.accessKeyId, server.secretAccessKey),
        requestDeadlineMs: 30_000,
        connectTimeoutMs: 5000,
        maxSockets: 4,
        maxAttempts: 1,
      });
      t.teardown(() => store.destroy());
      const body = Buffer.from('the bytes sent');
      const wrong = createHash('md5').update('other bytes').digest();
      await t.rejects(
        store.put({ key: 'md5/put', body, contentLength: body.length, md5: wrong }),
        { name: 'StoreError', detail: { code: 'BadDigest' } },
        'PutObject: BadDigest',
      );
      t.equal(await getObjectOrUndefined(s3, bucket, 'md5/put'), undefined, 'nothing stored');
      const good = await store.put({ key: 'md5/put', body, contentLength: body.length });
      t.equal(
        good.etag,
        createHash('md5').update(body).digest('hex'),
        'the right one (computed by the store) is taken',
      );
      const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'md5/mp' }));
      t.teardown(() => store.abortMultipart('md5/mp', up.UploadId ?? '').catch(() => undefined));
      await t.rejects(
        store.uploadPart('md5/mp', up.UploadId ?? '', 1, body, body.length, wrong),
        { name: 'StoreError', detail: { code: 'BadDigest' } },
        'UploadPart: BadDigest',
      );
    },
  );
});
