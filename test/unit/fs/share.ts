// shareLink over the core in-process (the in-memory store, a fake presigner): what gets a
// URL and each refusal, including a file still staged and an object gone behind the cache.
import t from 'tap';
import { shareLink, shareLinks, type ResolveShareSite } from '../../../src/core.js';
import { nullLogger } from '../../../src/log/logger.js';
import { testCore } from '../../fixtures/core.js';
import { MemoryObjectStore } from '../../fixtures/memory-store.js';

/** A memory store whose "presigned URL" says what was signed. */
function presigningStore(): MemoryObjectStore {
  return Object.assign(new MemoryObjectStore(), {
    presignGet: (key: string, expiresSec: number) => Promise.resolve(`memory://${key}?expires=${expiresSec}`),
  });
}

t.test('files get a URL; directories, missing and non-regular files do not', async (t) => {
  const store = presigningStore();
  store.putBytes('a/file.txt', 'hello\n');
  store.putBytes('a/b/deep.txt', 'deep\n');
  const core = await testCore(t, { store });
  const site: ResolveShareSite = (p) => core.shareSite(p);
  t.same(await shareLink(site, '/a/file.txt', 60), {
    url: 'memory://a/file.txt?expires=60',
    bucket: store.bucket,
    key: 'a/file.txt',
  });
  t.same(await shareLink(site, '/a/b/deep.txt', 604_800), {
    url: 'memory://a/b/deep.txt?expires=604800',
    bucket: store.bucket,
    key: 'a/b/deep.txt',
  });
  t.same(await shareLink(site, '/a', 60), { error: 'is a directory' });
  t.same(await shareLink(site, '/a/b', 60), { error: 'is a directory' });
  t.same(await shareLink(site, '/', 60), { error: 'is a directory' }, "the mount's root");
  t.same(await shareLink(site, '/a/none.txt', 60), { error: 'no such file' });
  t.same(await shareLink(site, '/none/x', 60), { error: 'no such file' });
  await core.fs.symlink('/a/file.txt', '/link');
  t.same(await shareLink(site, '/link', 60), { error: 'is not a regular file' }, 'a symbolic link');
  t.same(await shareLink(() => undefined, '/', 60), { error: 'is a directory' }, 'no site: a directory');

  const all = await shareLinks(site, ['/a/file.txt', '/a', '/a/b/deep.txt'], 90, nullLogger());
  t.same(
    all,
    [
      { path: '/a/file.txt', url: 'memory://a/file.txt?expires=90' },
      { path: '/a', error: 'is a directory' },
      { path: '/a/b/deep.txt', url: 'memory://a/b/deep.txt?expires=90' },
    ],
    'one answer per path, in order',
  );
});

t.test('a file whose data is staged is refused until S3 has it', async (t) => {
  const store = presigningStore();
  const core = await testCore(t, { store });
  const site: ResolveShareSite = (p) => core.shareSite(p);
  const fh = await core.fs.create('/new.txt', 0o644);
  await core.fs.write(fh, Buffer.from('new\n'), 0, 4);
  t.match(
    await shareLink(site, '/new.txt', 60),
    { error: /^is not in S3 yet: it is still staged/ },
    'being written',
  );
  await core.fs.flush(fh); // uploads
  t.same(
    await shareLink(site, '/new.txt', 60),
    { url: 'memory://new.txt?expires=60', bucket: store.bucket, key: 'new.txt' },
    'uploaded: shared while still open',
  );
  await core.fs.write(fh, Buffer.from('more\n'), 4, 5);
  t.match(
    await shareLink(site, '/new.txt', 60),
    { error: /not in S3 yet/ },
    'written again: S3 has older data',
  );
  await core.fs.flush(fh);
  await core.fs.release(fh);
  t.match(
    await shareLink(site, '/new.txt', 60),
    { url: 'memory://new.txt?expires=60' },
    'closed and uploaded',
  );
});

t.test('an object deleted behind the cache is checked in S3', async (t) => {
  const store = presigningStore();
  store.putBytes('gone.txt', 'x');
  const core = await testCore(t, { store });
  await core.fs.readdir('/'); // the listing is cached
  store.objects.delete('gone.txt');
  t.match(await shareLink((p) => core.shareSite(p), '/gone.txt', 60), { error: /^no such file/ });
});

t.test('a store that cannot presign', async (t) => {
  const store = new MemoryObjectStore();
  store.putBytes('f', 'x');
  const core = await testCore(t, { store });
  t.same(await shareLink((p) => core.shareSite(p), '/f', 60), {
    error: 'this mount cannot make share links',
  });
});
