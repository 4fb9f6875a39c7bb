import t from 'tap';
import { fuseProblem, type FuseProbes } from '../../../src/cli/fuse-access.js';

/** A machine described by plain data: files with mode/owner, access to /dev/fuse, fuse.conf. */
function machine(o: {
  euid?: number;
  files?: Record<string, { mode: number; uid?: number }>;
  devAccess?: boolean;
  exec?: boolean;
  fuseConf?: string;
}): FuseProbes {
  const files = o.files ?? {
    '/dev/fuse': { mode: 0o20666 },
    '/usr/bin/fusermount3': { mode: 0o104755 },
    '/usr/bin/fusermount': { mode: 0o104755 },
  };
  return {
    euid: o.euid ?? 1000,
    stat: (p) => {
      const f = files[p];
      return Promise.resolve(f === undefined ? undefined : { mode: f.mode, uid: f.uid ?? 0, gid: 27 });
    },
    canOpen: () => Promise.resolve(o.devAccess ?? true),
    canExecute: () => Promise.resolve(o.exec ?? true),
    fuseConf: () => Promise.resolve(o.fuseConf),
    searchPath: ['/bin', '/usr/bin'],
  };
}
const plain = { allowOther: false };

t.test('a usual Debian machine: nothing to say', async (t) => {
  t.equal(await fuseProblem(machine({}), plain), undefined);
  t.equal(await fuseProblem(machine({ euid: 0 }), plain), undefined);
});

t.test('/dev/fuse missing', async (t) => {
  const p = await fuseProblem(machine({ files: {} }), plain);
  t.match(p, /\/dev\/fuse does not exist/);
  t.match(p, /modprobe fuse/);
  t.notMatch(p, /install fuse3/, 'not the old, wrong advice');
});

t.test('/dev/fuse not accessible', async (t) => {
  const m = (euid: number) =>
    machine({
      euid,
      devAccess: false,
      files: { '/dev/fuse': { mode: 0o20600 }, '/usr/bin/fusermount3': { mode: 0o104755 } },
    });
  t.match(
    await fuseProblem(m(0), plain),
    /cannot open \/dev\/fuse \(mode 0600\): permission denied even for root/,
  );
  t.equal(await fuseProblem(m(1000), plain), undefined, 'a user mounts through setuid fusermount3 anyway');
});

t.test('fusermount missing, for a user but not for root', async (t) => {
  const m = (euid: number) => machine({ euid, files: { '/dev/fuse': { mode: 0o20666 } } });
  t.match(await fuseProblem(m(1000), plain), /fusermount3 is not installed.*fuse3 package/);
  t.equal(await fuseProblem(m(0), plain), undefined, 'root does not need it');
});

t.test('fusermount not setuid root', async (t) => {
  const notSetuid = machine({
    files: { '/dev/fuse': { mode: 0o20666 }, '/usr/bin/fusermount': { mode: 0o100755 } },
  });
  t.match(await fuseProblem(notSetuid, plain), /\/usr\/bin\/fusermount is not setuid root \(mode 0755/);
  const notRoot = machine({
    files: { '/dev/fuse': { mode: 0o20666 }, '/usr/bin/fusermount3': { mode: 0o104755, uid: 1000 } },
  });
  t.match(await fuseProblem(notRoot, plain), /fusermount3 is not setuid root .*owner uid 1000/);
});

t.test('fusermount not executable for this user', async (t) => {
  const m = machine({
    exec: false,
    files: { '/dev/fuse': { mode: 0o20666 }, '/usr/bin/fusermount3': { mode: 0o104750 } },
  });
  t.match(await fuseProblem(m, plain), /you may not run \/usr\/bin\/fusermount3 \(mode 04750, group 27\)/);
});

t.test('--allow-other without user_allow_other', async (t) => {
  const allow = { allowOther: true };
  t.match(await fuseProblem(machine({ fuseConf: '#user_allow_other\n' }), allow), /user_allow_other/);
  t.match(await fuseProblem(machine({}), allow), /user_allow_other in \/etc\/fuse.conf/, 'no fuse.conf');
  t.equal(await fuseProblem(machine({ fuseConf: '# x\n user_allow_other \n' }), allow), undefined);
  t.equal(await fuseProblem(machine({ euid: 0 }), allow), undefined, 'root may always');
});
