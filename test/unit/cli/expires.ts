// The --expires DURATION of `s3mount share`: units, the bounds (1 s .. 7 days), bad input.
import t from 'tap';
import { parseExpires, SHARE_EXPIRES_DEFAULT_SEC } from '../../../src/cli/expires.js';
import { SHARE_EXPIRES_MAX_SEC } from '../../../src/control/protocol.js';

const seconds = (text: string) => {
  const r = parseExpires(text);
  return 'seconds' in r ? r.seconds : r.error;
};

t.test('units', async (t) => {
  t.equal(seconds('3600'), 3600, 'bare number: seconds');
  t.equal(seconds('90s'), 90);
  t.equal(seconds('30m'), 1800);
  t.equal(seconds('12h'), 43_200);
  t.equal(seconds('1d'), 86_400);
  t.equal(seconds('1'), 1, 'the shortest');
  t.equal(seconds('007m'), 420, 'leading zeros');
  t.equal(SHARE_EXPIRES_DEFAULT_SEC, 3600, 'default: an hour');
});

t.test('exactly 7 days is allowed, one second more is not', async (t) => {
  t.equal(SHARE_EXPIRES_MAX_SEC, 604_800);
  t.equal(seconds('7d'), 604_800);
  t.equal(seconds('168h'), 604_800);
  t.equal(seconds('604800'), 604_800);
  t.equal(seconds('10080m'), 604_800);
  for (const over of ['604801', '8d', '169h', '10081m', '99999999999999999999d'])
    t.match(seconds(over), /longer than 7 days \(604800 s\)/, `${over} refused`);
});

t.test('zero and negative', async (t) => {
  for (const zero of ['0', '0s', '0d', '000']) t.match(seconds(zero), /at least 1 second/, `${zero} refused`);
  for (const neg of ['-1', '-5m', '-0']) t.match(seconds(neg), /is not a duration/, `${neg} refused`);
});

t.test('not a duration', async (t) => {
  for (const bad of [
    '',
    ' ',
    'abc',
    '1.5h',
    '1e3',
    '1w',
    '1H',
    '10 m',
    ' 60',
    '60 ',
    'h',
    '1hm',
    '1h30m',
    '0x10',
    '+5',
  ])
    t.match(seconds(bad), /is not a duration: give whole seconds/, `${JSON.stringify(bad)} refused`);
  const r = parseExpires('1w');
  t.ok('error' in r && !r.error.includes('\n'), 'one line');
});
