// The staged file's upload states (src/write/staged-state.ts): every legal transition,
// every illegal one refused, and a staged file walked through them by the upload queue.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../../src/log/logger.js';
import { StoreError } from '../../../src/s3/errors.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import {
  IllegalTransition,
  INITIAL_STATE,
  transition,
  type StagedEvent,
  type StagedState,
  type StagedStateName,
} from '../../../src/write/staged-state.js';
import { StagingArea } from '../../../src/write/staging.js';
import { UploadQueue } from '../../../src/write/upload-queue.js';
import { Uploader } from '../../../src/write/uploader.js';
import { FaultyObjectStore } from '../../fixtures/faulty-store.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const at = (name: StagedStateName, generation = 5): StagedState => ({ name, generation });
const STATES: StagedStateName[] = ['dirty', 'uploading', 'uploaded', 'failed'];
const EVENTS: StagedEvent[] = [
  { kind: 'change' },
  { kind: 'same-as-object' },
  { kind: 'upload-start' },
  { kind: 'upload-done', generation: 5 },
  { kind: 'upload-failed' },
  { kind: 'upload-overtaken' },
];

/** from → event → to (generation 5 before); absent: illegal */
const LEGAL: Record<StagedStateName, Partial<Record<StagedEvent['kind'], StagedState>>> = {
  dirty: {
    change: at('dirty', 6),
    'same-as-object': at('uploaded'),
    'upload-start': at('uploading'),
  },
  uploading: {
    change: at('uploading', 6),
    'upload-done': at('uploaded'),
    'upload-failed': at('failed'),
    'upload-overtaken': at('dirty'),
  },
  uploaded: { change: at('dirty', 6) },
  failed: { change: at('dirty', 6), 'upload-start': at('uploading') },
};

t.test('the transition table, legal and illegal', async (t) => {
  t.same(INITIAL_STATE, { name: 'dirty', generation: 0 }, 'a new staged file is dirty');
  for (const from of STATES)
    for (const e of EVENTS) {
      const want = LEGAL[from][e.kind];
      if (want) t.same(transition(at(from), e), want, `${from} --${e.kind}--> ${want.name}`);
      else t.throws(() => transition(at(from), e), IllegalTransition, `${from} --${e.kind}--> refused`);
    }
});

t.test('an upload of an older generation leaves the file dirty; one of a future one is a bug', async (t) => {
  t.same(transition(at('uploading', 7), { kind: 'upload-done', generation: 5 }), at('dirty', 7));
  t.throws(() => transition(at('uploading', 5), { kind: 'upload-done', generation: 6 }), IllegalTransition);
});

t.test('a staged file through the queue: dirty → uploading → failed → uploading → uploaded', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-states-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const mem = new MemoryObjectStore();
  const store = new FaultyObjectStore(mem);
  const logger = nullLogger();
  const P = 5 * 1024 * 1024;
  const uploader = new Uploader({
    store,
    requests: new Semaphore(2),
    parts: new PartBuffers(1, P),
    partBytes: P,
    partConcurrency: 1,
    logger,
  });
  const queue = new UploadQueue({ uploader, logger, retryBaseMs: 60_000, retryMaxMs: 60_000 });
  t.teardown(() => queue.stop());
  const staging = new StagingArea(dir, 'm', logger);
  await staging.init();
  const f = await staging.create('k', {});
  t.teardown(() => f.remove());
  t.equal(f.state, 'dirty', 'created: dirty (close creates the object even if nothing is written)');
  const seen: StagedStateName[] = [];
  const realPut = store.put.bind(store);
  store.put = async (p) => {
    seen.push(f.state);
    return realPut(p);
  };
  store.failNth('put', 1, new StoreError('Unreachable', 'down'));
  await f.write(Buffer.from('abc'), 0);
  t.equal(f.generation, 1, 'a write is a new generation');
  const first = await queue.uploadNow(f);
  t.equal(first.kind, 'failed');
  t.equal(f.state, 'failed', 'failed after the attempt');
  t.same(seen, ['uploading'], 'uploading while the PUT ran');
  t.same(await queue.uploadNow(f), {
    kind: 'uploaded',
    etag: mem.objects.get('k')?.etag,
    size: 3,
    generation: 1,
    metadata: mem.objects.get('k')?.metadata, // with the content's SHA-256 (write/checksum.ts)
  });
  t.equal(f.state, 'uploaded');
  t.notOk(f.dirty);
  await f.setMetadata({ mode: '33261' });
  t.equal(f.state, 'dirty', 'a metadata change makes it dirty again');
  t.equal(f.generation, 2);
  t.throws(() => f.transition({ kind: 'upload-failed' }), IllegalTransition, 'the file refuses illegal news');
  t.equal(f.state, 'dirty', 'and stays as it was');
});
