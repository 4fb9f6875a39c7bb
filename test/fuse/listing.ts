// Large directories through a real mount: a prefix of 2,500 objects needs several
// ListObjectsV2 pages (1,000 keys each), which readdir hands out as they come; every
// entry is listed once with its size.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount } from '../fixtures/mount.js';

const kind = serverKindFromEnv();
const COUNT = 2500;
const PUT_CONCURRENCY = 32;

t.test(`listing on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'list');

  const names = Array.from(
    { length: COUNT },
    (_, i) => `obj-${String(i).padStart(5, '0')}-${'x'.repeat(i % 7)}`,
  );
  for (let i = 0; i < names.length; i += PUT_CONCURRENCY) {
    await Promise.all(
      names.slice(i, i + PUT_CONCURRENCY).map((n, j) =>
        s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `many/${n}`,
            Body: Buffer.from('y'.repeat((i + j) % 13)),
          }),
        ),
      ),
    );
  }

  // edge/: 999 files, then "b" as the last key of the first page, and "b/c" making "b" a
  // directory on the second page: readdir hands out pages as they come, so it must not
  // have shown "b" as a file already
  const edge = [...Array.from({ length: 999 }, (_, i) => `a${String(i).padStart(3, '0')}`), 'b', 'b!', 'b/c'];
  for (let i = 0; i < edge.length; i += PUT_CONCURRENCY) {
    await Promise.all(
      edge
        .slice(i, i + PUT_CONCURRENCY)
        .map((n) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `edge/${n}`, Body: 'e' }))),
    );
  }

  const m = await mount(server, `${bucket}`);
  t.teardown(() => m.unmount());

  t.test('readdir returns all 2,500 entries across pages, once each', async (t) => {
    const listed = await readdir(join(m.dir, 'many'));
    t.equal(listed.length, COUNT, 'entry count');
    t.equal(new Set(listed).size, COUNT, 'no duplicates');
    t.same([...listed].sort(), [...names].sort(), 'same names');
  });

  t.test('ls -l shows every size from the listing', async (t) => {
    const out = execFileSync('ls', ['-l', '--time-style=+', join(m.dir, 'many')], {
      encoding: 'utf8',
      maxBuffer: 32 << 20,
    });
    const lines = out.split('\n').filter((l) => l.startsWith('-'));
    t.equal(lines.length, COUNT, 'ls -l prints every file');
    const sizes = new Map(
      lines.map((l) => {
        const f = l.trim().split(/\s+/);
        return [f[f.length - 1], Number(f[4])];
      }),
    );
    let wrong = 0;
    names.forEach((n, i) => {
      if (sizes.get(n) !== i % 13) wrong++;
    });
    t.equal(wrong, 0, 'every size matches the object');
    t.equal((await stat(join(m.dir, 'many', names[1234] as string))).size, 1234 % 13, 'stat after listing');
  });

  t.test('a file that a later page shows to be a directory is listed once, as a directory', async (t) => {
    const out = execFileSync('ls', ['-l', join(m.dir, 'edge')], { encoding: 'utf8', maxBuffer: 8 << 20 });
    const lines = out.split('\n').filter((l) => /^[-d]/.test(l));
    t.equal(lines.length, 1001, '999 + b + b! entries');
    const b = lines.filter((l) => / b$/.test(l));
    t.equal(b.length, 1, '"b" once');
    t.match(b[0], /^d/, '"b" is the directory');
    t.ok((await stat(join(m.dir, 'edge', 'b'))).isDirectory(), 'stat agrees');
    t.same(await readdir(join(m.dir, 'edge', 'b')), ['c'], 'and lists its file');
  });

  t.test('a mount of BUCKET:PREFIX shows only that prefix', async (t) => {
    const sub = await mount(server, `${bucket}:many`);
    t.teardown(() => sub.unmount());
    const listed = await readdir(sub.dir);
    t.equal(listed.length, COUNT, 'prefix mount lists the prefix');
    t.ok(listed.includes(names[0] as string), 'first name present');
  });

  t.test("every page of this server's listings was read by s3mount's own parser", async (t) => {
    await m.unmount();
    const parsed = /"listPagesParsed":\{"fast":(\d+),"sdk":(\d+)\}/.exec(m.output());
    t.ok(parsed, 'the exit log reports the parsed pages');
    t.ok(Number(parsed?.[1]) >= 5, `parsed here: ${parsed?.[1]}`);
    t.equal(Number(parsed?.[2]), 0, 'none left to the SDK');
  });
});
