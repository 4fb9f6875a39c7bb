// scripts/install into a temporary prefix, then the installed command mounts, writes,
// reads and unmounts; its man page, completion and systemd units are in place and
// systemd-analyze accepts them; scripts/uninstall removes everything. And the same for
// `npm install -g` of the package that `npm pack` makes.
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getObjectOrUndefined } from '../fixtures/helpers.js';
import { REPO_ROOT, serverEnv } from '../fixtures/mount.js';
import { serverKindFromEnv, serverWithBucket, type ServerWithBucket } from '../fixtures/servers.js';
import { installToTempPrefix, isMounted, run, UNINSTALL } from '../fixtures/install.js';

const kind = serverKindFromEnv();

/** Everything below dir, as paths relative to it. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** The installed command (and nothing from this checkout) mounts, writes, reads, unmounts. */
async function useInstalled(t: Test, s3mount: string, sb: ServerWithBucket, work: string, name: string) {
  const mp = join(work, `mnt-${name}`);
  await mkdir(mp);
  t.teardown(async () => {
    if (await isMounted(mp)) await run('fusermount', ['-uz', mp]);
  });
  // no PATH into this checkout: the launcher must find its own node and package
  const env = serverEnv(sb.server, {
    PATH: '/usr/bin:/bin',
    XDG_STATE_HOME: join(work, 'state'),
    XDG_CACHE_HOME: join(work, 'cache'),
  });
  const up = await run(s3mount, [sb.bucket, mp, '--endpoint', sb.server.endpoint], { env });
  t.equal(up.code, 0, `mounted ${up.stderr}`);
  const body = `written through ${name}\n`;
  await writeFile(join(mp, `${name}.txt`), body);
  t.equal(await readFile(join(mp, `${name}.txt`), 'utf8'), body, 'read back through the mount');
  const down = await run(s3mount, ['unmount', mp], { env });
  t.equal(down.code, 0, `unmounted ${down.stderr}`);
  t.notOk(await isMounted(mp), 'not mounted any more');
  t.equal(
    (await getObjectOrUndefined(sb.s3, sb.bucket, `${name}.txt`))?.toString(),
    body,
    'the object is in S3',
  );
}

t.test(`install, use, uninstall, on ${kind}`, async (t) => {
  const sb = await serverWithBucket(t, 'inst');
  const work = await mkdtemp(join(tmpdir(), 's3mount-inst-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));

  t.test('scripts/install --prefix', async (t) => {
    const { prefix, result } = await installToTempPrefix(t);
    t.equal(result.code, 0, `installed ${result.stderr}`);
    const files = [
      'bin/s3mount',
      'sbin/mount.fuse.s3mount',
      'share/man/man1/s3mount.1',
      'share/bash-completion/completions/s3mount',
      'lib/systemd/system/s3mount@.service',
      'lib/s3mount/dist/cli/main.js',
      'lib/s3mount/native/fuse-native/build/Release/fuse.node',
    ];
    for (const f of files) t.ok(existsSync(join(prefix, f)), f);
    t.notOk(existsSync(join(prefix, 'lib/s3mount/node_modules/typescript')), 'no dev dependencies');

    const v = await run(join(prefix, 'bin/s3mount'), ['--version'], { env: { PATH: '/usr/bin:/bin' } });
    t.equal(v.stdout.trim(), JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version);
    t.match(await readFile(join(prefix, 'share/man/man1/s3mount.1'), 'utf8'), /^\.TH S3MOUNT 1/m, 'man page');

    const completion = await run('bash', [
      '-c',
      `source ${join(prefix, 'share/bash-completion/completions/s3mount')}; COMP_WORDS=(s3mount --metadata-t); COMP_CWORD=1; _s3mount; echo "\${COMPREPLY[@]}"`,
    ]);
    t.equal(completion.stdout.trim(), '--metadata-ttl', 'bash completes an option of the table');

    await useInstalled(t, join(prefix, 'bin/s3mount'), sb, work, 'install');

    t.test('systemd-analyze verify accepts the units', async (t) => {
      if ((await run('systemd-analyze', ['--version'])).code !== 0) {
        t.fail('systemd-analyze is not installed (scripts/setup --test installs the systemd package)');
        return;
      }
      const units = join(work, 'units');
      await mkdir(units);
      await copyFile(join(REPO_ROOT, 'contrib/systemd/mnt-results.mount'), join(units, 'mnt-results.mount'));
      const env = { ...process.env, MANPATH: join(prefix, 'share/man') };
      for (const unit of [
        join(prefix, 'lib/systemd/system/s3mount@results.service'), // the template, instantiated
        join(units, 'mnt-results.mount'),
      ]) {
        const r = await run('systemd-analyze', ['verify', unit], { env, cwd: work });
        t.equal(r.code, 0, `${unit}: ${r.stderr}`);
        t.equal(r.stderr.trim(), '', 'without a complaint');
      }
    });

    t.test('scripts/uninstall removes everything it installed', async (t) => {
      const r = await run(UNINSTALL, ['--prefix', prefix]);
      t.equal(r.code, 0, `uninstalled ${r.stderr}`);
      t.same(await tree(prefix), [], 'the prefix is empty again');
      t.not((await run(UNINSTALL, ['--prefix', prefix])).code, 0, 'a second uninstall says nothing is there');
    });
  });

  t.test('npm install -g of the packed package', async (t) => {
    if (kind !== 's3rver') {
      // the package does not depend on the server: once per suite run is enough
      t.plan(0, 'runs with S3_TEST_SERVER=s3rver'); // skipped
      return;
    }
    const pack = join(work, 'pack');
    await mkdir(pack);
    // --ignore-scripts: no `prepack` rebuild. The suite built dist/ already, and tsc
    // rewriting it in place would race the other servers' runs loading it (a daemon
    // started mid-rewrite fails to import a half-written module).
    const packed = await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', pack], {
      cwd: REPO_ROOT,
      timeoutMs: 300_000,
    });
    t.equal(packed.code, 0, `npm pack ${packed.stderr}`);
    const tgz = join(pack, packed.stdout.trim().split('\n').pop() ?? '');
    const prefix = join(work, 'npm-global');
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr'; // no header download
    const inst = await run(
      'npm',
      // --prefer-offline: the dependencies from npm's cache (npm ci filled it), the registry only for what is missing
      [
        'install',
        '-g',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--allow-scripts=fuse-native',
        '--prefix',
        prefix,
        tgz,
      ],
      { env, cwd: work, timeoutMs: 600_000 },
    );
    t.equal(inst.code, 0, `npm install -g ${inst.stderr.slice(-2000)}`);
    for (const f of ['bin/s3mount', 'bin/mount.fuse.s3mount', 'share/man/man1/s3mount.1'])
      t.ok(existsSync(join(prefix, f)), f);
    await useInstalled(t, join(prefix, 'bin/s3mount'), sb, work, 'npm-global');
  });
});
