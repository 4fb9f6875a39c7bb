import t from 'tap';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../../src/log/logger.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { StoreError } from '../../../src/s3/errors.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { StagingArea } from '../../../src/write/staging.js';
import { UploadQueue } from '../../../src/write/upload-queue.js';
import { Uploader } from '../../../src/write/uploader.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import { eventually, orThrow } from '../../fixtures/helpers.js';

async function setup(t: { teardown(f: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-staging-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new MemoryObjectStore();
  const staging = new StagingArea(dir, 'm1', nullLogger());
  await staging.init();
  const uploader = new Uploader({
    store,
    requests: new Semaphore(4),
    parts: new PartBuffers(2, 5 * 1024 * 1024),
    partBytes: 5 * 1024 * 1024,
    partConcurrency: 2,
    logger: nullLogger(),
  });
  const queue = new UploadQueue({
    uploader,
    logger: nullLogger(),
    retryBaseMs: 10,
    retryMaxMs: 40,
  });
  t.teardown(() => queue.stop());
  return { dir, store, staging, uploader, queue };
}

t.test('a failed upload is reported, kept, and retried until it succeeds', async (t) => {
  const { dir, store, staging, queue } = await setup(t);
  const f = await staging.create('k', { mode: '33188' });
  await f.write(Buffer.from('hello'), 0);
  const realPut = store.put.bind(store);
  let fail = 2;
  store.put = async (p) => {
    if (fail-- > 0) throw new StoreError('Unreachable', 'down');
    return realPut(p);
  };
  const outcome = await queue.uploadNow(f);
  t.match(
    outcome,
    { kind: 'failed', error: { name: 'StoreError', kind: 'Unreachable' } },
    'the caller sees the failure',
  );
  t.equal(f.state, 'failed', 'the file says so');
  t.ok(
    (await readdir(dir)).some((n) => n.endsWith('.data')),
    'still staged',
  );
  if (outcome.kind !== 'failed') return;
  const retried = await outcome.retry; // the background retries' end: the queue calls no one back
  t.match(
    retried,
    { kind: 'uploaded', size: 5, etag: store.objects.get('k')?.etag },
    'the retries report their upload',
  );
  t.equal(store.objects.get('k')?.data.toString(), 'hello', 'uploaded by the retries');
  t.equal(store.objects.get('k')?.metadata.mode, '33188', 'with its metadata');
  t.equal(f.state, 'uploaded');
  t.same(await queue.uploadNow(f), { kind: 'clean' }, 'nothing left to upload');
  await queue.drain();
  await f.remove();
  t.same(await readdir(dir), [], 'removed by its owner');
});

t.test('write-back: schedule answers with the end of the background work', async (t) => {
  const { store, staging, queue } = await setup(t);
  const f = await staging.create('wb', {});
  await f.write(Buffer.from('one'), 0);
  store.put = ((real) => {
    let fail = 1;
    return async (p: Parameters<typeof real>[0]) => {
      if (fail-- > 0) throw new StoreError('Unreachable', 'down');
      return real(p);
    };
  })(store.put.bind(store));
  const outcome = await queue.schedule(f);
  t.match(outcome, { kind: 'uploaded', size: 3 }, 'uploaded after one retry');
  t.equal(store.objects.get('wb')?.data.toString(), 'one');

  const g = await staging.create('gone', {});
  await g.write(Buffer.from('two'), 0);
  store.put = async () => {
    throw new StoreError('Unreachable', 'down');
  };
  const pending = queue.schedule(g);
  queue.forget(g); // unlinked meanwhile
  t.same(await pending, { kind: 'superseded', why: 'forgotten' }, 'a forgotten file ends as superseded');
  t.same(await queue.uploadNow(g), { kind: 'superseded', why: 'forgotten' }, 'and is never uploaded again');
  t.ok(
    await eventually(() => g.state === 'failed', 5000, 5),
    'the attempt under way when it was forgotten failed',
  );
  await new Promise((r) => setTimeout(r, 100)); // when a retry would have come: none does
  t.equal(queue.pending, 0, 'nothing pending');
  await queue.drain(); // returns: a forgotten file is not waited for
  await Promise.all([f.remove(), g.remove()]);
});

t.test('multipart above the part size, parts in order', async (t) => {
  const { store, staging, queue } = await setup(t);
  const f = await staging.create('big', {});
  const data = Buffer.alloc(12 * 1024 * 1024 + 3);
  for (let i = 0; i < data.length; i += 4096) data[i] = i % 251;
  await f.write(data, 0);
  await orThrow(queue.uploadNow(f));
  t.equal(store.calls.uploadPart, 3);
  t.ok(store.objects.get('big')?.data.equals(data), 'byte-exact');
});

t.test('a restarted daemon finds staged files of its mount only', async (t) => {
  const { dir, staging } = await setup(t);
  const f = await staging.create('left/behind', {});
  await f.write(Buffer.from('data'), 0);
  const other = new StagingArea(dir, 'another-mount', nullLogger());
  t.same((await other.recover()).length, 0, 'another mount does not take it');
  const again = new StagingArea(dir, 'm1', nullLogger());
  const found = await again.recover();
  t.equal(found.length, 1);
  t.equal(found[0]?.key, 'left/behind');
  t.equal(found[0]?.size, 4);
});

t.test('parts of a file written front to back go out while it is written', async (t) => {
  const { store, staging, uploader, queue } = await setup(t);
  const { EagerUpload } = await import('../../../src/write/eager-upload.js');
  const P = 5 * 1024 * 1024;
  const deps = {
    store,
    requests: new Semaphore(4),
    parts: new PartBuffers(2, 5 * 1024 * 1024),
    logger: nullLogger(),
  };
  const f = await staging.create('seq', {});
  f.eager = new EagerUpload(f, P, deps);
  const data = Buffer.alloc(3 * P + 123);
  for (let i = 0; i < data.length; i += 1000) data[i] = (i / 1000) % 251;
  for (let off = 0; off < data.length; off += 128 * 1024)
    await f.write(data.subarray(off, Math.min(data.length, off + 128 * 1024)), off);
  // the parts wait for their upload to be recorded in the staging record: poll, do not guess
  await eventually(() => store.calls.uploadPart === 3, 2000, 20);
  t.equal(store.calls.uploadPart, 3, 'three full parts uploaded before close');
  await orThrow(queue.uploadNow(f));
  t.equal(store.calls.uploadPart, 4, 'close sends only the tail');
  t.ok(store.objects.get('seq')?.data.equals(data), 'byte-exact');
  void uploader;

  const g = await staging.create('rewritten', {});
  g.eager = new EagerUpload(g, P, deps);
  await g.write(data, 0);
  await g.write(Buffer.from('CHANGED'), 10); // behind the uploaded parts: abandons them
  await orThrow(queue.uploadNow(g));
  const want = Buffer.from(data);
  want.write('CHANGED', 10);
  t.ok(
    store.objects.get('rewritten')?.data.equals(want),
    'a write into an uploaded part falls back to a whole upload',
  );
});

t.test(
  'a failure retrying cannot fix parks the file: kept, reported, not retried, not drained',
  async (t) => {
    const { dir, store, staging, queue } = await setup(t);
    const f = await staging.create('over/quota', {});
    await f.write(Buffer.from('data'), 0);
    const realPut = store.put.bind(store);
    let puts = 0;
    let refuse = true;
    store.put = async (p) => {
      puts++;
      if (refuse)
        throw new StoreError('QuotaExceeded', 'quota exceeded', { status: 403, code: 'QuotaExceeded' });
      return realPut(p);
    };
    t.match(
      await queue.uploadNow(f),
      { kind: 'parked', reason: 'quota exceeded', error: { name: 'StoreError', kind: 'QuotaExceeded' } },
      'the caller sees the failure',
    );
    t.match(
      queue.parked(),
      [{ key: 'over/quota', path: 'over/quota', reason: 'quota exceeded', stagedPath: f.dataPath }],
      'listed as parked',
    );
    t.equal(queue.pending, 0, 'not pending');
    await new Promise((r) => setTimeout(r, 100)); // retries would come after 10, 20, 40 ms
    t.equal(puts, 1, 'not retried');
    await queue.drain(); // returns at once: nothing it could do
    t.equal(puts, 1, 'drain does not try it');
    t.ok(
      (await readdir(dir)).some((n) => n.endsWith('.data')),
      'still staged',
    );

    refuse = false; // the quota was raised: the next mount tries once more
    const [again] = await new StagingArea(dir, 'm1', nullLogger()).recover();
    if (!again) {
      t.fail('not recovered');
      return;
    }
    await orThrow(queue.uploadNow(again));
    t.equal(store.objects.get('over/quota')?.data.toString(), 'data', 'uploaded by the next attempt');
  },
);

t.test('a parked file written again is tried again at close; a transient failure is retried', async (t) => {
  const { store, staging, queue } = await setup(t);
  const f = await staging.create('k', {});
  await f.write(Buffer.from('one'), 0);
  const realPut = store.put.bind(store);
  const errors = [
    new StoreError('AccessDenied', 'access denied', { status: 403 }),
    new StoreError('Other', 'internal error', { status: 500 }),
  ];
  store.put = async (p) => {
    const e = errors.shift();
    if (e) throw e;
    return realPut(p);
  };
  await t.rejects(orThrow(queue.uploadNow(f)), { name: 'StoreError', kind: 'AccessDenied' }, 'parked');
  t.equal(queue.parked().length, 1);
  await f.write(Buffer.from('two'), 0);
  await t.rejects(
    orThrow(queue.uploadNow(f)),
    { name: 'StoreError', kind: 'Other' },
    'a new close tries again; a 500 fails it',
  );
  t.same(queue.parked(), [], 'no longer parked: a 500 may go away');
  await queue.drain();
  t.equal(store.objects.get('k')?.data.toString(), 'two', 'retried until it succeeded');
});
