import t from 'tap';
import { RecentMap } from '../../../src/util/recent-map.js';

t.test('keeps the most recently set entries', (t) => {
  const m = new RecentMap<string, number>(2);
  m.set('a', 1);
  m.set('b', 2);
  m.set('a', 3); // a is the most recent now
  m.set('c', 4); // b, the oldest, goes
  t.equal(m.get('a'), 3);
  t.equal(m.get('b'), undefined);
  t.equal(m.get('c'), 4);
  t.equal(m.delete('a'), true);
  t.equal(m.delete('a'), false);
  t.equal(m.get('a'), undefined);
  t.end();
});
