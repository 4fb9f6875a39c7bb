// Upload progress on a terminal: one line, rewritten in place, only when the stream is a TTY.
import type { UploadProgress } from '../control/protocol.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export interface ProgressLine {
  update(p: UploadProgress): void;
  /** clears the line (the final report is printed by the caller) */
  done(): void;
}

/** `label: N files, X left of Y, R/s` on `out` when it is a terminal; nothing otherwise. */
export function progressLine(out: NodeJS.WriteStream, label: string): ProgressLine {
  if (!out.isTTY) return { update: () => undefined, done: () => undefined };
  const t0 = Date.now();
  let first: number | undefined;
  let shown = false;
  return {
    update(p) {
      first ??= p.bytesLeft;
      const secs = (Date.now() - t0) / 1000;
      const rate = secs > 0 ? (first - p.bytesLeft) / secs : 0;
      out.write(
        `\r\x1b[K${label}: ${p.filesLeft} file${p.filesLeft === 1 ? '' : 's'}, ` +
          `${formatBytes(p.bytesLeft)} left of ${formatBytes(p.bytesTotal)}, ${formatBytes(rate)}/s`,
      );
      shown = true;
    },
    done() {
      if (shown) out.write('\r\x1b[K');
    },
  };
}
