import t from 'tap';
import { Logger, Redactor } from '../../../src/log/logger.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

t.test('secrets and signatures never reach the log', async (t) => {
  const lines: string[] = [];
  const r = new Redactor();
  r.add(SECRET);
  const log = Logger.create({ write: (l) => lines.push(l) }, 'debug', r);
  log.error('failed', {
    header: 'Authorization: AWS4-HMAC-SHA256 Credential=abc, Signature=deadbeef',
    secret: SECRET,
    url: 'http://s3/b/k?X-Amz-Signature=cafebabe1234&X-Amz-Date=1',
    error: `the server said: bad key ${SECRET}`,
  });
  log.warn('by field name', {
    authorization: 'AWS4-HMAC-SHA256 xyz',
    creds: { secretAccessKey: 'abcdefgh12345678' },
  });
  t.equal(lines.length, 2, 'one line per event');
  const all = lines.join('');
  t.notMatch(all, 'wJalrXUtnFEMI');
  t.notMatch(all, 'deadbeef');
  t.notMatch(all, 'cafebabe');
  t.notMatch(all, 'abcdefgh12345678', 'pino redaction by path');
  t.notMatch(all, 'xyz');
  t.match(all, '[redacted]');
  for (const l of lines) t.doesNotThrow(() => JSON.parse(l) as unknown, 'each line is JSON');
});

t.test('levels, fields and children', async (t) => {
  const lines: string[] = [];
  const log = Logger.create({ write: (l) => lines.push(l) }, 'info', new Redactor());
  log.child({ mod: 'x' }).debug('hidden');
  log.child({ mod: 'x' }).info('hello', { path: '/a b', n: 3 });
  t.equal(lines.length, 1, 'debug is below info');
  const o = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  t.equal(o.level, 'info');
  t.equal(o.msg, 'hello');
  t.equal(o.mod, 'x');
  t.equal(o.path, '/a b');
  t.equal(o.n, 3);
  t.match(String(o.time), /^\d{4}-\d\d-\d\dT/);
  t.ok(log.enabled('warn') && !log.enabled('debug'));
});
