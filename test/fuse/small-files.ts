// The small-file look-ahead through a real mount: reading a listed directory's small
// files in order (cat dir/*) reads every byte right while most of them are fetched ahead;
// an object replaced in S3 after the listing is never read as its old version beyond
// --metadata-ttl (and never at all when replaced before its look-ahead); memory stays
// within --memory-limit.
import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { sha256 } from '../fixtures/helpers.js';
import { mount } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const N = 150;
const TTL_S = 3;
const name = (i: number) => `f${String(i).padStart(4, '0')}`;
/** 1-8 KiB, different for every file */
const body = (i: number, seed = 0) => Buffer.alloc(1024 * (1 + (i % 8)), `${seed}:${i}:`);

/** peak RSS of a process in bytes (VmHWM) */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

t.test(`small files read in listing order, on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'smallfiles');
  const put = (key: string, b: Buffer) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: b }));
  for (let i = 0; i < N; i += 10)
    await Promise.all(Array.from({ length: 10 }, (_, k) => put(`d/${name(i + k)}`, body(i + k))));
  await put('d/zz-large', Buffer.alloc(600 * 1024, 'L')); // more than a block: not fetched ahead

  const m = await mount(server, bucket, ['--metadata-ttl', String(TTL_S), '--memory-limit', '64M']);
  t.teardown(() => m.unmount());
  const dir = join(m.dir, 'd');
  const names = (await readdir(dir)).sort();
  t.equal(names.length, N + 1, 'all listed');

  // replaced by another client after the listing, before anything was read
  const early = 40;
  await put(`d/${name(early)}`, body(early, 1));
  for (let i = 0; i < 20; i++) t.equal(sha256(await readFile(join(dir, name(i)))), sha256(body(i)), name(i));
  await sleep(500); // the look-ahead runs ahead of the reader
  // replaced after its look-ahead may have fetched it
  const late = 60;
  await put(`d/${name(late)}`, body(late, 2));
  let wrong = 0;
  for (let i = 20; i < N; i++) {
    const got = await readFile(join(dir, name(i)));
    if (i === early) t.same(got, body(early, 1), 'replaced before its look-ahead: the new bytes');
    else if (i === late)
      t.ok(got.equals(body(late)) || got.equals(body(late, 2)), 'replaced after it: one version whole');
    else if (!got.equals(body(i))) wrong++;
  }
  t.equal(wrong, 0, 'every other file read back right');
  t.equal((await readFile(join(dir, 'zz-large'))).length, 600 * 1024, 'the large file too');

  await sleep((TTL_S + 1) * 1000);
  await readdir(dir); // a new listing, as `cat dir/*` makes
  t.same(await readFile(join(dir, name(late))), body(late, 2), 'after --metadata-ttl: the new bytes');

  const pid = m.child.pid as number;
  const rss = await peakRss(pid);
  t.ok(
    rss < (64 + 100) * 1024 * 1024,
    `peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB within --memory-limit + 100 MiB`,
  );
  await m.unmount();
  const stopped = m
    .output()
    .split('\n')
    .find((l) => l.includes('"msg":"stopped"'));
  const fields = JSON.parse(stopped ?? '{}') as {
    requests?: Record<string, number>;
    lookahead?: { fetches: number };
  };
  const fetches = fields.lookahead?.fetches ?? 0;
  // the window is 32 files here (a quarter of the 32 MiB cache in 256 KiB blocks): more than
  // that means it moved on with the reader (files the reader got to first are not fetched ahead)
  t.ok(fetches > 32, `the look-ahead kept ahead of the reader (${fetches} files fetched ahead)`);
  const gets = fields.requests?.GetObject ?? 0;
  // each file once, a few twice (the two replaced ones, a look-ahead the reader overtook)
  t.ok(gets <= N + 1 + 10, `about one GET per file (${gets} for ${N + 1} files)`);
});
