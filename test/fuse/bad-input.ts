// Bad input, as a table (issue #13): each case gets one clear line and a non-zero exit
// (a wait on the server is bounded by a 10 s deadline) with nothing left mounted, or the
// right errno through the mount. Cases kept elsewhere: wrong keys, missing bucket,
// unreachable endpoint and the mount point cases in preflight.ts; keys in credentials.ts; TLS in tls.ts; long names in name-limits.ts;
// a full staging disk in staging-full.ts. Servers in this process: async spawn only.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { eventually, getObjectOrUndefined } from '../fixtures/helpers.js';
import { isMounted, mount, runS3mountAsync, serverEnv } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { pidFile } from '../../src/cli/state-files.js';

const kind = serverKindFromEnv();
const TIB = 1024 ** 4;
const MAX_FILE_BYTES = 5 * TIB;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as { port: number }).port;
}

t.test(`bad input on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'bad');
  const work = await mkdtemp(join(tmpdir(), 's3mount-bad-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const empty = join(work, 'empty');
  await mkdir(empty);
  const env = serverEnv(server, { XDG_STATE_HOME: join(work, 'state') });

  /** A mount that must fail: exit `code`, one line matching `want`, nothing mounted. */
  const fails = async (t: Test, args: string[], want: RegExp, code: number, mp = empty) => {
    const t0 = Date.now();
    const r = await runS3mountAsync(args, env, 60_000);
    const ms = Date.now() - t0;
    t.equal(r.status, code, `exit ${code}`);
    // no timed assertion (the machine is shared): the time is reported; a case that could
    // wait for the server asserts the deadline that bounds it instead (below)
    t.comment(`failed after ${ms} ms`);
    t.match(r.stderr, want, 'says why');
    t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr.trim()}`);
    t.notOk(r.stderr.includes(server.secretAccessKey), 'no secret in it');
    const m = await isMounted(mp);
    t.notOk(m, 'nothing mounted');
    if (m) spawnSync('fusermount', ['-u', mp]);
  };
  const base = (b = bucket) => [b, empty, '--endpoint', server.endpoint];

  t.test('invalid bucket names', async (t) => {
    for (const name of ['bad bucket', 'a/b', '.starts-with-a-dot', 'x'.repeat(256)])
      await fails(t, base(name), /^s3mount: ".*" is not a valid bucket name/, 2);
  });

  t.test('invalid option values: exit 2 and a line naming the option', async (t) => {
    const table: [string[], RegExp][] = [
      [['--cache-size', 'lots'], /--cache-size: "lots" is not a size/],
      [['--metadata-ttl=-1'], /--metadata-ttl: "-1" is not a number of seconds/],
      [['--file-mode', '999'], /--file-mode: "999" is not an octal mode/],
      [['--log-level', 'loud'], /--log-level: "loud" is not one of/],
      [['--part-size', '1M'], /--part-size must be at least 5M/],
      [['--block-size', '100K'], /--block-size must be a power of two/],
      [['--max-requests', '0'], /--max-requests: "0" must be a whole number >= 1/],
      [['--request-timeout', '0.5'], /--request-timeout must be at least 1 second/],
      [['--endpoint', 'ftp://example.org'], /--endpoint: "ftp:\/\/example.org" must start with http/],
      [['--endpoint', 'not a url'], /--endpoint: "not a url" is not a URL/],
      [['-o', 'no_such_thing'], /-o no_such_thing: unknown mount option/],
      [['--no-such-option'], /Unknown argument/],
      // an option given twice counts once, with its last value
      [['--log-level', 'debug', '--log-level', 'loud'], /--log-level: "loud" is not one of/],
    ];
    // the endpoint cases give only their own (a second one would be the one that counts)
    for (const [args, want] of table)
      await fails(t, args.includes('--endpoint') ? [bucket, empty, ...args] : [...base(), ...args], want, 2);
  });

  t.test('an endpoint that is not S3 (a web server answering HTML)', async (t) => {
    const web = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><body><h1>Welcome to the portal</h1></body></html>\n');
    });
    const port = await listen(web);
    t.teardown(() => new Promise<void>((r) => web.close(() => r())));
    await fails(
      t,
      [bucket, empty, '--endpoint', `http://127.0.0.1:${port}`],
      /^s3mount: http:\/\/127\.0\.0\.1:\d+ does not answer as an S3 server/,
      1,
    );
  });

  t.test('an endpoint that accepts connections and never answers', async (t) => {
    const held = new Set<Socket>();
    const silent = createTcpServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
    });
    const port = await listen(silent);
    t.teardown(
      () =>
        new Promise<void>((r) => {
          for (const s of held) s.destroy();
          silent.close(() => r());
        }),
    );
    await fails(
      t,
      // --request-timeout 120: what ends the wait is the bucket check's own 10 s deadline
      [bucket, empty, '--endpoint', `http://127.0.0.1:${port}`, '--request-timeout', '120'],
      /^s3mount: the S3 endpoint http:\/\/127\.0\.0\.1:\d+ did not answer in time \(no answer within 10 s\)/,
      1,
    );
  });

  t.test('a dead mount (daemon killed) is cleared by the next mount and by unmount', async (t) => {
    const m = await mount(server, bucket);
    t.teardown(() => m.unmount());
    const dead = async () => {
      await eventually(() => m.child.exitCode !== null || m.child.signalCode !== null, 5000, 50);
      await t.rejects(stat(m.dir), { code: 'ENOTCONN' }, 'the mount is dead (ENOTCONN)');
    };
    m.child.kill('SIGKILL');
    await dead();
    const again = await runS3mountAsync(
      [bucket, m.dir, '--endpoint', server.endpoint, '--staging-dir', m.stagingDir],
      env,
    );
    t.equal(again.status, 0, `mounting again over it works ${again.stderr}`);
    await t.resolves(readdir(m.dir), 'and the new mount answers');
    const pid = Number(await readFile(pidFile(m.dir, env), 'utf8').catch(() => '0'));
    t.ok(pid > 0, 'the new daemon runs');
    if (pid > 0) process.kill(pid, 'SIGKILL');
    await eventually(
      async () => (await stat(m.dir).catch((e: NodeJS.ErrnoException) => e.code)) === 'ENOTCONN',
      5000,
      50,
    );
    const u = await runS3mountAsync(['unmount', m.dir], env);
    t.equal(u.status, 0, `s3mount unmount clears a dead mount ${u.stderr}`);
    t.notOk(await isMounted(m.dir), 'nothing mounted');
  });

  t.test('through the mount', async (t) => {
    const m = await mount(server, bucket, ['--metadata-ttl', '1']);
    t.teardown(() => m.unmount());
    const p = (rel: string) => join(m.dir, rel);

    t.test('names with newlines and control characters are allowed, as S3 allows them', async (t) => {
      const names = ['new\nline.txt', 'tab\there', 'bell\u0007', 'esc\u001b[31mred', 'del\u007f'];
      for (const name of names) await writeFile(p(name), `content of ${JSON.stringify(name)}\n`);
      for (const name of names)
        t.equal(
          (await getObjectOrUndefined(s3, bucket, name))?.toString(),
          `content of ${JSON.stringify(name)}\n`,
          `S3 has ${JSON.stringify(name)} under that exact key`,
        );
      await new Promise((r) => setTimeout(r, 1500)); // past --metadata-ttl: listed from S3
      const listed = await readdir(m.dir);
      for (const name of names) t.ok(listed.includes(name), `listed: ${JSON.stringify(name)}`);
      for (const name of names)
        t.equal(await readFile(p(name), 'utf8'), `content of ${JSON.stringify(name)}\n`, 'reads back');
      const keys = (await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((c) => c.Key);
      t.ok(
        names.every((n) => keys?.includes(n)),
        'another client lists the same keys',
      );
    });

    t.test('a file cannot grow past 5 TiB: EFBIG, and what it holds is kept', async (t) => {
      const body = 'small and safe\n';
      await writeFile(p('big.txt'), body);
      await t.rejects(truncate(p('big.txt'), MAX_FILE_BYTES + 1), { code: 'EFBIG' }, 'truncate to 5 TiB + 1');
      await t.rejects(truncate(p('big.txt'), 6 * TIB), { code: 'EFBIG' }, 'truncate to 6 TiB');
      const fh = await open(p('big.txt'), 'r+');
      let closed = false;
      t.teardown(() => (closed ? undefined : fh.close().catch(() => undefined)));
      await t.rejects(
        fh.write(Buffer.from('x'), 0, 1, MAX_FILE_BYTES),
        { code: 'EFBIG' },
        'a write at 5 TiB',
      );
      // (a write across 5 TiB is not tried here: the kernel splits writes at pages, so
      // its first byte lands and the write returns short, as POSIX says; the file would
      // then be 5 TiB. test/unit/fs/file-size-limit.ts covers the core's side of it.)
      await t.rejects(
        fh.write(Buffer.alloc(4096), 0, 4096, MAX_FILE_BYTES + 4096),
        { code: 'EFBIG' },
        'a write past 5 TiB',
      );
      await t.rejects(fh.truncate(MAX_FILE_BYTES + 1), { code: 'EFBIG' }, 'ftruncate past 5 TiB');
      t.equal((await fh.stat()).size, body.length, 'the size is unchanged');
      await fh.write(Buffer.from('S'), 0, 1, 0);
      closed = true;
      await fh.close();
      t.equal(
        (await getObjectOrUndefined(s3, bucket, 'big.txt'))?.toString(),
        `S${body.slice(1)}`,
        'the file is uploaded intact after the refused writes',
      );
      const other = await readFile(p('new\nline.txt'), 'utf8').catch(() => 'gone');
      t.not(other, 'gone', 'other files are unaffected');
    });
  });
});
