import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { classifyError } from '../../../src/s3/errors.js';
import { describeTlsFailure, loadTlsSettings, readCaBundle } from '../../../src/s3/tls.js';

const PEM = (n: number) => `-----BEGIN CERTIFICATE-----\nMII${n}AAAA\n-----END CERTIFICATE-----`;

t.test('a CA bundle: its PEM certificates, or one line saying what is wrong', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3mount-tls-unit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const two = join(dir, 'two.pem');
  await writeFile(two, `# site CAs\n${PEM(1)}\nsome text\n${PEM(2)}\n`);
  t.same(await readCaBundle(two), [PEM(1), PEM(2)]);
  const junk = join(dir, 'junk.pem');
  await writeFile(junk, 'not a certificate');
  await t.rejects(readCaBundle(junk), {
    name: 'CaBundleError',
    message: `--ca-bundle ${junk}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)`,
  });
  await t.rejects(readCaBundle(join(dir, 'missing.pem')), {
    name: 'CaBundleError',
    message: /cannot read it \(ENOENT\)/,
  });

  t.same(await loadTlsSettings(undefined, {}), {}, 'no bundle: Node defaults');
  const s = await loadTlsSettings(two, {});
  t.same(s.ca, [...rootCertificates, PEM(1), PEM(2)], 'the bundle is added to the public CAs');
  const extra = join(dir, 'extra.pem');
  await writeFile(extra, PEM(3));
  t.same(
    (await loadTlsSettings(two, { NODE_EXTRA_CA_CERTS: extra })).ca?.slice(-3),
    [PEM(3), PEM(1), PEM(2)],
    'NODE_EXTRA_CA_CERTS, which a ca list would drop, is kept',
  );
});

t.test('a TLS failure is one line with its cause and fix, also wrapped as a StoreError', async (t) => {
  const node = (code: string) => Object.assign(new Error(`tls: ${code}`), { code });
  const ep = 'https://s3.example.edu';
  for (const code of [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
  ]) {
    const line = describeTlsFailure(classifyError(node(code), 'HeadBucket'), ep);
    t.match(line, `the TLS certificate of ${ep} is not signed by a CA this system trusts (${code})`, code);
    t.match(line, /--ca-bundle FILE or AWS_CA_BUNDLE=FILE/);
  }
  t.match(describeTlsFailure(node('CERT_HAS_EXPIRED'), ep), /expired or not yet valid \(CERT_HAS_EXPIRED\)/);
  t.match(describeTlsFailure(node('ERR_TLS_CERT_ALTNAME_INVALID'), ep), /for another host name/);
  t.match(
    describeTlsFailure(new Error('x', { cause: node('ERR_SSL_WRONG_VERSION_NUMBER') }), ep),
    /does not speak TLS/,
  );
  t.equal(describeTlsFailure(node('ECONNREFUSED'), ep), undefined, 'not TLS: left to the other messages');
  t.equal(describeTlsFailure('text', ep), undefined);
});
