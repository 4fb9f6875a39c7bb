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
import { unmountCommand } from './unmount.js';

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

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const done = (p: Promise<number | undefined>) =>
    p.then((c) => {
      exitCode = c ?? 0;
    });
  try {
    // `s3mount SOURCE DIR -o OPTS`: how fuse3's mount.fuse3 runs a fuse.s3mount mount
    const args = expandDashO(hideBin(argv));
    await yargs(args)
      .scriptName('s3mount')
      .usage('Usage:\n  s3mount BUCKET[:PREFIX] MOUNTPOINT [options]\n  s3mount unmount MOUNTPOINT')
      .command(
        'unmount <mountpoint>',
        'Unmount, after pending uploads are done',
        (y) => y.positional('mountpoint', { type: 'string', demandOption: true }),
        (a) => done(unmountCommand(a.mountpoint, process.env).then(() => 0)),
      )
      .command(
        '$0 <bucket> <mountpoint>',
        'Mount BUCKET (optionally only the keys under PREFIX) at MOUNTPOINT',
        (y) =>
          y
            .positional('bucket', {
              type: 'string',
              demandOption: true,
              describe: 'bucket name, or bucket:prefix',
            })
            .positional('mountpoint', { type: 'string', demandOption: true, describe: 'an empty directory' })
            .options(optionFlags()),
        (a) => {
          const flags: RawOptions = {};
          for (const o of OPTIONS) flags[o.name] = a[o.name] as string | boolean | undefined;
          return done(mountCommand(String(a.bucket), String(a.mountpoint), flags, process.env, args));
        },
      )
      .example(
        's3mount mybucket ~/tier2 --endpoint http://s3.example.edu:8443',
        'mount a bucket from a Ceph RGW',
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
