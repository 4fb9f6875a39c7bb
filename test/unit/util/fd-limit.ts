// openFilesLimit: the soft RLIMIT_NOFILE from /proc/self/limits, or the fallback.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFilesLimit } from '../../../src/util/fd-limit.js';

t.test('reads the soft limit, and falls back when it cannot', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-fdlimit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = async (text: string) => {
    const p = join(dir, `limits-${Math.random()}`);
    await writeFile(p, text);
    return p;
  };
  const header = 'Limit                     Soft Limit           Hard Limit           Units     \n';
  t.equal(
    openFilesLimit(
      1024,
      await file(`${header}Max open files            4096                 524288               files     \n`),
    ),
    4096,
    'the soft limit, not the hard one',
  );
  t.equal(
    openFilesLimit(
      1024,
      await file(`${header}Max open files            unlimited            unlimited            files     \n`),
    ),
    1024,
    'unlimited: the fallback',
  );
  t.equal(openFilesLimit(77, join(dir, 'missing')), 77, 'no file: the fallback');
  t.ok(openFilesLimit() > 0, 'this process has one');
});
