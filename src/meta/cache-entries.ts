// What the metadata cache (metadata.ts) keeps per path and per directory, and its sizes
// and limits, each with its reason.
import type { Directory } from './listing.js';

export interface Timed<T> {
  value: T;
  expiresAtMs: number;
}

/** A listing answers for the names in it until `expiresAtMs`; for names missing from it only until `missesUntilMs`. */
export interface Listed extends Timed<Directory> {
  missesUntilMs: number;
}

export const DEFAULT_MAX_ENTRIES = 1_000_000;
/**
 * A name missing from a listing older than --negative-ttl is looked for again. In a
 * directory of at most this many entries (one LIST page) the directory is listed again,
 * once for all the names asked meanwhile, instead of a HEAD and a LIST per name: a
 * `cp -r` of 1,000 files sent 763 of each after the first 5 s.
 */
export const RELIST_MAX_ENTRIES = 1000;
