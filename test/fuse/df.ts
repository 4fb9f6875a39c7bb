// df through a real mount: on Ceph RGW it shows the bytes and objects the SDK put, and a
// quota set with radosgw-admin as the size; s3rver (no X-RGW-* headers) keeps "very large".
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { eventually } from '../fixtures/helpers.js';
import { mount, type Mounted } from '../fixtures/mount.js';
import { rgwAdmin, rgwAdminAvailable, serverWithBucket } from '../fixtures/servers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Df {
  size: number;
  used: number;
  avail: number;
  itotal: number;
  iused: number;
}

function df(dir: string): Df {
  const r = spawnSync('df', ['-B1', '--output=size,used,avail,itotal,iused', dir], { encoding: 'utf8' });
  const [size, used, avail, itotal, iused] = (r.stdout.trim().split('\n')[1] ?? '')
    .trim()
    .split(/\s+/)
    .map(Number);
  return {
    size: size ?? NaN,
    used: used ?? NaN,
    avail: avail ?? NaN,
    itotal: itotal ?? NaN,
    iused: iused ?? NaN,
  };
}

t.test('df', async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'df');
  // 100 KiB + 200 KiB: a whole number of 4 KiB blocks, so df's used is exact
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a', Body: Buffer.alloc(100 * KiB, 1) }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'd/b', Body: Buffer.alloc(200 * KiB, 2) }));
  let m: Mounted | undefined;
  t.teardown(() => m?.unmount());
  m = await mount(server, bucket, ['--metadata-ttl', '0']);
  const dir = m.dir;

  if (server.kind !== 'rgw') {
    const d = df(dir);
    t.equal(d.used, 0, 'no usage known: nothing used');
    t.ok(d.size >= 16 * 1024 ** 4 - 4 * KiB, `very large, as before (${d.size})`);
    return;
  }

  t.ok(
    await eventually(() => df(dir).used === 300 * KiB, 10_000, 200),
    `df shows the 300 KiB the SDK put (${JSON.stringify(df(dir))})`,
  );
  t.equal(df(dir).iused, 2, 'and the 2 objects');

  if (!rgwAdminAvailable()) {
    t.comment('quota part needs radosgw-admin (S3_TEST_CEPH_CONF)');
    return;
  }
  rgwAdmin(server, [
    'quota',
    'set',
    '--quota-scope=bucket',
    `--bucket=${bucket}`,
    `--max-size=${10 * MiB}`,
    '--max-objects=100',
  ]);
  rgwAdmin(server, ['quota', 'enable', '--quota-scope=bucket', `--bucket=${bucket}`]);
  t.ok(
    await eventually(() => df(dir).size === 10 * MiB, 15_000, 250),
    `the quota is the size (${JSON.stringify(df(dir))})`,
  );
  const d = df(dir);
  t.equal(d.used, 300 * KiB, 'used');
  t.equal(d.avail, 10 * MiB - 300 * KiB, 'available: quota - used');
  t.equal(d.itotal, 100, 'the object quota as the inode count');
  t.equal(d.iused, 2);
});
