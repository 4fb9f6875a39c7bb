// Keys that can be asked for again while mounted: the current keys of a CredentialSource,
// and the SDK middleware that, when the server rejects them, fetches new ones and retries.
import type { CredentialSource, Credentials } from './credentials.js';
import type { RawArgs, RawOut } from './middleware.js';

/** the server's codes for keys it no longer accepts (rotated, removed, an expired token) */
const REJECTED_KEY_CODES: ReadonlySet<string> = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
]);
/**
 * A source is asked again at most this often: keys that are simply wrong would otherwise
 * re-run the keys command for every request that fails with them.
 */
const MIN_REFRESH_INTERVAL_MS = 1000;
/** keys that say when they expire are fetched again this long before */
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;

export class RefreshingCredentials {
  private current: Credentials | undefined;
  private loading: Promise<Credentials> | undefined;
  private lastLoadMs = 0;

  constructor(
    readonly source: CredentialSource,
    /** told every secret loaded, for redaction */
    private readonly onLoaded: (c: Credentials) => void,
    private readonly nowMs: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** The keys to sign with: the ones loaded last, loaded (again) when none or about to expire. */
  async get(): Promise<Credentials> {
    const c = this.current;
    if (c && (c.expiration === undefined || c.expiration.getTime() - this.nowMs() > EXPIRY_MARGIN_MS))
      return c;
    return this.load();
  }

  /**
   * The server rejected `used`: asks the source again unless someone already did since.
   * The source is asked at most once a second: within a second of the last load this
   * waits for the rest of it, then asks (keys rotated right after a load are still found).
   * True when there are other keys to try than `used`.
   */
  async rejected(used: Credentials): Promise<boolean> {
    const wait = this.lastLoadMs + MIN_REFRESH_INTERVAL_MS - this.nowMs();
    if (sameKeys(this.current, used) && !this.loading && wait > 0) await this.sleep(wait);
    if (sameKeys(this.current, used) && !this.loading) {
      try {
        await this.load();
      } catch {
        return false; // the source cannot give keys now: the server's rejection is the error to report
      }
    } else if (this.loading) {
      await this.loading.catch(() => undefined); // the loader's failure is reported by whoever started it
    }
    const now = this.current;
    return (
      now !== undefined &&
      now !== used &&
      now.accessKeyId + now.secretAccessKey !== used.accessKeyId + used.secretAccessKey
    );
  }

  private load(): Promise<Credentials> {
    this.loading ??= this.source
      .load()
      .then((c) => {
        this.onLoaded(c);
        this.current = c;
        return c;
      })
      .finally(() => {
        this.lastLoadMs = this.nowMs();
        this.loading = undefined;
      });
    return this.loading;
  }
}

function sameKeys(a: Credentials | undefined, b: Credentials): boolean {
  return (
    a !== undefined &&
    a.accessKeyId === b.accessKeyId &&
    a.secretAccessKey === b.secretAccessKey &&
    a.sessionToken === b.sessionToken
  );
}

interface AuthContext {
  selectedHttpAuthScheme?: { identity?: unknown };
}

/**
 * Sits between the SDK's retry and its signer, so it runs for every attempt: signs each
 * attempt with the current keys, and when the server rejects the keys it used, asks the
 * source again; if that gives other keys, the error is marked retryable ($retryable) and
 * the SDK's retry sends the request again, signed with them.
 */
export function credentialRefreshMiddleware(creds: RefreshingCredentials) {
  return (next: (args: RawArgs) => Promise<RawOut>, context: Record<string, unknown>) =>
    async (args: RawArgs): Promise<RawOut> => {
      const used = await creds.get();
      const auth = smithyContext(context);
      if (auth.selectedHttpAuthScheme) auth.selectedHttpAuthScheme.identity = used;
      try {
        return await next(args);
      } catch (err) {
        if ((isRejectedKeys(err) || isHeadForbidden(args.request, err)) && (await creds.rejected(used)))
          (err as { $retryable?: object }).$retryable = { throttling: false };
        throw err;
      }
    };
}

function smithyContext(context: Record<string, unknown>): AuthContext {
  // @smithy/types' SMITHY_CONTEXT_KEY: where the auth middleware put the identity it chose
  const key = '__smithy_context';
  const c = context[key];
  return typeof c === 'object' && c !== null ? (c as AuthContext) : {};
}

/**
 * A HEAD has no body, so a 403 to it carries no code: rotated keys look like a denied
 * object. It counts as possibly rejected keys; the source is asked again at most once a
 * second, and the request is retried only if that gives other keys.
 */
function isHeadForbidden(request: unknown, err: unknown): boolean {
  const method = (request as { method?: string } | undefined)?.method;
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return method === 'HEAD' && status === 403;
}

export function isRejectedKeys(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: string; Code?: string; code?: string };
  return [e.Code, e.code, e.name].some((c) => c !== undefined && REJECTED_KEY_CODES.has(c));
}
