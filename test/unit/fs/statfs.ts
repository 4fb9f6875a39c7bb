// df's numbers: RGW's HeadBucket headers parsed, usage turned into 32-bit statfs fields,
// quotas as the size, and the cache (TTL, failures keep the last answer).
import t from 'tap';
import { LARGE_STATFS, StatfsCache, statfsFromUsage } from '../../../src/fs/statfs.js';
import { nullLogger } from '../../../src/log/logger.js';
import { parseRgwUsage, sumUsage, type BucketUsage } from '../../../src/s3/bucket-usage.js';
import { ManualClock } from '../../../src/util/clock.js';

const MiB = 1024 * 1024;

t.test('parseRgwUsage', async (t) => {
  const rgw = {
    'x-rgw-object-count': '3',
    'x-rgw-bytes-used': '12345',
    'x-rgw-quota-user-size': '-1',
    'x-rgw-quota-user-objects': '-1',
    'x-rgw-quota-bucket-size': '-1',
    'x-rgw-quota-bucket-objects': '-1',
  };
  t.same(parseRgwUsage(rgw), { bytesUsed: 12345, objectCount: 3 }, 'no quota: -1');
  t.same(
    parseRgwUsage({ ...rgw, 'x-rgw-quota-bucket-size': '1048576', 'x-rgw-quota-user-size': '524288' }),
    { bytesUsed: 12345, objectCount: 3, quotaBytes: 524288, userQuotaBytes: 524288 },
    'the smaller quota applies',
  );
  t.same(parseRgwUsage({ ...rgw, 'x-rgw-quota-bucket-objects': '10' })?.quotaObjects, 10);
  t.equal(parseRgwUsage({ 'content-length': '0' }), undefined, 'no headers: not known');
  t.equal(parseRgwUsage({ ...rgw, 'x-rgw-bytes-used': 'lots' }), undefined, 'not a number: not known');
});

t.test('sumUsage: a whole-account mount adds its buckets up', async (t) => {
  t.equal(sumUsage([]), undefined, 'no buckets: not known');
  t.equal(sumUsage([undefined, undefined]), undefined, 'no bucket told: not known');
  t.same(
    sumUsage([
      { bytesUsed: 10, objectCount: 1 },
      { bytesUsed: 20, objectCount: 2 },
    ]),
    { bytesUsed: 30, objectCount: 3 },
    'bytes and objects added, no quota',
  );
  t.same(
    sumUsage([
      { bytesUsed: 10, objectCount: 1, quotaBytes: 100 },
      { bytesUsed: 20, objectCount: 2, quotaBytes: 50 },
    ])?.quotaBytes,
    150,
    'every bucket has a quota: their sum',
  );
  t.equal(
    sumUsage([
      { bytesUsed: 10, objectCount: 1, quotaBytes: 100 },
      { bytesUsed: 20, objectCount: 2 },
    ])?.quotaBytes,
    undefined,
    'one bucket without a quota: no limit',
  );
  t.equal(
    sumUsage([
      { bytesUsed: 10, objectCount: 1, quotaBytes: 64, userQuotaBytes: 64 },
      { bytesUsed: 20, objectCount: 2, quotaBytes: 64, userQuotaBytes: 64 },
    ])?.quotaBytes,
    64,
    "the owner's quota counts once",
  );
});

t.test('statfsFromUsage', async (t) => {
  t.same(statfsFromUsage(undefined), LARGE_STATFS, 'unknown: as before');
  const used = (s: ReturnType<typeof statfsFromUsage>) => (s.blocks - s.bfree) * s.frsize;
  const noQuota = statfsFromUsage({ bytesUsed: 300 * 1024, objectCount: 2 });
  t.equal(used(noQuota), 300 * 1024, 'used bytes');
  t.equal(noQuota.files - noQuota.ffree, 2, 'used inodes');
  t.equal(noQuota.blocks, 0xffffffff, 'size: very large');
  const quota = statfsFromUsage({
    bytesUsed: 3 * MiB,
    objectCount: 2,
    quotaBytes: 10 * MiB,
    quotaObjects: 100,
  });
  t.equal(quota.blocks * quota.frsize, 10 * MiB, 'size: the quota');
  t.equal(quota.bavail * quota.frsize, 7 * MiB, 'free: quota - used');
  t.equal(quota.files, 100);
  t.equal(quota.ffree, 98);
  const over = statfsFromUsage({ bytesUsed: 11 * MiB, objectCount: 2, quotaBytes: 10 * MiB });
  t.equal(over.bfree, 0, 'over quota: nothing free, never negative');
  const huge = statfsFromUsage({ bytesUsed: 2 ** 50, objectCount: 1, quotaBytes: 2 ** 53 });
  t.ok(huge.blocks <= 0xffffffff && huge.bfree <= 0xffffffff, 'counts fit in 32 bits');
  t.equal(huge.blocks * huge.frsize, 2 ** 53, 'with a larger unit');
  t.equal((huge.blocks - huge.bfree) * huge.frsize, 2 ** 50);
});

t.test('StatfsCache', async (t) => {
  const clock = new ManualClock(0);
  let calls = 0;
  let next: BucketUsage | Error = { bytesUsed: 4096, objectCount: 1 };
  const cache = new StatfsCache({
    usage: async () => {
      calls++;
      if (next instanceof Error) throw next;
      return next;
    },
    clock,
    ttlMs: 30_000,
    logger: nullLogger(),
  });
  const first = await cache.get();
  t.equal(first.blocks - first.bfree, 1);
  next = { bytesUsed: 8192, objectCount: 2 };
  await cache.get();
  t.equal(calls, 1, 'cached within the TTL');
  clock.advance(30_000);
  const second = await cache.get();
  t.equal(second.blocks - second.bfree, 2, 'asked again after it');
  next = new Error('down');
  clock.advance(30_000);
  t.same(await cache.get(), second, 'a failure keeps the last answer');
  t.same(
    await new StatfsCache({ usage: undefined, clock, ttlMs: 0, logger: nullLogger() }).get(),
    LARGE_STATFS,
  );
});
