// A mount command line with `--` in it detaches exactly once (issue #15: the child marker
// went after the `--`, so each child detached again, without end). Counts the processes.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { runS3mount, S3MOUNT_BIN, serverEnv } from '../fixtures/mount.js';
import { eventually } from '../fixtures/helpers.js';

const kind = serverKindFromEnv();
/** generous: a mount takes about a second; a re-detaching chain never finishes */
const MOUNT_DEADLINE_MS = 60_000;

/** Pids of the processes whose command line mentions `marker` (a unique temp path). */
async function processesWith(marker: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(marker)) out.push(Number(d));
  }
  return out;
}

/** Runs bin/s3mount and resolves with its exit code, or 'timeout' (the child is then killed). */
function runWithDeadline(args: string[], env: NodeJS.ProcessEnv): Promise<number | null | 'timeout'> {
  const child = spawn(process.execPath, [S3MOUNT_BIN, ...args], { env, stdio: 'ignore' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('timeout');
    }, MOUNT_DEADLINE_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

t.test(`a mount command line with -- detaches once, on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'dashdash');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'f.txt', Body: 'hi\n' }));
  const work = await mkdtemp(join(tmpdir(), 's3mount-dashdash-'));
  const mp = join(work, 'mnt');
  await mkdir(mp);
  t.teardown(async () => {
    // whatever this test started and left: unmount, then end each of its processes by pid
    spawn('fusermount', ['-uz', mp], { stdio: 'ignore' });
    // a re-detaching chain keeps starting processes: sweep until none is left
    for (let round = 0; round < 20; round++) {
      const pids = await processesWith(work);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    await rm(work, { recursive: true, force: true });
  });
  const env = serverEnv(server, {
    XDG_STATE_HOME: join(work, 'state'),
    XDG_CACHE_HOME: join(work, 'cache'),
  });

  for (const argv of [
    [bucket, mp, '--endpoint', server.endpoint, '--', 'x'],
    // the old marker's name after the `--` means nothing either
    [bucket, mp, '--endpoint', server.endpoint, '--', '--daemon-child'],
  ]) {
    t.test(`s3mount ${argv.join(' ')}`, async (t) => {
      const code = await runWithDeadline(argv, env);
      t.equal(code, 0, 'the mount command exits 0 in time');
      const settled = await eventually(async () => (await processesWith(work)).length <= 1, 5_000);
      const pids = await processesWith(work);
      t.ok(settled, `processes for this mount: ${pids.join(' ')}`);
      t.equal(pids.length, 1, 'exactly one daemon');
      t.equal(await readFile(join(mp, 'f.txt'), 'utf8'), 'hi\n', 'and it serves the bucket');
      const r = runS3mount(['unmount', mp], env);
      t.equal(r.status, 0, `unmounted ${r.stderr}`);
      t.same(await processesWith(work), [], 'the daemon is gone');
    });
  }
});
