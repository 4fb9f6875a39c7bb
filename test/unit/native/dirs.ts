// The native directory streams (native/fuse-native/s3m-dirs.h: opendir, readdir handing
// out each page as JavaScript pushes it, releasedir) against their model
// (test/fixtures/native/dir-model.ts): random opendirs, readdirs at offsets with little
// room, listings taken and pushed (also to finished and reused streams), compared after
// every one. A readdir that would wait is carried on later, as a FUSE thread does when a
// push wakes it. Then named cases, the last one with a real thread waiting.
import t from 'tap';
import { STAT_FIELDS, STAT_INTS } from '../../../src/fuse/native.js';
import { DirModel } from '../../fixtures/native/dir-model.js';
import { freshNative, loadTestBinding, type Filled } from '../../fixtures/native/binding.js';
import { sequences } from '../../fixtures/native/differential.js';
import { eventually } from '../../fixtures/helpers.js';

const b = loadTestBinding();
const LIMITS = b.s3m_test_limits();
const ENOMEM = 12;
const PATHS = ['/', '/d', '/d/e'];
const NAMES = ['a', 'b', 'c.txt', 'ü', 'x'.repeat(1022), '😀'.repeat(256)];

function statsFor(names: string[], mode = (i: number) => 0o100644 + i): Uint32Array {
  const s = new Uint32Array(names.length * STAT_INTS);
  names.forEach((_, i) => (s[i * STAT_INTS + STAT_FIELDS.mode] = mode(i)));
  return s;
}

void sequences(t, 'directory streams', { seeds: 5, ops: 300 }, (rng, log) => {
  freshNative(b);
  const model = new DirModel(LIMITS.dirs);
  /** open handles: their path, where the next readdir goes on, and a readdir that waits */
  const handles = new Map<
    number,
    { path: string; next: number; waiting?: { offset: number; room: number } }
  >();
  const ids: number[] = [];
  let listed = 0;
  const compare = (what: string, c: Filled, m: Filled) => {
    log.same(what, c, m);
    listed += c.names.length;
  };
  return {
    step: () => {
      const op = rng.weighted({ opendir: 1, releasedir: 0.7, readdir: 5, take: 2, push: 4 });
      const open = [...handles.keys()];
      switch (op) {
        case 'opendir': {
          if (handles.size >= 16) break;
          const path = rng.pick(PATHS);
          log.add(`opendir ${path}`);
          const h = b.s3m_test_opendir(path);
          log.same('handle', h, model.opendir());
          handles.set(h, { path, next: 0 });
          break;
        }
        case 'releasedir': {
          // the kernel releases a handle once no readdir on it is under way
          const idle = open.filter((h) => !handles.get(h)?.waiting);
          if (idle.length === 0) break;
          const h = rng.pick(idle);
          log.add(`releasedir ${h}`);
          b.s3m_test_releasedir(h, handles.get(h)?.path ?? '');
          model.releasedir(h);
          handles.delete(h);
          break;
        }
        case 'readdir': {
          if (open.length === 0) break;
          const h = rng.pick(open);
          const st = handles.get(h) as {
            path: string;
            next: number;
            waiting?: { offset: number; room: number };
          };
          let c: Filled;
          let m: Filled;
          const room = rng.pick([1, 2, 3, 100]);
          if (st.waiting) {
            const { offset } = st.waiting;
            log.add(`readdir ${h} carries on at ${offset}`);
            c = b.s3m_test_readdir_resume(h, offset, st.waiting.room);
            m = model.resume(h, offset, st.waiting.room);
          } else {
            const offset = rng.pick([0, st.next, st.next, st.next, rng.int(st.next + 3)]);
            log.add(`readdir ${h} at ${offset} room ${room}`);
            c = b.s3m_test_readdir(h, st.path, offset, room);
            m = model.readdir(h, st.path, offset, room);
            st.waiting = { offset, room };
          }
          compare(`readdir ${h}`, c, m);
          if (c.res !== null) {
            st.next = c.offsets.at(-1) ?? st.waiting.offset;
            delete st.waiting;
          }
          break;
        }
        case 'take': {
          log.add('take');
          const asked = b.s3m_dir_take();
          log.same('requests', asked, model.take());
          for (let i = 0; i < asked.length; i += 2) ids.push(asked[i] as number);
          break;
        }
        case 'push': {
          if (ids.length === 0) break;
          const id = rng.chance(0.9) ? rng.pick(ids.slice(-8)) : rng.pick(ids) + LIMITS.dirs * rng.int(3);
          const names = Array.from({ length: rng.int(4) }, () =>
            rng.pick(NAMES.slice(0, rng.chance(0.9) ? 4 : 6)),
          );
          const done = rng.chance(0.3);
          const errno = done && rng.chance(0.2) ? rng.pick([2, 5]) : 0;
          const stats = statsFor(names, () => rng.int(0o200000));
          log.add(`push ${id} ${names.length} names${done ? ` done ${errno}` : ''}`);
          log.same(
            'push',
            b.s3m_dir_push(id, names, stats, done ? 1 : 0, errno) === 1,
            model.push(id, names, stats, done, errno),
          );
          break;
        }
      }
    },
    done: () => listed,
  };
});

