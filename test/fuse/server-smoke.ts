// Smoke test of the test-server fixtures (test/fixtures/servers.ts): the server
// chosen by S3_TEST_SERVER starts, and a bucket, an object, a listing, a whole
// and a ranged read, and the clean-up all work with the AWS SDK.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import {
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import {
  createTestBucket,
  emptyAndDeleteBucket,
  makeS3Client,
  serverKindFromEnv,
  startServer,
} from '../fixtures/servers.js';
import { sha256 } from '../fixtures/helpers.js';

const kind = serverKindFromEnv();

t.test(`S3 test server '${kind}'`, async (t) => {
  const server = await startServer(kind);
  const s3 = makeS3Client(server);
  let bucket: string | undefined;
  let bucketDeleted = false;
  // one teardown, so that the server stops even if the bucket clean-up fails
  // (tap stops running teardowns at the first that rejects)
  t.teardown(async () => {
    try {
      if (bucket !== undefined && !bucketDeleted) await emptyAndDeleteBucket(server, bucket);
    } finally {
      s3.destroy();
      await server.stop();
    }
  });

  t.equal(server.kind, kind, 'server is of the requested kind');
  t.match(server.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/, 'endpoint is on loopback');

  bucket = await createTestBucket(server, 'Smoke_Test.');
  t.match(bucket, /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'bucket name is valid');
  t.ok(bucket.startsWith('smoke-test-'), 'bucket name starts with the cleaned prefix');
  await t.resolves(s3.send(new HeadBucketCommand({ Bucket: bucket })), 'bucket exists');

  const key = 'dir/sub/data.bin';
  const data = randomBytes(5 * 1024 + 123);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }));

  const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  t.same(
    (list.Contents ?? []).map((o) => [o.Key, o.Size]),
    [[key, data.length]],
    'listing shows exactly the object, with its size',
  );

  const whole = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const got = await whole.Body?.transformToByteArray();
  t.ok(got, 'GetObject has a body');
  t.equal(got?.length, data.length, 'whole read has the full length');
  t.equal(sha256(got ?? new Uint8Array()), sha256(data), 'whole read has the same sha256');

  const ranged = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=10-99' }));
  const part = await ranged.Body?.transformToByteArray();
  t.equal(part?.length, 90, 'ranged read has 90 bytes');
  t.equal(
    Buffer.from(part ?? new Uint8Array()).equals(data.subarray(10, 100)),
    true,
    'ranged read has bytes 10..99',
  );
  t.equal(ranged.ContentRange, `bytes 10-99/${data.length}`, 'Content-Range of the ranged read');

  await emptyAndDeleteBucket(server, bucket);
  bucketDeleted = true;
  await t.rejects(
    s3.send(new HeadBucketCommand({ Bucket: bucket })),
    'bucket is gone after emptyAndDeleteBucket',
  );
  await t.resolves(
    emptyAndDeleteBucket(server, bucket),
    'emptyAndDeleteBucket of a bucket already gone does not throw',
  );
});
