import t from 'tap';
import { OPTIONS } from '../../../src/config/options.js';
import {
  expandDashO,
  helperToArgs,
  splitOptionString,
  translateMountOptions as tr,
} from '../../../src/cli/mount-options.js';

t.test('every option of the table as -o name=value (booleans as name and noname)', async (t) => {
  for (const o of OPTIONS) {
    if (o.name === 'foreground') continue; // a mount helper must detach
    if (o.name === 'endpoint') continue; // a URL; without one, s3fs's region (below)
    if (o.type === 'boolean') {
      t.same(tr(o.name), [`--${o.name}`], o.name);
      t.same(tr(`no${o.name}`), [`--no-${o.name}`], `no${o.name}`);
      t.same(tr(`no-${o.name}`), [`--no-${o.name}`], `no-${o.name}`);
      t.same(tr(`${o.name}=false`), [`--${o.name}=false`], `${o.name}=false`);
    } else {
      t.same(tr(`${o.name}=v1`), [`--${o.name}`, 'v1'], o.name);
      t.same(tr(`${o.name.replace(/-/g, '_')}=v1`), [`--${o.name}`, 'v1'], 'underscores for dashes');
      t.throws(() => tr(o.name), /needs a value/, `${o.name} without a value`);
    }
  }
});

t.test("s3fs's names", async (t) => {
  t.same(tr('url=http://h:8080'), ['--endpoint', 'http://h:8080']);
  t.same(tr('endpoint=http://h:8080'), ['--endpoint', 'http://h:8080'], 'our endpoint: a URL');
  t.same(tr('endpoint=eu-west-1'), ['--region', 'eu-west-1'], "s3fs's endpoint: the region");
  t.same(tr('use_path_request_style'), ['--path-style']);
  t.same(tr('ro'), ['--read-only']);
  t.same(tr('allow_other'), ['--allow-other']);
  t.same(tr('uid=1000,gid=100'), ['--uid', '1000', '--gid', '100']);
  t.same(tr('umask=022'), ['--file-mode', '0644', '--dir-mode', '0755']);
  t.same(tr('umask=0077'), ['--file-mode', '0600', '--dir-mode', '0700']);
  t.throws(() => tr('umask=abc'), /not an octal mask/);
  if (OPTIONS.some((o) => o.name === 'passwd-file'))
    t.same(tr('passwd_file=/etc/passwd-s3fs'), ['--passwd-file', '/etc/passwd-s3fs']);
  else t.throws(() => tr('passwd_file=/etc/passwd-s3fs'), /no --passwd-file option/, 'a clear error');
});

t.test("mount(8)'s words are dropped; unknown options are an error", async (t) => {
  t.same(
    tr(
      'rw,defaults,noauto,user,users,_netdev,nofail,nosuid,nodev,noexec,x-systemd.automount,comment=x,user=bob',
    ),
    [],
  );
  t.throws(() => tr('use_cache=/tmp'), /-o use_cache: unknown mount option/);
  t.throws(() => tr('foreground'), /unknown mount option/, 'a helper never stays in the foreground');
});

t.test('splitting', async (t) => {
  t.same(splitOptionString('a=1,,b,"c=x,y"'), ['a=1', 'b', 'c=x,y']);
});

t.test("mount.fuse3's form: s3mount SOURCE DIR -o OPTS", async (t) => {
  t.same(expandDashO(['b:p', '/mnt', '-o', 'ro,url=http://h']), [
    'b:p',
    '/mnt',
    '--read-only',
    '--endpoint',
    'http://h',
  ]);
  t.same(expandDashO(['b', '/mnt', '-oro']), ['b', '/mnt', '--read-only']);
  t.same(expandDashO(['b', '/mnt', '--', '-o', 'x']), ['b', '/mnt', '--', '-o', 'x'], 'nothing after --');
});

t.test("mount(8)'s helper convention", async (t) => {
  t.same(helperToArgs(['b', '/mnt', '-n', '-o', 'rw,nosuid,nodev,url=http://h', '-t', 'fuse.s3mount']), {
    args: ['b', '/mnt', '--endpoint', 'http://h'],
    fake: false,
  });
  t.equal(helperToArgs(['b', '/mnt', '-f']).fake, true);
  t.throws(() => helperToArgs(['b']), /usage/);
  t.throws(() => helperToArgs(['b', '/mnt', '-N', 'x']), /not an option/);
});
