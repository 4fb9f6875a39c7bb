// Content-Type from the file extension for objects written through the mount (PutObject
// and multipart), kept or updated by rename and kept by chmod; checked with HeadObject.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { chmod, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mount, type Mounted } from '../fixtures/mount.js';
import { serverWithBucket } from '../fixtures/servers.js';

t.test('content types', async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'ctype');
  let m: Mounted | undefined;
  t.teardown(() => m?.unmount());
  m = await mount(server, bucket, ['--part-size', '5M']);
  const p = (name: string) => join(m?.dir ?? '', name);
  const typeOf = async (key: string) =>
    (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentType;

  await writeFile(p('page.html'), '<h1>hi</h1>\n');
  await writeFile(p('data.JSON'), '{}\n');
  await writeFile(p('picture.png'), randomBytes(100));
  await writeFile(p('big.csv'), randomBytes(6 * 1024 * 1024)); // multipart: 5 MiB + 1 MiB
  await writeFile(p('no-extension'), 'x');
  t.equal(await typeOf('page.html'), 'text/html', 'PutObject: from the extension');
  t.equal(await typeOf('data.JSON'), 'application/json', 'the extension in any case');
  t.equal(await typeOf('picture.png'), 'image/png');
  t.equal(await typeOf('big.csv'), 'text/csv', 'a multipart upload too');
  t.notOk(
    ['text/html', 'application/json', 'text/csv'].includes((await typeOf('no-extension')) ?? ''),
    'unknown: the server default',
  );

  await rename(p('page.html'), p('page.txt'));
  t.equal(await typeOf('page.txt'), 'text/plain', 'renamed to another extension: its type');
  await rename(p('data.JSON'), p('data2.json'));
  t.equal(await typeOf('data2.json'), 'application/json', 'same extension: same type');

  // a type another client chose is kept by a rename that keeps the extension, and by chmod
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: 'notes.txt',
      Body: 'n\n',
      ContentType: 'text/plain; charset=utf-8',
    }),
  );
  await rename(p('notes.txt'), p('notes-2.txt'));
  t.equal(await typeOf('notes-2.txt'), 'text/plain; charset=utf-8', 'rename keeps a custom type');
  await chmod(p('notes-2.txt'), 0o600);
  t.equal(await typeOf('notes-2.txt'), 'text/plain; charset=utf-8', 'chmod keeps it');
  await rename(p('notes-2.txt'), p('notes.md'));
  t.equal(await typeOf('notes.md'), 'text/markdown', 'renamed to another extension: updated');
});
