#!/usr/bin/env node
// mount.fuse.s3mount: the mount(8) helper (`mount -t fuse.s3mount BUCKET[:PREFIX] DIR -o ...`).
// mount(8) runs helpers without PATH: installed copies are started by an absolute node path.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.UV_THREADPOOL_SIZE ??= '16';
let helperMain;
try {
  ({ helperMain } = await import('../dist/cli/mount-helper.js'));
} catch (err) {
  process.stderr.write(`mount.fuse.s3mount: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
}

helperMain(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`mount.fuse.s3mount: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