/** a stream on a new handle of `path`, whose readdir at 0 waits: its handle and id */
function started(path: string): { h: number; id: number } {
  const h = b.s3m_test_opendir(path);
  const first = b.s3m_test_readdir(h, path, 0, 10);
  if (first.res !== null) throw new Error('expected the first readdir to wait');
  const asked = b.s3m_dir_take();
  return { h, id: asked[0] as number };
}

t.test('entries are handed out as they are pushed, in pages that fit, each with its offset', async (t) => {
  freshNative(b);
  const { h, id } = started('/d');
  t.equal(
    b.s3m_dir_push(
      id,
      ['a', 'b', 'c'],
      statsFor(['a', 'b', 'c'], () => 0o40755),
      0,
      0,
    ),
    1,
  );
  t.same(b.s3m_test_readdir_resume(h, 0, 2), {
    res: 0,
    names: ['a', 'b'],
    modes: [0o40755, 0o40755],
    offsets: [1, 2],
  });
  t.same(b.s3m_test_readdir(h, '/d', 2, 10).names, ['c'], 'the next page at offset 2');
  t.equal(b.s3m_test_readdir(h, '/d', 3, 10).res, null, 'nothing more yet: it waits');
  b.s3m_dir_push(id, [], new Uint32Array(0), 1, 0);
  t.same(b.s3m_test_readdir_resume(h, 3, 10), { res: 0, names: [], modes: [], offsets: [] }, 'done: the end');
  b.s3m_test_releasedir(h, '/d');
});

t.test('a failed listing ends with its errno once what it had is handed out', async (t) => {
  freshNative(b);
  const { h, id } = started('/');
  b.s3m_dir_push(id, ['a'], statsFor(['a']), 1, 5);
  t.same(b.s3m_test_readdir_resume(h, 0, 10).names, ['a']);
  t.equal(b.s3m_test_readdir(h, '/', 1, 10).res, -5, '-EIO');
  t.equal(b.s3m_dir_push(id, ['late'], statsFor(['late']), 1, 0), 0, 'a finished stream takes no more');
  b.s3m_test_releasedir(h, '/');
});

t.test('a rewind lists afresh; the old stream is freed once JavaScript finishes it', async (t) => {
  freshNative(b);
  const { h, id } = started('/');
  t.equal(b.s3m_test_readdir(h, '/', 0, 10).res, null, 'offset 0 again: a new stream');
  const again = b.s3m_dir_take();
  t.equal(again.length, 2, 'JavaScript is asked again');
  t.not(again[0], id, 'under a new id');
  t.equal(b.s3m_dir_push(id, [], new Uint32Array(0), 1, 0), 1, 'the old one is still live until done');
  t.equal(b.s3m_dir_push(id, [], new Uint32Array(0), 1, 0), 0, 'then gone');
  b.s3m_dir_push(again[0] as number, [], new Uint32Array(0), 1, 0);
  b.s3m_test_releasedir(h, '/');
});

t.test('with every stream in use, readdir answers ENOMEM', async (t) => {
  freshNative(b);
  const hs = Array.from({ length: LIMITS.dirs }, () => started('/').h);
  const extra = b.s3m_test_opendir('/');
  t.equal(b.s3m_test_readdir(extra, '/', 0, 10).res, -ENOMEM);
  for (const h of [...hs, extra]) b.s3m_test_releasedir(h, '/');
});

t.test(
  'regression: a name too long for the C buffer in multi-byte characters fails the listing, not cut short',
  async (t) => {
    // napi_get_value_string_utf8 cut 256 four-byte characters (1,024 bytes) to 255 at the
    // 1,024-byte buffer, and the kernel was handed a name that does not exist
    freshNative(b);
    const { h, id } = started('/');
    const long = '😀'.repeat(256);
    b.s3m_dir_push(id, ['a', long], statsFor(['a', long]), 0, 0);
    const got = b.s3m_test_readdir_resume(h, 0, 10);
    t.same(got.names, ['a'], 'only the name that fits');
    t.equal(
      b.s3m_test_readdir(h, '/', 1, 10).res,
      -ENOMEM,
      'then the listing fails: never one with names missing',
    );
    b.s3m_test_releasedir(h, '/');
  },
);

// last: it registers s3m_on_dir, which takes every request from then on
t.test('a readdir on its own thread waits for JavaScript, which a push wakes', async (t) => {
  const fast = freshNative(b);
  const asked: Array<[number, string]> = [];
  fast.dirs.onRequest((id, path) => asked.push([id, path]));
  const h = b.s3m_test_opendir('/w');
  t.teardown(() => b.s3m_test_releasedir(h, '/w'));
  b.s3m_test_readdir_start(h, '/w', 0, 10);
  t.ok(await eventually(() => asked.length === 1, 5000, 5), 'JavaScript was asked to list /w (uv_async)');
  t.same(asked[0]?.[1], '/w');
  t.equal(b.s3m_test_readdir_poll(), null, 'the readdir still waits');
  fast.dirs.push(asked[0]?.[0] ?? -1, ['x', 'y'], statsFor(['x', 'y']), false);
  let got: Filled | null = null;
  t.ok(await eventually(() => (got = b.s3m_test_readdir_poll()) !== null, 5000, 5), 'woken by the push');
  t.same(got, { res: 0, names: ['x', 'y'], modes: [0o100644, 0o100645], offsets: [1, 2] });
  fast.dirs.push(asked[0]?.[0] ?? -1, [], new Uint32Array(0), true);
});
