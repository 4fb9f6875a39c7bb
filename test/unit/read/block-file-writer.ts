// BlockFileWriter: a block file written on a thread from shared memory, or here from
// ordinary memory, lands whole under its name with the data's CRC-32 in its header; its
// directory is made when asked (or when it went missing); a write that cannot be done
// rejects and leaves no temporary file.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { BlockFileWriter, WRITE_CHUNK } from '../../../src/read/block-file-writer.js';

const HEADER = 64;

t.test('files land whole, with the CRC-32 of their data, from shared or ordinary memory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-bfw-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const w = new BlockFileWriter(HEADER + 4096);
  t.teardown(() => w.close());
  const cases = [
    ['a slot (shared memory, a thread)', w.slot(HEADER + 4096)],
    ['a short slot', w.slot(HEADER + 100)],
    ['ordinary memory (written here)', Buffer.alloc(HEADER + 5000)],
  ] as const;
  for (const [i, [what, file]] of cases.entries()) {
    t.equal(file.buffer instanceof SharedArrayBuffer, i < 2, `${what}: the memory it is`);
    file.fill(0, 0, HEADER);
    randomBytes(file.length - HEADER).copy(file, HEADER);
    const path = join(dir, `d${i}`, 'block');
    await w.write({ file, headerBytes: HEADER, tmp: join(dir, `.tmp-${i}`), path, mkdir: true });
    const got = await readFile(path);
    t.ok(got.subarray(HEADER).equals(file.subarray(HEADER)), `${what}: the data`);
    t.equal(got.readUInt32LE(48), crc32(file.subarray(HEADER)), `${what}: its CRC-32 in the header`);
    w.release(file);
  }
  t.same(
    (await readdir(dir)).filter((n) => n.startsWith('.tmp')),
    [],
    'no temporary file left',
  );
  const again = w.slot(HEADER + 10);
  t.equal(again.buffer, cases[1][1].buffer, 'a released slot is used again');
});

t.test('a file of several WRITE_CHUNKs lands whole, piece after piece', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-bfw-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const length = HEADER + 3 * WRITE_CHUNK + 1000; // (not a multiple: a short last piece)
  const w = new BlockFileWriter(length);
  t.teardown(() => w.close());
  for (const [i, file] of [w.slot(length), Buffer.alloc(length)].entries()) {
    file.fill(0, 0, HEADER);
    randomBytes(length - HEADER).copy(file, HEADER);
    const path = join(dir, `big${i}`);
    await w.write({ file, headerBytes: HEADER, tmp: join(dir, `.tmp-big${i}`), path, mkdir: false });
    const got = await readFile(path);
    const where = i === 0 ? 'from a thread' : 'written here';
    t.equal(got.length, length, `${where}: its length`);
    t.ok(got.subarray(HEADER).equals(file.subarray(HEADER)), `${where}: every piece in its place`);
  }
});

t.test('a missing directory is made; a write that cannot be done rejects and leaves nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-bfw-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const w = new BlockFileWriter(HEADER + 1024);
  t.teardown(() => w.close());
  const file = w.slot(HEADER + 1024);
  const path = join(dir, 'gone', 'block');
  await w.write({ file, headerBytes: HEADER, tmp: join(dir, '.tmp-a'), path, mkdir: false });
  t.ok((await readFile(path)).length === file.length, 'renamed into a directory made for it');
  await t.rejects(
    w.write({
      file,
      headerBytes: HEADER,
      tmp: join(dir, '.tmp-b'),
      path: join(dir, 'gone', 'block', 'x'),
      mkdir: false,
    }),
    'a path that cannot be: rejected',
  );
  t.same(
    (await readdir(dir)).filter((n) => n.startsWith('.tmp')),
    [],
    'its temporary file removed',
  );
});
