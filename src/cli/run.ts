// `s3mount run [options] BUCKET DIR -- COMMAND...`: a mount for the length of one command
// (a Slurm job step). The daemon is a child of this process, in the same process group and
// cgroup (never detached), so the job's process tracking keeps it. After COMMAND: wait for
// every upload, unmount, exit with COMMAND's status, or EXIT_NOT_UPLOADED and the list.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import type { RawOptions } from '../config/config.js';
import { OPTIONS } from '../config/options.js';
import type { NotUploaded } from '../control/protocol.js';
import { clearDeadMount, isDeadMount } from './fusermount.js';
import type { ChildMessage } from './mount-daemon.js';
import { DAEMON_CHILD_ENV } from './mount.js';
import { UserError } from './preflight.js';
import { reportNotUploaded, syncAll } from './sync.js';
import { unmountMount } from './unmount.js';

/** Exit status when COMMAND ran but some files could not be uploaded (EX_TEMPFAIL, sysexits.h). */
export const EXIT_NOT_UPLOADED = 75;

/** The mount options as flags for the daemon child: never a `--` among them. */
export function optionArgs(flags: RawOptions): string[] {
  const out: string[] = [];
  for (const o of OPTIONS) {
    const v = flags[o.name];
    if (v === undefined || o.name === 'foreground') continue;
    if (o.type === 'boolean') out.push(v === true || v === 'true' ? `--${o.name}` : `--no-${o.name}`);
    else out.push(`--${o.name}=${String(v)}`);
  }
  return out;
}

function startDaemonChild(
  bucketSpec: string,
  mp: string,
  flags: RawOptions,
  env: NodeJS.ProcessEnv,
): ChildProcess {
  return spawn(
    process.execPath,
    [...process.execArgv, process.argv[1] ?? '', bucketSpec, mp, ...optionArgs(flags)],
    // the child marker goes in the environment, never on the command line (see DAEMON_CHILD_ENV)
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...env, [DAEMON_CHILD_ENV]: '1' } },
  );
}

function readyOrError(child: ChildProcess): Promise<ChildMessage> {
  return new Promise((resolve) => {
    child.once('message', (m: ChildMessage) => resolve(m));
    child.once('exit', (code, signal) =>
      resolve({ type: 'error', message: `the daemon exited during start (${signal ?? `code ${code}`})` }),
    );
    child.once('error', (e) => resolve({ type: 'error', message: `cannot start the daemon: ${e.message}` }));
  });
}

/** Runs COMMAND; its exit status (128 + n if killed by signal n). Signals to us are passed on. */
function runCommand(command: string[]): Promise<number> {
  return new Promise((resolve) => {
    const [file, ...args] = command;
    const cmd = spawn(file ?? '', args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => () => {
      if (cmd.exitCode === null) cmd.kill(sig);
    };
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = (code: number) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code);
    };
    cmd.once('error', (e) => {
      process.stderr.write(`s3mount: cannot run ${file}: ${e.message}\n`);
      done(127);
    });
    cmd.once('exit', (code, signal) => done(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}

export async function runCommandWithMount(
  bucketSpec: string,
  mountpoint: string,
  flags: RawOptions,
  command: string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  if (command.length === 0)
    throw new UserError('s3mount run: give the command after --, e.g. s3mount run BUCKET DIR -- ./job.sh', 2);
  const mp = resolve(mountpoint);
  const child = startDaemonChild(bucketSpec, mp, flags, env);
  // a signal while we mount or wait reaches the daemon too (same process group): it unmounts itself
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const verdict = await readyOrError(child);
  child.removeAllListeners('message');
  if (child.connected) child.disconnect();
  if (verdict.type === 'error') {
    process.stderr.write(`s3mount: ${verdict.message}\n`);
    return 1;
  }
  const status = await runCommand(command);

  let notUploaded: NotUploaded[];
  try {
    notUploaded = await syncAll([{ mountpoint: mp, paths: ['/'] }], env, process.stderr);
    const outcome = await unmountMount(mp, env, { force: false, lazyIfBusy: true });
    for (const f of outcome.staged)
      if (!notUploaded.some((n) => n.path === mp + f.path)) notUploaded.push({ ...f, path: mp + f.path });
  } catch (err) {
    process.stderr.write(`s3mount: ${err instanceof Error ? err.message : String(err)}\n`);
    if (await isDeadMount(mp)) await clearDeadMount(mp);
    process.stderr.write(
      's3mount: what was written and not uploaded stays staged; the next mount of the same bucket uploads it\n',
    );
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    return EXIT_NOT_UPLOADED;
  }
  await exited;
  if (notUploaded.length > 0) {
    reportNotUploaded(process.stderr, notUploaded);
    return EXIT_NOT_UPLOADED;
  }
  return status;
}
