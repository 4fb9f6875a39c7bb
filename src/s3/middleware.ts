// The SDK's middleware stack as s3mount uses it: typed helpers to place a middleware
// under the deserializer (inside the retries, after signing: it sees each attempt) or at
// the build step, and the off-thread payload hash that the signer then uses.
import { hashThreads, INLINE_MAX_BYTES } from '../util/hash-threads.js';

/** What a middleware under the deserializer receives and returns, loosely typed. */
export interface RawArgs {
  request: unknown;
}
export interface RawOut {
  response: unknown;
  output?: unknown;
}
export type RawHandler = (args: RawArgs) => Promise<RawOut>;

interface Stack {
  add(mw: unknown, opts: unknown): void;
  addRelativeTo(mw: unknown, opts: unknown): void;
}

const stackOf = (command: object) => (command as { middlewareStack: Stack }).middlewareStack;

/** Adds `mw` to one command, right under the SDK's deserializer. */
export function underDeserializer(command: object, name: string, mw: (next: RawHandler) => RawHandler): void {
  stackOf(command).addRelativeTo(mw, { relation: 'after', toMiddleware: 'deserializerMiddleware', name });
}

/**
 * SigV4 over http signs the payload: the SDK hashes every uploaded byte (SHA-256) on
 * the JavaScript thread, 13% of its time in a 1 GiB write (profiled). The hash is
 * computed on a hash thread instead (util/hash-threads.ts) and handed to the signer, which uses an
 * x-amz-content-sha256 header it finds rather than hashing again. A caller that has the
 * hash already (`knownHex`) passes it.
 */
export async function withPayloadHash<C extends object>(
  command: C,
  body: unknown,
  knownHex?: string,
): Promise<C> {
  if (!(body instanceof Uint8Array)) return command;
  // the uploader hashed this body already (the whole object's SHA-256 of a single PUT);
  // a small one is left to the signer: a thread's round trip costs more
  if (knownHex === undefined && body.byteLength < INLINE_MAX_BYTES) return command;
  const hex = knownHex ?? (await hashThreads.sha256(body));
  stackOf(command).add(
    (next: (args: RawArgs) => Promise<unknown>) => (args: RawArgs) => {
      const req = args.request as { headers?: Record<string, string> };
      if (req.headers) req.headers['x-amz-content-sha256'] = hex;
      return next(args);
    },
    { step: 'build', name: 's3mountPayloadHash' },
  );
  return command;
}
