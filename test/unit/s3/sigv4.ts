// sigv4.ts signs as the SDK's own signer (@smithy/signature-v4, what the S3 client uses)
// does: the same request, keys and time give the same headers, Authorization included.
import t from 'tap';
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  amzDate,
  EMPTY_SHA256,
  objectPath,
  sha256Hex,
  SigV4Signer,
  uriEscape,
} from '../../../src/s3/sigv4.js';

/** node:crypto in the shape the SDK's signer takes (its sha256 option) */
class NodeSha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.h.digest());
  }
}

function bytes(d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof d === 'string') return d;
  return d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

const keys = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const when = Date.UTC(2026, 10, 30, 21, 25, 7);

async function sdkSign(
  method: string,
  host: string,
  path: string,
  headers: Record<string, string>,
  payloadHash: string,
  k: typeof keys & { sessionToken?: string },
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials: k,
    region: 'us-east-1',
    service: 's3',
    sha256: NodeSha256,
    uriEscapePath: false, // as the S3 client signs: the path is escaped once, by its serializer
    applyChecksum: true,
  });
  const signed = await signer.sign(
    {
      method,
      protocol: 'http:',
      hostname: host.split(':')[0] as string,
      path,
      query: {},
      headers: { ...headers, host, 'x-amz-content-sha256': payloadHash },
    },
    { signingDate: new Date(when) },
  );
  return signed.headers;
}

t.test('the same headers as the SDK signer, for a PUT and a ranged GET', async (t) => {
  const body = Buffer.from('hello, world\n');
  const cases: Array<{ method: string; key: string; headers: Record<string, string>; payload: string }> = [
    {
      method: 'PUT',
      key: 'run42/input data (1).h5',
      headers: {
        'content-length': String(body.length),
        'content-md5': createHash('md5').update(body).digest('base64'),
        'content-type': 'application/x-hdf5',
        'x-amz-meta-mode': '33188',
        'x-amz-meta-note': '  two  spaces ',
      },
      payload: sha256Hex(body),
    },
    {
      method: 'GET',
      key: "odd/ké y!*'()~+=&?#%.txt",
      headers: { range: 'bytes=0-262143', 'if-match': '"0123abcd"' },
      payload: EMPTY_SHA256,
    },
  ];
  const signer = new SigV4Signer('us-east-1');
  for (const c of cases) {
    for (const k of [keys, { ...keys, sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' }]) {
      const path = objectPath('bucket', c.key);
      const host = '127.0.0.1:7480';
      const ours = signer.sign(
        { method: c.method, host, path, headers: c.headers, payloadHash: c.payload },
        k,
        when,
      );
      const theirs = await sdkSign(c.method, host, path, c.headers, c.payload, k);
      t.equal(ours.authorization, theirs.authorization, `${c.method} ${c.key} authorization`);
      t.same(ours, theirs, `${c.method} ${c.key}: every header`);
    }
  }
});

t.test('key paths: each segment escaped as the SDK escapes it, slashes kept', async (t) => {
  t.equal(objectPath('b', 'a/b c/d'), '/b/a/b%20c/d');
  t.equal(objectPath('b', "x!'()*"), '/b/x%21%27%28%29%2A');
  t.equal(objectPath('b', 'a//b/'), '/b/a//b/');
  t.equal(uriEscape('ü~-._'), '%C3%BC~-._');
});

t.test('the signing key is kept per day and secret', async (t) => {
  const signer = new SigV4Signer('r1');
  const req = { method: 'GET', host: 'h', path: '/b/k', headers: {}, payloadHash: EMPTY_SHA256 };
  const a = signer.sign(req, keys, when).authorization;
  t.equal(signer.sign(req, keys, when).authorization, a, 'same inputs, same signature');
  t.not(
    signer.sign(req, { ...keys, secretAccessKey: 'other' }, when).authorization,
    a,
    'a new secret is used at once',
  );
  t.not(signer.sign(req, keys, when + 86_400_000).authorization, a, 'a new day, a new key');
  t.equal(amzDate(when).long, '20261130T212507Z');
});
