// The flush barrier in-process: sync uploads what is written under the paths, waits
// through retryable failures, and returns the files that fail for good (still staged).
import t from 'tap';
import { StoreError } from '../../../src/s3/errors.js';
import { isWithin } from '../../../src/fs/pending-uploads.js';
import { testCore } from '../../fixtures/core.js';
import { FaultyObjectStore } from '../../fixtures/faulty-store.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

t.test('isWithin', async (t) => {
  t.ok(isWithin('/a/b', '/'));
  t.ok(isWithin('/a/b', '/a'));
  t.ok(isWithin('/a', '/a'));
  t.notOk(isWithin('/ab', '/a'), 'a sibling with the same prefix is not inside');
});

t.test('sync: uploads, retries, lists what fails for good', async (t) => {
  const memory = new MemoryObjectStore();
  const store = new FaultyObjectStore(memory);
  const core = await testCore(t, { store, flags: { 'write-back': true } });
  const { fs } = core;
  const write = async (path: string, text: string) => {
    const fh = await fs.create(path, 0o644);
    await fs.write(fh, Buffer.from(text), 0, text.length);
    await fs.flush(fh);
    await fs.release(fh);
  };
  await fs.mkdir('/keep', 0o755);
  await fs.mkdir('/deny', 0o755);
  // transient failures: sync waits through them
  store.failNth('put', 1).failNth('put', 2);
  await write('/keep/a.txt', 'aaa');
  const ok = await core.pending.sync(['/keep']);
  t.same(ok.failed, [], 'nothing under /keep failed');
  t.equal(memory.objects.get('keep/a.txt')?.data.toString(), 'aaa', 'in the store when sync returns');

  store.failAlways(
    'put',
    new StoreError('AccessDenied', 'access denied', { key: 'deny/b.txt', op: 'PutObject' }),
  );
  await write('/deny/b.txt', 'bbbb');
  t.equal(core.pending.list().length, 1, 'pending before sync');
  const progress: number[] = [];
  const r = await core.pending.sync(['/'], (p) => progress.push(p.filesLeft));
  t.equal(r.failed.length, 1, 'one file failed for good');
  t.equal(r.failed[0]?.path, '/deny/b.txt');
  t.match(r.failed[0]?.reason ?? '', /denied/);
  t.ok(progress.length > 0 && progress.at(-1) === 1, 'progress ends with the failed file left');
  const pending = core.pending.list();
  t.equal(pending.length, 1);
  t.equal(pending[0]?.parked, true, 'parked');
  t.equal(pending[0]?.bytes, 4);

  store.heal('put');
  const again = await core.pending.sync(['/deny/b.txt']);
  t.same(again.failed, [], 'a parked file is tried again by sync');
  t.equal(memory.objects.get('deny/b.txt')?.data.toString(), 'bbbb');
  t.same(core.pending.list(), [], 'nothing pending');
});
