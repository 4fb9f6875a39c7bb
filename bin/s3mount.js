#!/usr/bin/env node
// s3mount entry point: runs the compiled CLI (npm run build makes dist/).
// the SDK warns on stderr that Node 20 support ends in 2027: not the user's concern
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// libuv's pool (staging file I/O, part reads) is shared by every open file and upload:
// 4 threads queue a new file's create behind background uploads. Read at first use.
process.env.UV_THREADPOOL_SIZE ??= '16';
let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
} catch (err) {
  // e.g. fuse-native's binding was never built: its message names the file and the fix
  process.stderr.write(`s3mount: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
}

main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`s3mount: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
