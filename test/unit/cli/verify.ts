// `s3mount verify`'s output lines and exit decision (src/cli/verify.ts).
import t from 'tap';
import { failsVerify, formatEntry } from '../../../src/cli/verify.js';

t.test('one line per file', async (t) => {
  t.equal(formatEntry({ path: '/m/a', status: 'ok' }), 'OK /m/a');
  t.equal(
    formatEntry({ path: '/m/b', status: 'mismatch', detail: 'stored sha256 x, read y' }),
    'MISMATCH /m/b (stored sha256 x, read y)',
  );
  t.equal(formatEntry({ path: '/m/c', status: 'no-checksum', detail: 'none' }), 'NO-CHECKSUM /m/c (none)');
  t.equal(
    formatEntry({ path: '/m/d', status: 'staged', detail: 'not uploaded' }),
    'STAGED /m/d (not uploaded)',
  );
  t.equal(formatEntry({ path: '/m/e', status: 'error', detail: 'gone' }), 'ERROR /m/e: gone');
  t.equal(
    formatEntry({ path: '/m/f', status: 'skipped', detail: 'a symbolic link' }),
    'SKIPPED /m/f (a symbolic link)',
  );
});

t.test('what fails the command', async (t) => {
  const fails = (status: Parameters<typeof failsVerify>[0]['status'], require = false) =>
    failsVerify({ path: '/p', status }, require);
  t.notOk(fails('ok'));
  t.notOk(fails('skipped'));
  t.notOk(fails('no-checksum'), 'no checksum: a note, exit 0');
  t.ok(fails('no-checksum', true), '... unless --require-checksum');
  t.ok(fails('mismatch'));
  t.ok(fails('staged'));
  t.ok(fails('error'));
});
