// The background fill of --cache-dir keeps DISK_FILL_REQUESTS ranged GETs in flight as a
// sliding window: the next GET starts as soon as one is in, not once all of a step are.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockCache } from '../../../src/read/block-cache.js';
import { DISK_FILL_REQUESTS } from '../../../src/read/block-fetcher.js';
import { DiskCache, HEADER_BYTES } from '../../../src/read/disk-cache.js';
import { nullLogger } from '../../../src/log/logger.js';
import type { RangeRequest } from '../../../src/s3/store.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { eventually } from '../../fixtures/helpers.js';
import { testFetcher } from '../../fixtures/fetcher.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

const B = 64 * 1024;

/** a GET the test holds until it lets it go */
interface Held {
  req: RangeRequest;
  go: () => void;
  gone: boolean;
}

t.test('the fill starts its next GET as soon as one of its window is in', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-diskfill-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const disk = new DiskCache({
    dir,
    maxBytes: 400 * (B + HEADER_BYTES),
    namespace: 'ep\nb',
    blockBytes: B,
    logger: nullLogger(),
  });
  await disk.init();

  // every GET waits until the test lets it go
  const store = new MemoryObjectStore();
  const held: Held[] = [];
  store.beforeGet = (req) => new Promise<void>((go) => held.push({ req, go, gone: false }));
  const release = (h: Held) => {
    h.gone = true;
    h.go();
  };
  const data = randomBytes(40 * B);
  const etag = store.putBytes('k', data);
  const obj = { key: 'k', size: data.length, etag, version: etag };
  const fetcher = testFetcher(store, new BlockCache(16 * B), {
    blockBytes: B,
    requests: new Semaphore(16),
    getSlots: new Semaphore(16),
    disk,
  });

  t.ok(DISK_FILL_REQUESTS >= 2 && 4 * DISK_FILL_REQUESTS <= 28, 'the window fits the 32 blocks filled here');
  // a random read of the last block: its group (blocks 32-39) is fetched for it, and the
  // fill starts on blocks 0-31 in GETs of 4 blocks
  fetcher.ensureAround(obj, 39, 39);
  const fillStarts = () => held.filter((h) => !h.gone && h.req.start < 32 * B).map((h) => h.req.start / B);
  t.ok(await eventually(() => fillStarts().length === DISK_FILL_REQUESTS, 5000, 5), 'the window fills');
  await new Promise((r) => setTimeout(r, 50));
  const steps = (from: number) => Array.from({ length: DISK_FILL_REQUESTS }, (_, i) => from + 4 * i);
  t.same(fillStarts(), steps(0), `${DISK_FILL_REQUESTS} fill GETs in flight, no more`);

  // the first is in while the others wait: the next starts at once
  release(held.find((h) => h.req.start === 0) as Held);
  const next = 4 * DISK_FILL_REQUESTS;
  t.ok(
    await eventually(() => fillStarts().includes(next), 5000, 5),
    'the next GET starts while the rest of the window is still out',
  );
  t.same(fillStarts(), steps(4), 'the window stays full');

  // the rest goes through; every block is then on disk, each fetched once
  const drained = await eventually(
    () => {
      for (const h of held) if (!h.gone) release(h);
      return disk.stats().writes >= 40;
    },
    15_000,
    5,
  );
  t.ok(drained, 'the whole object is written');
  t.equal(fetcher.counters.bytes, data.length, 'each byte fetched once');
  for (const i of [0, 16, 31, 39]) {
    const got = await disk.read({ key: 'k', etag, size: data.length, index: i });
    t.ok(got?.equals(data.subarray(i * B, (i + 1) * B)), `block ${i} on disk, exact`);
  }
});
