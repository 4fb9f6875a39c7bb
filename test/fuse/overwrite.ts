// Overwriting the same file again and again through a real mount (issue #11 item 3): jobs
// rewrite checkpoint and status files with open(O_TRUNC) + write + close in a loop, and
// the next open used to race the asynchronous RELEASE of the last one (EIO "file
// closed"). Every overwrite must succeed and S3 must hold the last write's bytes.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { mount } from '../fixtures/mount.js';

const kind = serverKindFromEnv();

async function getBytes(s3: S3Client, Bucket: string, Key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key }));
  return Buffer.from(
    await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

interface LoopResult {
  failures: number;
  /** the first few errors, as the program saw them */
  errors: string[];
  /** sha256 of the last bytes written */
  last: string;
}

/** Python: `open(path, "wb").write(os.urandom(1000 + i % 5000))`, as in the report. */
const PYTHON_LOOP = `
import hashlib, json, os, sys
path, n = sys.argv[1], int(sys.argv[2])
failures, errors, last = 0, [], ""
for i in range(n):
    data = os.urandom(1000 + i % 5000)
    try:
        with open(path, "wb") as f:
            f.write(data)
        last = hashlib.sha256(data).hexdigest()
    except OSError as e:
        failures += 1
        if len(errors) < 3: errors.append(f"{i}: {e}")
print(json.dumps({"failures": failures, "errors": errors, "last": last}))
`;
import { sha256 } from '../fixtures/helpers.js';

/** sh: `head -c N /dev/urandom > path`, the bytes kept aside (in `scratch`) to know the last. */
const SHELL_LOOP = `
path=$1 n=$2 scratch=$3 failures=0 errors= last= i=0
while [ "$i" -lt "$n" ]; do
  head -c $((1000 + i * 37 % 5000)) /dev/urandom > "$scratch"
  if err=$(cat "$scratch" 2>&1 > "$path"); then last=$(sha256sum < "$scratch" | cut -d' ' -f1)
  else failures=$((failures + 1)); errors="$errors $i:$err"; fi
  i=$((i + 1))
done
printf '{"failures": %d, "errors": ["%s"], "last": "%s"}\\n' "$failures" "$(printf %s "$errors" | tr -d '"\\\\' | tr '\\n' ' ')" "$last"
`;

/** fsync through a write handle: the staged copy is in S3 when it returns (a read handle has nothing to sync) */
const FSYNC =
  'import json, os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd); os.close(fd); print(json.dumps({"failures": 0, "errors": [], "last": ""}))';

const noFailures = (t: Test, r: LoopResult, what: string) =>
  t.equal(
    r.failures,
    0,
    `${what}${r.failures > 0 ? `: ${r.failures} failed, first ${r.errors.join('; ')}` : ''}`,
  );

function run(cmd: string, args: string[]): Promise<LoopResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`${cmd} exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out) as LoopResult);
      } catch (e) {
        reject(new Error(`${cmd} printed no result: ${out} ${err}`, { cause: e }));
      }
    });
  });
}

const pythonLoop = (path: string, n: number) => run('python3', ['-c', PYTHON_LOOP, path, String(n)]);
const shellLoop = (path: string, n: number, scratch: string) =>
  run('sh', ['-c', SHELL_LOOP, 'overwrite-loop', path, String(n), scratch]);

for (const writeBack of [false, true]) {
  t.test(`overwrite loops on ${kind}${writeBack ? ' with --write-back' : ''}`, async (t) => {
    const { server, s3, bucket } = await serverWithBucket(t, 'overwrite');
    const m = await mount(server, bucket, writeBack ? ['--write-back'] : []);
    t.teardown(() => m.unmount());
    const local = await mkdtemp(join(tmpdir(), 's3mount-overwrite-'));
    t.teardown(() => rm(local, { recursive: true, force: true }));
    const p = (rel: string) => join(m.dir, rel);
    /** S3 holds `want`; with write-back, once an fsync (which waits for S3 in both modes) is done */
    const s3Holds = async (t: Test, key: string, want: string, what: string) => {
      if (writeBack) await run('python3', ['-c', FSYNC, p(key)]);
      t.equal(sha256(await getBytes(s3, bucket, key)), want, what);
    };
    // fewer rounds with write-back: the mode adds no new interleaving per round
    const rounds = writeBack ? 1 / 3 : 1;

    t.test('a python loop rewrites one file', async (t) => {
      const r = await pythonLoop(p('checkpoint.bin'), Math.round(300 * rounds));
      noFailures(t, r, 'every overwrite succeeded');
      await s3Holds(t, 'checkpoint.bin', r.last, 'S3 holds the last write');
      t.equal(sha256(await readFile(p('checkpoint.bin'))), r.last, 'the mount reads the last write');
    });

    t.test('a shell loop rewrites one file', async (t) => {
      const r = await shellLoop(p('status.bin'), Math.round(100 * rounds), join(local, 'shell-scratch'));
      noFailures(t, r, 'every overwrite succeeded');
      await s3Holds(t, 'status.bin', r.last, 'S3 holds the last write');
    });

    t.test('processes overwrite their own files and one shared file at once', async (t) => {
      const n = Math.round(100 * rounds);
      const own = [0, 1, 2].map((k) => pythonLoop(p(`own-${k}.bin`), n));
      const shared = [
        pythonLoop(p('shared.bin'), n),
        pythonLoop(p('shared.bin'), n),
        shellLoop(p('shared.bin'), n, join(local, 'shared-scratch')),
      ];
      const results = await Promise.all([...own, ...shared]);
      results.forEach((r, k) => noFailures(t, r, `process ${k}: every overwrite succeeded`));
      for (let k = 0; k < 3; k++)
        await s3Holds(
          t,
          `own-${k}.bin`,
          (results[k] as LoopResult).last,
          `own-${k}.bin: S3 holds its process's last write`,
        );
      // the shared file's last bytes may interleave two processes' writes (as on any file
      // system): S3 must hold what the mount shows, and a later overwrite must win
      const seen = sha256(await readFile(p('shared.bin')));
      await s3Holds(t, 'shared.bin', seen, 'shared.bin: S3 holds what the mount shows');
      const after = await pythonLoop(p('shared.bin'), 3);
      noFailures(t, after, 'overwrites after the storm succeed');
      await s3Holds(t, 'shared.bin', after.last, 'shared.bin: S3 holds the last write');
    });

    t.test('the daemon logged no failed op', async (t) => {
      t.notMatch(m.output(), /(write|open|create|flush|release|truncate) failed/, 'no failed op in the log');
    });
  });
}
