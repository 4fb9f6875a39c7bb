import t from 'tap';
import { parseMountinfo } from '../../../src/util/mountinfo.js';

t.test('mountinfo lines with escaped spaces', async (t) => {
  const text =
    '36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - fuse.s3mount s3mount:bkt rw,user_id=0\n25 1 0:22 / / rw - ext4 /dev/vda rw\n';
  t.same(parseMountinfo(text), [
    { mountpoint: '/mnt/a b', fstype: 'fuse.s3mount', source: 's3mount:bkt', superOptions: 'rw,user_id=0' },
    { mountpoint: '/', fstype: 'ext4', source: '/dev/vda', superOptions: 'rw' },
  ]);
});
