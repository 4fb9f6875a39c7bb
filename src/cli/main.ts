// s3mount command line: yargs commands built from the option table. The only code
// that reads argv or decides the exit code.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { RawOptions } from '../config/config.js';
import { OPTIONS } from '../config/options.js';
import { ConfigError } from '../config/parse.js';
import { mountCommand } from './mount.js';
import { expandDashO } from './mount-options.js';
import { UserError } from './preflight.js';
import { runCommandWithMount } from './run.js';
import { shareCommand } from './share.js';
import { statusCommand } from './status.js';
import { syncCommand } from './sync.js';
import { unmountCommand } from './unmount.js';
import { verifyCommand } from './verify.js';

function optionFlags(): Record<
  string,
  { type: 'string' | 'boolean'; describe: string; alias?: string; group: string }
> {
  const out: Record<string, { type: 'string' | 'boolean'; describe: string; alias?: string; group: string }> =
    {};
  for (const o of OPTIONS) {
    const extra = [
      o.default !== undefined ? `default: ${String(o.default)}` : '',
      o.env ? `env: ${o.env}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    out[o.name] = {
      type: o.type === 'boolean' ? 'boolean' : 'string',
      describe: extra ? `${o.describe} [${extra}]` : o.describe,
      group: `${o.group}:`,
      ...(o.alias !== undefined ? { alias: o.alias } : {}),
    };
  }
  return out;
}

/** A flag given more than once counts as its last value. */
function lastOf(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/**
 * The mount options given on the command line, from yargs' parse. An option given twice
 * (a flag after an fstab `-o`, or a wrapper script's default overridden) counts once, as
 * its last value: yargs would hand over both as an array, which no option takes.
 */
function mountFlags(a: Record<string, unknown>): RawOptions {
  const flags: RawOptions = {};
  for (const o of OPTIONS) {
    const v = a[o.name];
    flags[o.name] = (Array.isArray(v) ? v[v.length - 1] : v) as string | boolean | undefined;
  }
  return flags;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const done = (p: Promise<number | undefined>) =>
    p.then((c) => {
      exitCode = c ?? 0;
    });
  try {
    // `s3mount SOURCE DIR -o OPTS`: how fuse3's mount.fuse3 runs a fuse.s3mount mount
    const all = hideBin(argv);
    // `s3mount run ... -- COMMAND...`: COMMAND is not ours to parse
    const dashes = all[0] === 'run' ? all.indexOf('--') : -1;
    const args = expandDashO(dashes >= 0 ? all.slice(0, dashes) : all);
    const command = dashes >= 0 ? all.slice(dashes + 1) : [];
    await yargs(args)
      .scriptName('s3mount')
      .usage(
        'Usage:\n  s3mount BUCKET[:PREFIX] MOUNTPOINT [options]\n  s3mount MOUNTPOINT [options]   (every bucket)\n  s3mount run [options] BUCKET[:PREFIX] MOUNTPOINT -- COMMAND...\n' +
          '  s3mount status [MOUNTPOINT] [--json]\n  s3mount sync [PATH...]\n  s3mount share PATH... [--expires DURATION]\n' +
          '  s3mount verify [--require-checksum] PATH...\n  s3mount unmount [--force] MOUNTPOINT',
      )
      .command(
        'unmount <mountpoint>',
        'Unmount, after pending uploads are done (progress on a terminal); clears a dead mount',
        (y) =>
          y.positional('mountpoint', { type: 'string', demandOption: true }).option('force', {
            type: 'boolean',
            default: false,
            describe: 'do not wait for uploads: what is not uploaded stays staged for the next mount',
          }),
        (a) => done(unmountCommand(a.mountpoint, process.env, a.force)),
      )
      .command(
        'status [mountpoint]',
        'Show each of your s3mount mounts: bucket, uptime, cache, traffic, S3 requests and errors, pending uploads',
        (y) =>
          y
            .positional('mountpoint', { type: 'string', describe: 'only this mount' })
            .option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
        (a) => done(statusCommand(process.env, a.mountpoint, a.json)),
      )
      .command(
        'sync [paths..]',
        'Wait until everything written under PATH (default: this mount, or all) is in S3; exit 1 listing files that cannot be uploaded',
        (y) =>
          y.positional('paths', { type: 'string', array: true, describe: 'files or directories in mounts' }),
        (a) => done(syncCommand(a.paths ?? [], process.env)),
      )
      .command(
        'share <paths..>',
        'Print a presigned URL for each file (one per line) that downloads it without keys until it expires',
        (y) =>
          y
            .positional('paths', {
              type: 'string',
              array: true,
              demandOption: true,
              describe: 'files in mounts',
            })
            .option('expires', {
              type: 'string',
              describe: 'how long the links work: 3600, 90s, 30m, 12h, 7d (at most 7 days) [default: 1h]',
            }),
        (a) => done(shareCommand(a.paths, lastOf(a.expires), process.env)),
      )
      .command(
        'verify <paths..>',
        'Re-read files (directories: everything below) from S3 and check them against the SHA-256 stored at upload; one line per file, exit 1 on any mismatch or error',
        (y) =>
          y
            .positional('paths', { type: 'string', array: true, describe: 'files or directories in mounts' })
            .option('require-checksum', {
              type: 'boolean',
              default: false,
              describe: 'an object without a stored SHA-256 (NO-CHECKSUM) fails too',
            }),
        (a) => done(verifyCommand(a.paths ?? [], a['require-checksum'], process.env)),
      )
      .command(
        'run <bucket> <mountpoint>',
        "Mount, run the command given after --, wait for every upload, unmount; exit with the command's status (75: files not uploaded, listed)",
        (y) =>
          y
            .positional('bucket', {
              type: 'string',
              demandOption: true,
              describe: 'bucket name, or bucket:prefix',
            })
            .positional('mountpoint', { type: 'string', demandOption: true, describe: 'an empty directory' })
            .options(optionFlags()),
        (a) =>
          done(
            runCommandWithMount(String(a.bucket), String(a.mountpoint), mountFlags(a), command, process.env),
          ),
      )
      .command(
        '$0 <bucket> [mountpoint]',
        'Mount BUCKET (optionally only the keys under PREFIX) at MOUNTPOINT; with MOUNTPOINT alone, every bucket the keys can see',
        (y) =>
          y
            .positional('bucket', {
              type: 'string',
              demandOption: true,
              describe: 'bucket name, or bucket:prefix (or the mount point of a whole-account mount)',
            })
            .positional('mountpoint', { type: 'string', describe: 'an empty directory' })
            .options(optionFlags()),
        (a) => {
          const flags = mountFlags(a);
          // one positional: the mount point, and every bucket is mounted under it
          const [spec, mp]: [string, string] =
            a.mountpoint === undefined ? ['', String(a.bucket)] : [String(a.bucket), String(a.mountpoint)];
          return done(mountCommand(spec, mp, flags, process.env, args));
        },
      )
      .example(
        's3mount mybucket ~/tier2 --endpoint http://s3.example.edu:8443',
        'mount a bucket from a Ceph RGW',
      )
      .example('s3mount ~/tier2 --endpoint http://s3.example.edu:8443', 'every bucket, one directory each')
      .example('s3mount run mybucket $TMPDIR/in -- ./analyse.sh', 'a mount for the length of one command')
      .example('s3mount status --json', 'how your mounts are doing')
      .example('s3mount sync ~/tier2/results', 'wait until results/ is in S3')
      .example('s3mount share ~/tier2/results/plot.png --expires 7d', 'a download link for a week')
      .example(
        's3mount verify ~/tier2/results',
        'check results/ in S3 against the checksums stored at upload',
      )
      .example('s3mount unmount ~/tier2', 'unmount it')
      .strict()
      .help()
      .version()
      .wrap(Math.min(110, process.stdout.columns || 100))
      .fail((msg, err) => {
        throw err ?? new UserError(`${msg} (see s3mount --help)`, 2);
      })
      .parseAsync();
  } catch (err) {
    if (err instanceof UserError || err instanceof ConfigError) {
      process.stderr.write(`s3mount: ${err.message}\n`);
      return err instanceof UserError ? err.exitCode : 2;
    }
    process.stderr.write(`s3mount: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  return exitCode;
}
