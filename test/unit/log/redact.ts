import t from 'tap';
import { Logger, Redactor } from '../../../src/log/logger.js';

t.test('secrets and signatures never reach the log', async (t) => {
  const lines: string[] = [];
  const r = new Redactor();
  r.add('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
  const log = new Logger({ write: (l) => lines.push(l) }, 'debug', r);
  log.error('failed', {
    header: 'Authorization: AWS4-HMAC-SHA256 Credential=abc, Signature=deadbeef',
    secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  });
  t.equal(lines.length, 1);
  t.notMatch(lines[0], 'wJalrXUtnFEMI');
  t.notMatch(lines[0], 'deadbeef');
  t.match(lines[0], '[redacted]');
  log.child({ mod: 'x' }).debug('hello');
  t.match(lines[1], /DEBUG hello mod="x"/);
});
