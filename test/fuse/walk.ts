// Directory walks through a real mount: `find` over a tree of many directories is answered
// from one listing without a delimiter (--recursive-list), shows exactly the bucket's
// keys as paths, costs a few LISTs instead of one per directory, and does not lose
// changes made through the mount while that listing was under way.
import t, { type Test } from 'tap';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { MountStatus } from '../../src/control/protocol.js';
import { isShowableName } from '../../src/meta/paths.js';
import { startFaultProxy } from '../fixtures/fault-proxy.js';
import { getObjectOrUndefined } from '../fixtures/helpers.js';
import { mount, runAsync, runS3mountAsync, serverEnv } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket } from '../fixtures/servers.js';

const kind = serverKindFromEnv();
const DIRS = 60;
const FILES = 3;
const PUT_CONCURRENCY = 32;

/** The paths `find ROOT` prints for these keys (relative, ROOT itself as ''), as SEMANTICS.md says a listing shows them. */
function pathsOf(keys: string[], root: string): string[] {
  const dirs = new Set<string>(['']);
  const files = new Set<string>();
  for (const key of keys) {
    if (!key.startsWith(`${root}/`)) continue;
    const segs = key.slice(root.length + 1).split('/');
    let path = '';
    let hidden = false;
    for (const seg of segs.slice(0, -1)) {
      if (!isShowableName(seg)) {
        hidden = true;
        break;
      }
      path += `/${seg}`;
      dirs.add(path);
    }
    const last = segs.at(-1) as string;
    if (!hidden && last !== '' && isShowableName(last)) files.add(`${path}/${last}`);
  }
  for (const d of dirs) files.delete(d); // a directory shadows a file of the same name
  return [...dirs, ...files].map((p) => root + p).sort();
}

t.test(`directory walks on ${kind}`, async (t) => {
  const { server, s3, bucket } = await serverWithBucket(t, 'walk');
  const work = await mkdtemp(join(tmpdir(), 's3mount-walk-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const stateEnv = { XDG_STATE_HOME: join(work, 'state') };
  const env = serverEnv(server, stateEnv);

  const keys: string[] = [];
  for (let d = 0; d < DIRS; d++)
    for (let f = 0; f < FILES; f++) keys.push(`tree/d${String(d).padStart(3, '0')}/f${f}`);
  keys.push(
    'tree/d005/sub/deep/x', // implicit directories two levels down
    'tree/d007/', // a marker beside files
    'tree/empty/', // an empty directory: only its marker
    'tree/d009/x', // a file ...
    'tree/d009/x/y', // ... shadowed by a directory
    'tree/d009/x!', // sorts between "x" and "x/"
  );
  // s3rver cannot store a key with an empty segment (DEVELOPERS.md)
  if (kind === 'rgw') keys.push('tree/d008//hidden');
  for (let i = 0; i < keys.length; i += PUT_CONCURRENCY)
    await Promise.all(
      keys
        .slice(i, i + PUT_CONCURRENCY)
        .map((k) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }))),
    );

  const status = async (dir: string): Promise<MountStatus> => {
    const r = await runS3mountAsync(['status', dir, '--json'], env);
    if (r.status !== 0) throw new Error(`status failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as MountStatus[])[0] as MountStatus;
  };
  const lists = async (dir: string) => (await status(dir)).s3.requests.ListObjectsV2 ?? 0;
  const find = async (t: Test, dir: string) => {
    const r = await runAsync('find', [join(dir, 'tree')], process.env);
    t.equal(r.status, 0, `find exits 0 ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.slice(dir.length + 1))
      .sort();
  };

  t.test('find on a fresh mount shows the keys, for a few LISTs', async (t) => {
    const m = await mount(server, bucket, [], stateEnv);
    t.teardown(() => m.unmount());
    t.same(await find(t, m.dir), pathsOf(keys, 'tree'), 'find prints every path the keys make, once');
    const n = await lists(m.dir);
    t.ok(n <= 6, `${n} LISTs for ${DIRS + 4} directories`);
    await m.unmount();
    t.match(m.output(), /"walks":1,/, 'one subtree listing');
  });

  t.test('without --recursive-list the same walk costs a LIST per directory', async (t) => {
    const m = await mount(server, bucket, ['--recursive-list', '0'], stateEnv);
    t.teardown(() => m.unmount());
    await find(t, m.dir); // (s3rver hides tree/d005/sub from its delimiter listings: not compared)
    const n = await lists(m.dir);
    t.ok(n >= DIRS, `${n} LISTs`);
  });

  t.test('changes made here while the subtree is listed are seen', async (t) => {
    const proxy = await startFaultProxy(server.endpoint);
    t.teardown(() => proxy.close());
    const m = await mount(server, bucket, [], stateEnv, { endpoint: proxy.endpoint });
    t.teardown(() => m.unmount());
    await runAsync('ls', [join(m.dir, 'tree')], process.env);
    // the subtree listing's answer is held back: the server answered before the changes below
    const isWalk = (url: string) => {
      const q = new URL(url, 'http://x').searchParams;
      return q.get('list-type') === '2' && !q.has('delimiter') && !q.has('max-keys');
    };
    proxy.inject({ kinds: ['LIST'], when: isWalk, fault: { kind: 'delay-answer', ms: 3000 } });
    const walking = find(t, m.dir);
    const t0 = Date.now();
    while ((proxy.faulted.LIST ?? 0) === 0 && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 20));
    t.equal(proxy.faulted.LIST, 1, 'the subtree listing was sent');
    await new Promise((r) => setTimeout(r, 300)); // the server has answered it
    await writeFile(join(m.dir, 'tree', 'd030', 'new'), 'made during the walk');
    await unlink(join(m.dir, 'tree', 'd040', 'f0'));
    t.equal(proxy.faulted.LIST, 1, 'the subtree listing has not been answered yet');
    const found = await walking;
    t.ok(found.includes('tree/d030/new'), 'find shows the file made during the walk');
    t.notOk(found.includes('tree/d040/f0'), 'find does not show the file removed during the walk');
    t.ok(await getObjectOrUndefined(s3, bucket, 'tree/d030/new'), 'the new file is in S3');
    const now = [...keys.filter((k) => k !== 'tree/d040/f0'), 'tree/d030/new'];
    t.same(found, pathsOf(now, 'tree'), 'and everything else as in S3');
  });
});
