// TLS for the S3 connections: which CAs an https endpoint's certificate may be signed by
// (Node's trusted roots plus --ca-bundle / AWS_CA_BUNDLE), and the one line a failure says.
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';

/** What the https agent is given; an empty object keeps Node's defaults (verification always on). */
export interface TlsSettings {
  /** PEM certificates trusted as CAs: Node's roots and the site's; undefined = Node's default list */
  ca?: string[];
}

/** A --ca-bundle that cannot be used: its message is the user's one line. */
export class CaBundleError extends Error {
  override name = 'CaBundleError';
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in a bundle file; throws CaBundleError naming the file and what is wrong. */
export async function readCaBundle(path: string, optionName = '--ca-bundle'): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code ?? String(e);
    throw new CaBundleError(`${optionName} ${path}: cannot read it (${code})`);
  }
  const certs = text.match(PEM_CERT) ?? [];
  if (certs.length === 0)
    throw new CaBundleError(
      `${optionName} ${path}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)`,
    );
  return certs;
}

/**
 * The TLS settings for a mount. A CA bundle is added to the CAs Node trusts, not put in
 * their place: Node uses only the `ca` list once one is given, so its roots (and those of
 * NODE_EXTRA_CA_CERTS, which it would otherwise drop) are listed with the site's.
 */
export async function loadTlsSettings(
  caBundle: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<TlsSettings> {
  if (caBundle === undefined) return {};
  const extraFile = env.NODE_EXTRA_CA_CERTS;
  const extra = extraFile ? await readCaBundle(extraFile, 'NODE_EXTRA_CA_CERTS').catch(() => []) : [];
  return { ca: [...rootCertificates, ...extra, ...(await readCaBundle(caBundle))] };
}

/** OpenSSL's verdicts on a certificate chain no trusted CA signed (Node's error codes). */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const WRONG_HOST = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);

/** The error codes along an error's `cause` chain (the SDK and StoreError wrap Node's). */
function codes(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') out.push(c);
    const d = (e as { detail?: { code?: unknown } }).detail?.code;
    if (typeof d === 'string') out.push(d);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/**
 * The one line for a failure of the TLS handshake with `endpoint` (cause and fix), or
 * undefined when `err` is not one. Stable prefixes: docs/TROUBLESHOOTING.md lists them.
 */
export function describeTlsFailure(err: unknown, endpoint: string): string | undefined {
  for (const code of codes(err)) {
    if (UNTRUSTED.has(code))
      return `the TLS certificate of ${endpoint} is not signed by a CA this system trusts (${code}); if your site has its own CA, give its certificate with --ca-bundle FILE or AWS_CA_BUNDLE=FILE`;
    if (EXPIRED.has(code))
      return `the TLS certificate of ${endpoint} is expired or not yet valid (${code}); check the server's certificate and this machine's clock`;
    if (WRONG_HOST.has(code))
      return `the TLS certificate of ${endpoint} is for another host name (${code}); use in --endpoint a name the certificate lists`;
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER')
      return `${endpoint} does not speak TLS (${code}); if the server is plain HTTP, use an http:// endpoint`;
  }
  return undefined;
}
