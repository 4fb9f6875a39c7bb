// The control channel without a mount: requests and answers, progress lines, bad input,
// a socket nobody listens on, and the modes of the socket and its directory.
import t from 'tap';
import { connect } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlRequest, NoDaemonError } from '../../../src/control/client.js';
import type { MountStatus } from '../../../src/control/protocol.js';
import { ControlServer } from '../../../src/control/server.js';
import { nullLogger } from '../../../src/log/logger.js';

/** Sends a raw line and returns the raw answer. */
function raw(path: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => s.write(line));
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

t.test('requests and answers over the socket', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-ctl-unit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sock = join(dir, 'state', 'm.sock');
  const syncs: string[][] = [];
  const server = new ControlServer(
    sock,
    {
      status: () => Promise.resolve({ pid: 42, mountpoint: '/m' } as MountStatus),
      sync: async (req, progress) => {
        syncs.push(req.paths);
        progress({ filesLeft: 2, bytesLeft: 20, filesTotal: 2, bytesTotal: 20 });
        progress({ filesLeft: 1, bytesLeft: 10, filesTotal: 2, bytesTotal: 20 });
        await new Promise((r) => setTimeout(r, 10));
        return { uploaded: 1, failed: [{ path: '/a', stagedPath: '/s/a.data', reason: 'access denied' }] };
      },
      unmount: () => Promise.reject(new Error('busy')),
      share: (req) =>
        Promise.resolve({
          links: req.paths.map((path) =>
            path === '/dir'
              ? { path, error: 'is a directory' }
              : { path, url: `http://s3/b${path}?e=${req.expiresSec}` },
          ),
        }),
      verify: async (req) => ({ entries: req.paths.map((path) => ({ path, status: 'ok' as const })) }),
    },
    nullLogger(),
  );
  await server.listen();
  t.teardown(() => server.close());
  t.equal((await stat(join(dir, 'state'))).mode & 0o777, 0o700, 'state directory 0700');
  t.equal((await stat(sock)).mode & 0o777, 0o600, 'socket 0600');

  const st = await controlRequest(sock, { op: 'status' });
  t.equal(st.pid, 42, 'status answered');

  const seen: number[] = [];
  const r = await controlRequest(
    sock,
    { op: 'sync', paths: ['/x', '/y/z'] },
    { onProgress: (p) => seen.push(p.filesLeft) },
  );
  t.same(syncs, [['/x', '/y/z']], 'paths passed on');
  t.same(seen, [2, 1], 'progress lines before the answer');
  t.same(r.failed, [{ path: '/a', stagedPath: '/s/a.data', reason: 'access denied' }]);

  const v = await controlRequest(sock, { op: 'verify', paths: ['/d', '/f'] });
  t.same(
    v.entries,
    [
      { path: '/d', status: 'ok' },
      { path: '/f', status: 'ok' },
    ],
    'verify answered',
  );
  t.match(
    await raw(sock, '{"op":"verify","paths":"/d"}\n'),
    /verify: paths must be/,
    'verify without a list refused',
  );

  await t.rejects(
    controlRequest(sock, { op: 'unmount', force: false }),
    { message: 'busy' },
    'errors answered',
  );
  const shared = await controlRequest(sock, { op: 'share', paths: ['/f', '/dir'], expiresSec: 90 });
  t.same(
    shared.links,
    [
      { path: '/f', url: 'http://s3/b/f?e=90' },
      { path: '/dir', error: 'is a directory' },
    ],
    'share: one answer per path, in order',
  );
  for (const bad of [0, -1, 1.5, 604_801, '60'])
    t.match(
      await raw(sock, `${JSON.stringify({ op: 'share', paths: ['/f'], expiresSec: bad })}\n`),
      /"ok":false,"error":"bad request: share: expiresSec/,
      `share: expiresSec ${JSON.stringify(bad)} refused`,
    );
  t.match(
    await raw(sock, '{"op":"share","paths":["f"],"expiresSec":60}\n'),
    /absolute/,
    'share: relative paths refused',
  );
  t.match(await raw(sock, 'not json\n'), /"ok":false,"error":"bad request/, 'bad JSON refused');
  t.match(await raw(sock, '{"op":"format-disk"}\n'), /unknown request/, 'unknown op refused');
  t.match(await raw(sock, '{"op":"sync","paths":["relative"]}\n'), /absolute/, 'relative paths refused');

  await server.close();
  await t.rejects(controlRequest(sock, { op: 'status' }), NoDaemonError, 'closed: nobody answers');
});

t.test('no daemon: a clear error', async (t) => {
  await t.rejects(controlRequest('/nonexistent/s3mount.sock', { op: 'status' }), NoDaemonError);
});
