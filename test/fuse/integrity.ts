// Integrity under a faulty network: reads hand out the object's bytes or fail, never
// wrong bytes (a GET reset or cut in the middle of its body, errors, by rate), and the
// block cache never keeps bad bytes; an endpoint that is not S3 is refused at mount and
// its answers never pass for a stored object or a listing. Faults come from a loopback
// proxy in front of the real server (test/fixtures/fault-proxy.ts).
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount, S3MOUNT_BIN, serverEnv } from '../fixtures/mount.js';
import { startFaultProxy, type Fault } from '../fixtures/fault-proxy.js';
import { sha256 } from '../fixtures/helpers.js';

const kind = serverKindFromEnv();

/**
 * Runs a command to its end without blocking this process (the fault proxy lives in it):
 * exit status, stdout, stderr.
 */
function run(
  cmd: string,
  args: string[],
  timeoutMs = 60_000,
  env?: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** `cat FILE`: its exit status and the sha256 of what it printed */
async function cat(path: string): Promise<{ status: number | null; sha: string }> {
  const r = await run('cat', [path]);
  return { status: r.status, sha: sha256(r.stdout) };
}

async function mountedAt(dir: string): Promise<boolean> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === dir);
}

t.test(`integrity on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'integ');
  const put = (Key: string, Body: Buffer | string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
  const proxy = await startFaultProxy(server.endpoint);
  t.teardown(() => proxy.close());

  t.test(
    'a GET reset or cut in the middle of its body: right bytes or an error, never wrong bytes, nothing bad cached',
    async (t) => {
      const faults: Array<[string, Fault]> = [
        ['reset', { kind: 'reset-mid-body', afterBytes: 200_000 }],
        ['cut', { kind: 'cut-body', afterBytes: 200_000 }],
      ];
      const objects = new Map<string, Buffer>();
      for (const [name] of faults) {
        const body = randomBytes(3_000_000);
        objects.set(name, body);
        await put(`cut/${name}.bin`, body);
      }
      const m = await mount(server, bucket, [], {}, { endpoint: proxy.endpoint });
      t.teardown(() => m.unmount());
      for (const [name, fault] of faults) {
        const want = objects.get(name) as Buffer;
        const before = proxy.faulted['GET'] ?? 0;
        proxy.inject({ kinds: ['GET'], fault, times: 1 });
        const first = await cat(join(m.dir, 'cut', `${name}.bin`));
        t.equal(
          (proxy.faulted['GET'] ?? 0) - before,
          1,
          `${name}: one GET was faulted in the middle of its body`,
        );
        // the missing blocks are fetched again from the right offset: the read succeeds
        t.equal(first.status, 0, `${name}: cat succeeds`);
        t.equal(first.sha, sha256(want), `${name}: cat gives the object's bytes`);
        const second = await cat(join(m.dir, 'cut', `${name}.bin`));
        t.equal(second.sha, sha256(want), `${name}: and so does a second cat (from the cache)`);
      }
      t.notOk(/retried after/.test(m.output()), 'no GET was retried into bytes already handed out');
    },
  );

  t.test('20% of GETs faulted (500, 503, resets, cut bodies): every read right or failed', async (t) => {
    const objects: Buffer[] = [];
    for (let i = 0; i < 24; i++) {
      const body = randomBytes(500_000 + ((i * 211_117) % 1_700_000));
      objects.push(body);
      await put(`rate/o${i}.bin`, body);
    }
    // a small cache and request size: many GETs per object, and re-reads that refetch
    const m = await mount(server, bucket, ['--request-timeout', '20'], {}, { endpoint: proxy.endpoint });
    t.teardown(() => m.unmount());
    proxy.inject({
      kinds: ['GET'],
      rate: 0.2,
      seed: 42,
      fault: [
        { kind: 'status', status: 500 },
        { kind: 'status', status: 503, code: 'SlowDown' },
        { kind: 'reset-before' },
        { kind: 'reset-mid-body', afterBytes: 70_000 },
        { kind: 'cut-body', afterBytes: 130_000 },
      ],
    });
    t.teardown(() => proxy.clear());
    let right = 0;
    let failed = 0;
    let wrong = 0;
    for (let round = 0; round < 2; round++) {
      for (const [i, body] of objects.entries()) {
        const r = await cat(join(m.dir, 'rate', `o${i}.bin`));
        if (r.status !== 0) failed++;
        else if (r.sha === sha256(body)) right++;
        else wrong++;
      }
    }
    proxy.clear();
    t.ok(
      (proxy.faulted['GET'] ?? 0) >= 3,
      `GETs were faulted (${proxy.faulted['GET'] ?? 0} of ${proxy.seen['GET'] ?? 0})`,
    );
    t.equal(wrong, 0, `no read returned wrong bytes (${right} right, ${failed} failed)`);
    t.ok(right > 0, 'some reads succeeded');
    // without faults, every object reads right: nothing bad was cached
    let after = 0;
    for (const [i, body] of objects.entries())
      if ((await cat(join(m.dir, 'rate', `o${i}.bin`))).sha === sha256(body)) after++;
    t.equal(after, objects.length, 'every object reads right once the faults stop');
  });

  t.test('an endpoint that answers HTML is refused at mount with one line', async (t) => {
    const html = await startFaultProxy(server.endpoint);
    t.teardown(() => html.close());
    html.inject({
      kinds: [
        'GET',
        'HEAD',
        'LIST',
        'PUT',
        'HeadBucket',
        'Other',
        'Delete',
        'CreateMultipart',
        'UploadPart',
        'Complete',
      ],
      fault: { kind: 'html' },
      times: 1_000_000,
    });
    const work = await mkdtemp(join(tmpdir(), 's3mount-integ-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    const mp = join(work, 'mnt');
    await mkdir(mp);
    const t0 = Date.now();
    const r = await run(
      process.execPath,
      [S3MOUNT_BIN, bucket, mp, '--endpoint', html.endpoint],
      60_000,
      serverEnv(server, { XDG_STATE_HOME: join(work, 'state') }),
    );
    const ms = Date.now() - t0;
    t.not(r.status, 0, 'non-zero exit');
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line: ${r.stderr.trim()}`);
    t.match(r.stderr, /not a valid S3 response/, 'says the endpoint is not S3');
    t.ok(ms < 30_000, `within 30 s (${ms} ms)`);
    t.notOk(await mountedAt(mp), 'nothing mounted');
    t.same(await readdir(mp), [], 'mount point untouched');
  });

  t.test(
    'HTML answers while mounted: writes fail at close and stay staged, listings fail, nothing passes for S3',
    async (t) => {
      const m = await mount(server, bucket, ['--request-timeout', '10'], {}, { endpoint: proxy.endpoint });
      t.teardown(() => m.unmount());
      await put('html/existing.txt', 'existing\n');
      proxy.inject({
        kinds: ['PUT', 'CreateMultipart', 'UploadPart', 'Complete'],
        fault: { kind: 'html' },
        times: 1_000_000,
      });
      const data = 'hi through a web page\n';
      const w = await run('python3', [
        '-c',
        'import sys\nf = open(sys.argv[1], "w")\nf.write(sys.argv[2])\nf.close()',
        join(m.dir, 'html', 'a.txt'),
        data,
      ]);
      t.not(w.status, 0, `close() fails (${w.stderr.trim().split('\n').pop() ?? ''})`);
      t.match(w.stderr, /Input\/output error|OSError/, 'with EIO');
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'html/a.txt' })).then(
        () => true,
        () => false,
      );
      t.notOk(got, 'nothing claims to be in S3');
      proxy.clear();
      proxy.inject({ kinds: ['LIST'], fault: { kind: 'html' }, times: 1_000_000 });
      const ls = await run('ls', [join(m.dir, 'html-other')]);
      t.not(ls.status, 0, 'a listing answered with HTML fails');
      t.notOk(/^$/.test(ls.stderr), `with an error (${ls.stderr.trim()})`);
      proxy.clear();
      // the staged file is uploaded once the endpoint answers as S3 again
      const deadline = Date.now() + 90_000;
      let body: string | undefined;
      // until it reads back whole: s3rver writes an object's metadata before the last of
      // its content is on disk, so a GET racing the PUT can read it short (122 short reads in
      // 300 PUTs of 200 KB polled by GETs, by hand)
      while (Date.now() < deadline && body !== data) {
        body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'html/a.txt' })).then(
          (r) => (r.Body as { transformToString(): Promise<string> }).transformToString(),
          () => undefined,
        );
        if (body !== data) await new Promise((r) => setTimeout(r, 500));
      }
      t.equal(body, data, 'the write reaches S3 once the endpoint is S3 again');
      if (body !== data)
        t.comment(`daemon log, last lines:\n${m.output().split('\n').slice(-40).join('\n')}`);
    },
  );
});
