// Files end at 5 TiB (S3's largest object): in the core, a write or truncate past it is
// EFBIG and changes nothing; the file is uploaded as it was. The native write path's
// check is tested against its model in test/unit/native/writes.ts.
import t from 'tap';
import { constants } from 'node:fs';
import { MAX_OBJECT_BYTES } from '../../../src/write/part-plan.js';
import { errnoOf, testCore, writeFile } from '../../fixtures/core.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

t.test('a write or truncate past 5 TiB is EFBIG and the file is kept', async (t) => {
  const store = new MemoryObjectStore();
  const { fs } = await testCore(t, { store });
  await writeFile(fs, '/f.txt', Buffer.from('keep me\n'));

  t.equal(await errnoOf(fs.truncate('/f.txt', MAX_OBJECT_BYTES + 1)), 'EFBIG', 'truncate by path');
  const fh = await fs.open('/f.txt', constants.O_RDWR);
  t.equal(await errnoOf(fs.write(fh, Buffer.from('x'), MAX_OBJECT_BYTES, 1)), 'EFBIG', 'a write at 5 TiB');
  t.equal(
    await errnoOf(fs.write(fh, Buffer.from('xy'), MAX_OBJECT_BYTES - 1, 2)),
    'EFBIG',
    'a write across 5 TiB',
  );
  t.equal(await errnoOf(fs.ftruncate(fh, MAX_OBJECT_BYTES + 1)), 'EFBIG', 'ftruncate');
  t.equal((await fs.getattr('/f.txt')).size, 8, 'the size is unchanged');
  await fs.write(fh, Buffer.from('K'), 0, 1);
  await fs.flush(fh);
  await fs.release(fh);
  t.same(store.objects.get('f.txt')?.data, Buffer.from('Keep me\n'), 'uploaded as written, nothing more');
});
