// scripts/lib/demo-data.mjs ENDPOINT BUCKET: creates BUCKET with a few demo objects,
// as any other S3 client would (the AWS SDK), so the demo shows them through the mount.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';

const [endpoint, bucket] = process.argv.slice(2);
const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
try {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
} catch (e) {
  if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
}
const put = (Key, Body) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
await put('README.txt', 'This bucket is mounted by s3mount. Try: ls -l, cat, md5sum, grep -r, cp -r.\n');
await put('run42/input.csv', 'id,value\n' + Array.from({ length: 1000 }, (_, i) => `${i},${(i * 0.37).toFixed(2)}`).join('\n') + '\n');
await put('run42/params.json', JSON.stringify({ run: 42, steps: 1000, seed: 7 }, null, 2) + '\n');
await put('run42/results/data.bin', randomBytes(8 * 1024 * 1024));
await put('notes/hello world.txt', 'keys with spaces work\n');
s3.destroy();
console.log(`demo bucket "${bucket}" ready`);
