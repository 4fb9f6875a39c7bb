// withDeadline: a promise raced against a timer, for waits that must end by a time even
// when what they wait for goes on (a FUSE read waiting for blocks a GET brings).

/**
 * Resolves or rejects as `p` does, or rejects with `onTimeout()` once `ms` have passed
 * (`ms` <= 0: at once). `p` goes on; its later failure is not reported as unhandled.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  p.catch(() => undefined); // a failure after the deadline went to nobody: the caller had its answer
  if (ms <= 0) return Promise.reject(onTimeout());
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
