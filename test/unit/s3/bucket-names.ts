// Bucket naming rules, both ways.
import t from 'tap';
import { invalidBucketName } from '../../../src/s3/bucket-names.js';

t.test('invalidBucketName', async (t) => {
  for (const ok of ['abc', 'my-bucket', 'data.2026', 'a1b', 'x'.repeat(63)])
    t.equal(invalidBucketName(ok), undefined, ok);
  for (const bad of [
    'ab',
    'x'.repeat(64),
    'Upper',
    'under_score',
    '-lead',
    'trail-',
    'a..b',
    'a.-b',
    '192.168.1.1',
    'xn--abc',
    'has space',
  ])
    t.type(invalidBucketName(bad), 'string', bad);
});
