// Names and keys past S3's limits: a name (path component) over 255 bytes or a key over
// 1,024 bytes (with the mount's prefix) is refused with ENAMETOOLONG when it would be
// created, and looked up without asking S3; names up to the limits work.
import t from 'tap';
import { mkdir, readFile, readdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount } from '../fixtures/mount.js';

const kind = serverKindFromEnv();

async function getText(s3: S3Client, Bucket: string, Key: string): Promise<string> {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key }));
  return (r.Body as { transformToString(): Promise<string> }).transformToString();
}

async function keys(s3: S3Client, Bucket: string): Promise<string[]> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket }));
  return (r.Contents ?? []).map((c) => c.Key as string).sort();
}

t.test(`name and key limits on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'names');
  const m = await mount(server, bucket, ['--metadata-ttl', '1']);
  t.teardown(() => m.unmount());
  const p = (rel: string) => join(m.dir, rel);
  // 'é' is 2 bytes in UTF-8: the limits count bytes, not characters
  const name256 = `${'é'.repeat(100)}${'n'.repeat(56)}`;
  const name255 = `${'é'.repeat(100)}${'n'.repeat(55)}`;
  t.equal(Buffer.byteLength(name256), 256);

  t.test('a 256-byte name is refused at create, mkdir, symlink and rename', async (t) => {
    await t.rejects(writeFile(p(name256), 'x'), { code: 'ENAMETOOLONG' }, 'create');
    await t.rejects(mkdir(p(name256)), { code: 'ENAMETOOLONG' }, 'mkdir');
    await t.rejects(symlink('target', p(name256)), { code: 'ENAMETOOLONG' }, 'symlink');
    await writeFile(p('short.txt'), 'short\n');
    await t.rejects(rename(p('short.txt'), p(name256)), { code: 'ENAMETOOLONG' }, 'rename to it');
    t.equal(await readFile(p('short.txt'), 'utf8'), 'short\n', 'the rename source is untouched');
    await t.rejects(stat(p(name256)), { code: 'ENAMETOOLONG' }, 'a lookup says so too');
    await t.rejects(stat(p(`${name256}/below`)), { code: 'ENAMETOOLONG' }, 'also as a directory on the way');
    t.same(
      (await keys(s3, bucket)).filter((k) => k !== 'short.txt'),
      [],
      'nothing of it reached S3',
    );
  });

  // s3rver 3.7.1 cannot store a key segment over ~233 bytes (500, then a broken bucket,
  // or a crash: DEVELOPERS.md): only the names it can hold are tried there
  const longest = kind === 's3rver' ? 'n'.repeat(200) : name255;

  t.test(`a ${Buffer.byteLength(longest)}-byte name works and is listed`, async (t) => {
    await writeFile(p(longest), 'longest name\n');
    t.equal(await getText(s3, bucket, longest), 'longest name\n', 'in S3 under that key');
    await new Promise((r) => setTimeout(r, 1500)); // past --metadata-ttl: listed from S3
    t.ok((await readdir(m.dir)).includes(longest), 'listed');
    t.equal((await stat(p(longest))).size, 13, 'stat finds it');
    const dirName = `${longest.slice(0, -1)}D`;
    await mkdir(p(dirName));
    t.ok((await stat(p(dirName))).isDirectory(), 'and as a directory');
  });

  t.test('keys over 1,024 bytes through deep directories', async (t) => {
    // five directories of 200 bytes: "d…/" x 5 is 1,005 bytes of key
    const seg = (c: string) => c.repeat(200);
    let dir = '';
    for (const c of ['a', 'b', 'c', 'd', 'e']) {
      dir = `${dir}/${seg(c)}`;
      await mkdir(p(dir));
    }
    const dirKey = `${dir.slice(1)}/`;
    t.equal(dirKey.length, 1005);
    const fits = 'f'.repeat(1024 - 1005); // key of exactly 1,024 bytes
    await writeFile(p(`${dir}/${fits}`), 'fits\n');
    t.equal(await getText(s3, bucket, `${dirKey}${fits}`), 'fits\n', 'a 1,024-byte key works');
    await t.rejects(
      writeFile(p(`${dir}/${fits}x`), 'x'),
      { code: 'ENAMETOOLONG' },
      'a 1,025-byte key is refused at create',
    );
    await t.rejects(
      writeFile(p(`${dir}/${'g'.repeat(60)}`), 'x'),
      { code: 'ENAMETOOLONG' },
      'so is a 1,065-byte one',
    );
    await t.rejects(
      mkdir(p(`${dir}/${'h'.repeat(1024 - 1005)}`)),
      { code: 'ENAMETOOLONG' },
      'mkdir: its marker "dir/" would be 1,025 bytes',
    );
    await t.rejects(
      rename(p(`/${seg('a')}`), p(`/${'A'.repeat(220)}`)),
      { code: 'ENAMETOOLONG' },
      'renaming a directory whose keys would grow past the limit',
    );
    t.equal(await readFile(p(`${dir}/${fits}`), 'utf8'), 'fits\n', 'and nothing moved');
    t.notOk(
      (await keys(s3, bucket)).some((k) => k.startsWith('A')),
      'no key under the new name',
    );
  });
});
