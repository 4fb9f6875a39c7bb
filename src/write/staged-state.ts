// The upload state of a staged file as a pure transition function: the file is dirty
// (S3 lacks its latest content), uploading, uploaded (S3 has this generation) or failed
// (the last attempt failed; it stays staged). Every change of content or metadata is a
// new generation. Anything else is a bug and throws.

export type StagedStateName = 'dirty' | 'uploading' | 'uploaded' | 'failed';

export interface StagedState {
  readonly name: StagedStateName;
  /** bumped by every change; an upload is current if it read this generation */
  readonly generation: number;
}

export type StagedEvent =
  /** a write, truncate or metadata change (also writes FUSE threads did, once taken in) */
  | { kind: 'change' }
  /** staged from the object and unchanged since: nothing to upload */
  | { kind: 'same-as-object' }
  /** an upload attempt starts (the queue runs one per file at a time) */
  | { kind: 'upload-start' }
  /** S3 now has `generation` (the one the upload read) */
  | { kind: 'upload-done'; generation: number }
  /** the attempt failed; the file stays staged for a retry */
  | { kind: 'upload-failed' }
  /** the attempt failed because the file changed under it: not a failure, just dirty */
  | { kind: 'upload-overtaken' };

/** A new staged file (created, or found by recovery): S3 lacks it. */
export const INITIAL_STATE: StagedState = { name: 'dirty', generation: 0 };

export class IllegalTransition extends Error {
  constructor(
    readonly from: StagedStateName,
    readonly event: StagedEvent['kind'],
  ) {
    super(`staged file: no transition from ${from} on ${event}`);
    this.name = 'IllegalTransition';
  }
}

export function transition(s: StagedState, e: StagedEvent): StagedState {
  const illegal = () => new IllegalTransition(s.name, e.kind);
  switch (e.kind) {
    case 'change':
      // a change during an upload leaves it uploading: its end decides (upload-done)
      return { name: s.name === 'uploading' ? 'uploading' : 'dirty', generation: s.generation + 1 };
    case 'same-as-object':
      if (s.name !== 'dirty') throw illegal();
      return { name: 'uploaded', generation: s.generation };
    case 'upload-start':
      if (s.name !== 'dirty' && s.name !== 'failed') throw illegal();
      return { name: 'uploading', generation: s.generation };
    case 'upload-done':
      if (s.name !== 'uploading' || e.generation > s.generation) throw illegal();
      return { name: e.generation === s.generation ? 'uploaded' : 'dirty', generation: s.generation };
    case 'upload-failed':
      if (s.name !== 'uploading') throw illegal();
      return { name: 'failed', generation: s.generation };
    case 'upload-overtaken':
      if (s.name !== 'uploading') throw illegal();
      return { name: 'dirty', generation: s.generation };
    default:
      return exhaustive(e);
  }
}

function exhaustive(x: never): never {
  throw new Error(`unhandled event ${JSON.stringify(x)}`);
}
