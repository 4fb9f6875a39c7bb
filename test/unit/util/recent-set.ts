import t from 'tap';
import { RecentSet } from '../../../src/util/recent-set.js';

t.test('keeps the most recently added members', (t) => {
  const s = new RecentSet<string>(2);
  s.add('a');
  s.add('b');
  s.add('a'); // a is the most recent now
  s.add('c'); // b, the oldest, goes
  t.ok(s.has('a'));
  t.notOk(s.has('b'));
  t.ok(s.has('c'));
  t.equal(s.delete('a'), true);
  t.equal(s.delete('a'), false);
  t.notOk(s.has('a'));
  t.end();
});
