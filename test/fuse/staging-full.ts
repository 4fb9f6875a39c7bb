// A full staging disk: a write that does not fit fails with ENOSPC, both when the FUSE
// thread writes the staged file (native) and when JavaScript does (--no-native), and
// the files staged before it keep their data. The staging dir is a 1 MiB tmpfs.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';
import { eventually, getObjectOrUndefined, sha256, stagedData } from '../fixtures/helpers.js';
import { mount } from '../fixtures/mount.js';

const kind = serverKindFromEnv();
const KiB = 1024;
/** the staging disk: small enough to fill in a moment, large enough for a few files */
const TMPFS_SIZE = '1m';

const isRoot = process.getuid?.() === 0;

t.test(
  `a full staging disk on ${kind}`,
  { skip: isRoot ? false : 'mounting a tmpfs needs root' },
  async (t) => {
    const { server, s3, bucket } = await serverWithBucket(t, 'full');

    for (const how of ['native', 'no-native'] as const) {
      t.test(how, async (t) => {
        const staging = await mkdtemp(join(tmpdir(), 's3mount-tmpfs-staging-'));
        t.teardown(async () => {
          spawnSync('umount', [staging], { stdio: 'ignore' });
          await rmdir(staging).catch(() => undefined); // rmdir only: never remove what a failed umount left mounted
        });
        const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', staging], {
          encoding: 'utf8',
        });
        if (r.status !== 0) {
          t.plan(0, `cannot mount a tmpfs: ${r.stderr}`); // skipped
          return;
        }
        const m = await mount(
          server,
          bucket,
          how === 'no-native' ? ['--no-native'] : [],
          {},
          { stagingDir: staging },
        );
        t.teardown(() => m.unmount());

        // staged and kept open: its data must survive the disk filling up
        const early = randomBytes(300 * KiB);
        const a = await open(join(m.dir, `${how}-early.bin`), 'w');
        let aOpen = true;
        t.teardown(() => (aOpen ? a.close().catch(() => undefined) : undefined));
        await a.write(early);
        await a.sync().catch(() => undefined); // not what this test is about: an fsync uploads

        const big = await open(join(m.dir, `${how}-big.bin`), 'w');
        const chunk = randomBytes(128 * KiB);
        let err: NodeJS.ErrnoException | undefined;
        try {
          for (let i = 0; i < 16; i++) await big.write(chunk); // 2 MiB into 1 MiB
        } catch (e) {
          err = e as NodeJS.ErrnoException;
        }
        t.equal(err?.code, 'ENOSPC', 'writing past the staging disk fails with ENOSPC');
        await big.close().catch(() => undefined); // uploads what fitted, or fails: either is fine here

        t.ok(
          (await stagedData(staging)).some((b) => sha256(b) === sha256(early)),
          'the file staged before is intact on disk',
        );
        t.equal(
          sha256(await readFile(join(m.dir, `${how}-early.bin`))),
          sha256(early),
          'and reads back intact',
        );
        aOpen = false;
        await a.close();
        t.ok(
          await eventually(
            async () =>
              sha256((await getObjectOrUndefined(s3, bucket, `${how}-early.bin`)) ?? Buffer.alloc(0)) ===
              sha256(early),
            30_000,
          ),
          'and is uploaded intact',
        );
      });
    }
  },
);
