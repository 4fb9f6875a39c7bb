// mount.fuse.s3mount: the helper mount(8) runs for `mount -t fuse.s3mount` and fstab
// lines. Translates its calling convention and runs the ordinary mount command.
import { helperToArgs } from './mount-options.js';
import { UserError } from './preflight.js';
import { main } from './main.js';

export async function helperMain(argv: string[]): Promise<number> {
  let request;
  try {
    request = helperToArgs(argv.slice(2));
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    process.stderr.write(`mount.fuse.s3mount: ${err.message}\n`);
    return err.exitCode;
  }
  if (request.fake) return 0;
  return main([argv[0] ?? 'node', argv[1] ?? 'mount.fuse.s3mount', ...request.args]);
}
