// The filesystem core refuses names over 255 bytes and keys over 1,024 bytes with
// ENAMETOOLONG, before any S3 request: at create, mkdir, symlink and rename, and at lookups.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3FileSystem } from '../../../src/fs/filesystem.js';
import { Namespace } from '../../../src/fs/namespace.js';
import { OpenFiles } from '../../../src/fs/open-files.js';
import { nullLogger } from '../../../src/log/logger.js';
import { MetadataCache } from '../../../src/meta/metadata.js';
import { BlockCache } from '../../../src/read/block-cache.js';
import { testFetcher } from '../../fixtures/fetcher.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { Semaphore } from '../../../src/util/semaphore.js';
import { PartBuffers } from '../../../src/write/part-buffers.js';
import { StagingArea } from '../../../src/write/staging.js';
import { UploadQueue } from '../../../src/write/upload-queue.js';
import { Uploader } from '../../../src/write/uploader.js';

const MiB = 1024 * 1024;

async function setup(t: { teardown(f: () => unknown): void }, prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-unit-fs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new MemoryObjectStore();
  const logger = nullLogger();
  const requests = new Semaphore(4);
  const meta = new MetadataCache({
    store,
    prefix,
    clock: new ManualClock(1_000_000),
    logger,
    ttlMs: 10_000,
    negativeTtlMs: 2_000,
  });
  const fetcher = testFetcher(store, new BlockCache(16 * MiB), {
    requests,
    getSlots: new Semaphore(2),
    blockBytes: MiB,
    requestBytes: MiB,
  });
  const staging = new StagingArea(dir, 'm', logger);
  await staging.init();
  const parts = new PartBuffers(1, 5 * MiB);
  const uploader = new Uploader({ store, requests, parts, partBytes: 5 * MiB, partConcurrency: 1, logger });
  const queue = new UploadQueue({ uploader, logger, retryBaseMs: 10, retryMaxMs: 40 });
  const openFiles = new OpenFiles({
    staging,
    store,
    meta,
    queue,
    prefix,
    writeBack: false,
    logger,
    uid: 1,
    gid: 1,
  });
  t.teardown(() => queue.stop());
  const namespace = new Namespace({
    store,
    meta,
    prefix,
    requests,
    copy: { store, requests, thresholdBytes: 5 * 1024 * MiB, partBytes: 5 * MiB, partConcurrency: 1 },
    logger,
  });
  const fs = new S3FileSystem({
    meta,
    fetcher,
    openFiles,
    namespace,
    prefix,
    logger,
    uid: 1,
    gid: 1,
    fileMode: 0o644,
    dirMode: 0o755,
    readOnly: false,
    objectMetadata: false,
    readAheadBytes: MiB,
    mountTimeMs: 0,
  });
  return { fs, store };
}

const requests = (store: MemoryObjectStore) => Object.values(store.calls).reduce((a, b) => a + b, 0);

t.test('names over 255 bytes', async (t) => {
  const { fs, store } = await setup(t, '');
  const long = `/${'é'.repeat(128)}`; // 256 bytes
  const calls = requests(store);
  await t.rejects(fs.create(long, 0o644), { code: 'ENAMETOOLONG' }, 'create');
  await t.rejects(fs.mkdir(long, 0o755), { code: 'ENAMETOOLONG' }, 'mkdir');
  await t.rejects(fs.symlink('x', long), { code: 'ENAMETOOLONG' }, 'symlink');
  await t.rejects(fs.rename('/a', long), { code: 'ENAMETOOLONG' }, 'rename to it');
  await t.rejects(fs.getattr(long), { code: 'ENAMETOOLONG' }, 'lookup');
  await t.rejects(fs.getattr(`${long}/x`), { code: 'ENAMETOOLONG' }, 'lookup below it');
  await t.rejects(fs.open(long, 0), { code: 'ENAMETOOLONG' }, 'open');
  await t.rejects(fs.unlink(long), { code: 'ENAMETOOLONG' }, 'unlink');
  t.equal(requests(store), calls, 'without a single S3 request');

  const ok = `/${'x'.repeat(255)}`;
  const fh = await fs.create(ok, 0o644);
  await fs.write(fh, Buffer.from('hi'), 0, 2);
  await fs.flush(fh);
  await fs.release(fh);
  t.equal(store.objects.get(ok.slice(1))?.data.toString(), 'hi', 'a 255-byte name works');
});

t.test('keys over 1,024 bytes, the prefix included', async (t) => {
  const prefix = 'pre/fix/'; // 8 bytes
  const { fs, store } = await setup(t, prefix);
  const dir = `/${'d'.repeat(200)}`.repeat(5); // 1,004 bytes of key below the prefix
  store.putBytes(`${prefix}${dir.slice(1)}/`, '');
  const fits = `${dir}/${'f'.repeat(1024 - 8 - 1005)}`;
  const calls = requests(store);
  await t.rejects(fs.create(`${fits}x`, 0o644), { code: 'ENAMETOOLONG' }, 'create');
  await t.rejects(
    fs.mkdir(fits, 0o755),
    { code: 'ENAMETOOLONG' },
    'mkdir: the marker "dir/" is one byte longer',
  );
  await t.rejects(fs.getattr(`${fits}x`), { code: 'ENAMETOOLONG' }, 'lookup');
  t.equal(requests(store), calls, 'without a single S3 request');
  const fh = await fs.create(fits, 0o644);
  await fs.flush(fh);
  await fs.release(fh);
  t.ok(store.objects.has(`${prefix}${fits.slice(1)}`), 'a 1,024-byte key works');
  await t.rejects(
    fs.rename(`/${'d'.repeat(200)}`, `/${'e'.repeat(201)}`),
    { code: 'ENAMETOOLONG' },
    'a directory whose keys would grow past the limit',
  );
  t.ok(
    store.objects.has(`${prefix}${fits.slice(1)}`) &&
      ![...store.objects.keys()].some((k) => k.startsWith(`${prefix}e`)),
    'nothing copied or moved',
  );
});
