// Key rotation while mounted (RGW only: it needs radosgw-admin to make and remove keys):
// mounted with K1 from a keys command, the site adds K2, removes K1 and the command
// prints K2; reads and writes through the mount keep working, no secret is logged.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getObjectOrUndefined } from '../fixtures/helpers.js';
import { mount, type Mounted } from '../fixtures/mount.js';
import { rgwAdminAvailable, rgwKeyPair, serverWithBucket } from '../fixtures/servers.js';

if (!rgwAdminAvailable()) {
  t.comment('key rotation needs radosgw-admin on an RGW (S3_TEST_SERVER=rgw with S3_TEST_CEPH_CONF)');
  t.pass('skipped: not an RGW with radosgw-admin');
} else {
  t.test('a key rotation does not take the mount down', async (t) => {
    const { server, s3, bucket } = await serverWithBucket(t, 'rotate');
    const { k1, k2, addKey, removeKey } = rgwKeyPair(t, server, 'rotk');
    addKey(k1);

    const work = await mkdtemp(join(tmpdir(), 's3mount-rotate-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    const keys = join(work, 'keys');
    await writeFile(keys, `${k1.id} ${k1.secret}\n`);
    let m: Mounted | undefined;
    t.teardown(() => m?.unmount());
    m = await mount(server, bucket, ['--keys-command', `cat ${keys}`, '--metadata-ttl', '0'], {
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
    });
    await writeFile(join(m.dir, 'before.txt'), 'written with K1\n');
    t.equal((await getObjectOrUndefined(s3, bucket, 'before.txt'))?.toString(), 'written with K1\n');

    // the site rotates: a new key, the old one removed, the command prints the new one
    addKey(k2);
    removeKey(k1);
    await writeFile(keys, `${k2.id} ${k2.secret}\n`);

    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'from-sdk.txt', Body: 'put by the SDK\n' }));
    t.equal(await readFile(join(m.dir, 'from-sdk.txt'), 'utf8'), 'put by the SDK\n', 'a read after rotation');
    t.equal(await readFile(join(m.dir, 'before.txt'), 'utf8'), 'written with K1\n', 'an older file too');
    await writeFile(join(m.dir, 'after.txt'), 'written after rotation\n');
    t.equal(
      (await getObjectOrUndefined(s3, bucket, 'after.txt'))?.toString(),
      'written after rotation\n',
      'a write after rotation reached S3',
    );
    t.same((await readdir(m.dir)).sort(), ['after.txt', 'before.txt', 'from-sdk.txt'], 'listing works');

    const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    await m.unmount();
    const log = m.output();
    t.match(log, /keys asked for again/, 'the daemon asked the command again');
    for (const s of [k1.secret, k2.secret]) {
      t.notOk(log.includes(s), 'no secret in the log');
      t.notOk(ps.includes(s), 'no secret in ps -eo args');
    }
  });
}
