// s3mount-fast.h: s3mount's fast paths inside fuse-native. fuse-native.c includes this
// file just before fuse_native_mount, which calls s3m_route_ops to point getattr, read,
// write, readdir, opendir and releasedir at the functions below once JavaScript has
// enabled them (s3m_enable); otherwise every op goes to JavaScript as upstream does.
// The tables live in s3m-attrs.h, s3m-reads.h, s3m-writes.h and s3m-dirs.h.
//
// fuse-native hands every FUSE op to the JavaScript thread and makes the FUSE thread
// wait for the answer: about 100-200 us per op however little JavaScript does. Four
// tables let FUSE threads answer the commonest ops themselves, in parallel:
//
//  - attributes: names a readdir has just listed, with their stat, for a short TTL.
//    Any change JavaScript makes bumps a generation number, which drops them all at
//    once (s3m_attr_invalidate). `ls -l` of a big directory is then one LOOKUP per name
//    answered here.
//  - reads: the block cache's memory is one arena allocated here, and a hash maps
//    (object version, block) to the arena slot holding it. An open handle attached to
//    its object version has reads whose blocks are all mapped answered with memcpy on
//    the FUSE thread; anything else goes to JavaScript as before. When a served read
//    passes the handle's trigger offset, JavaScript is woken (not waited for) so that
//    it can keep prefetching ahead of the reader.
//
//  - writes: a handle open for writing on a staged file (the local copy that is
//    uploaded later) has its writes done here with pwrite into that file. JavaScript
//    takes the new size and the lowest offset written when it next looks at the file,
//    and is woken (not waited for) when the size passes its trigger, so that parts of a
//    file written front to back are uploaded while it is written.
//
//  - directory listings: readdir hands the kernel each page of a listing as soon as
//    JavaScript has it (s3m_readdir), instead of the whole directory at the end, so
//    that `ls -l` looks up the first names while the later pages are still coming.
//
// JavaScript owns all of them: it fills them, empties them and decides what is valid.
// Nothing here talks to S3.

#include "s3m-common.h"
#include "s3m-attrs.h"
#include "s3m-reads.h"
#include "s3m-writes.h"
#include "s3m-dirs.h"

// s3m_stats() -> [reads served here, bytes served here, writes done here, bytes written
// here, reads served here that took bytes from a disk cache block file]
NAPI_METHOD(s3m_stats) {
  napi_value out, a, b;
  napi_create_array_with_length(env, 5, &out);
  napi_create_double(env, (double) __atomic_load_n(&s3m_served_reads, __ATOMIC_RELAXED), &a);
  napi_create_double(env, (double) __atomic_load_n(&s3m_served_bytes, __ATOMIC_RELAXED), &b);
  napi_set_element(env, out, 0, a);
  napi_set_element(env, out, 1, b);
  napi_create_double(env, (double) __atomic_load_n(&s3m_written_ops, __ATOMIC_RELAXED), &a);
  napi_create_double(env, (double) __atomic_load_n(&s3m_written_bytes, __ATOMIC_RELAXED), &b);
  napi_set_element(env, out, 2, a);
  napi_set_element(env, out, 3, b);
  napi_create_double(env, (double) __atomic_load_n(&s3m_served_disk_reads, __ATOMIC_RELAXED), &a);
  napi_set_element(env, out, 4, a);
  return out;
}

// Set by s3m_enable (JavaScript's loadNativeFastPaths), read by s3m_route_ops at mount.
static int s3m_enabled = 0;

// s3m_enable(): the next mount routes its ops through the fast paths. Without it (s3mount
// --no-native) the mount is plain fuse-native: every op goes to JavaScript.
NAPI_METHOD(s3m_enable) {
  s3m_enabled = 1;
  return NULL;
}

// Called by fuse_native_mount after it has filled `ops` from what JavaScript implements.
// Returns 0, or throws and returns -1 when the mount must be refused.
//
// The fast readdir keeps its own handle (an s3m_dirh_t pointer) in info->fh from its
// opendir to its releasedir. fuse-native's opendir and releasedir would put a JavaScript
// handle number there instead, which s3m_readdir would take for a pointer: so a
// JavaScript opendir or releasedir is refused here, whatever order the ops are set in.
static int s3m_route_ops (napi_env env, struct fuse_operations *ops, uint32_t *implemented) {
  if (!s3m_enabled) return 0;
  if (implemented[op_opendir] || implemented[op_releasedir]) {
    napi_throw_error(env, NULL, "s3mount's fast readdir owns opendir and releasedir: a JavaScript opendir or releasedir cannot be used with it");
    return -1;
  }
  if (ops->getattr != NULL) ops->getattr = s3m_getattr;
  if (ops->read != NULL) ops->read = s3m_read;
  if (ops->write != NULL) ops->write = s3m_write;
  if (ops->readdir != NULL) {
    ops->readdir = s3m_readdir;
    ops->opendir = s3m_opendir;
    ops->releasedir = s3m_releasedir;
  }
  return 0;
}

#ifdef S3M_TEST
#include "s3m-test.h"
#else
#define S3M_TEST_EXPORTS
#endif

#define S3M_EXPORTS \
  S3M_TEST_EXPORTS \
  NAPI_EXPORT_FUNCTION(s3m_enable) \
  NAPI_EXPORT_FUNCTION(s3m_attr_put) \
  NAPI_EXPORT_FUNCTION(s3m_attr_invalidate) \
  NAPI_EXPORT_FUNCTION(s3m_attr_gen) \
  NAPI_EXPORT_FUNCTION(s3m_arena) \
  NAPI_EXPORT_FUNCTION(s3m_file_open) \
  NAPI_EXPORT_FUNCTION(s3m_file_close) \
  NAPI_EXPORT_FUNCTION(s3m_map) \
  NAPI_EXPORT_FUNCTION(s3m_unmap) \
  NAPI_EXPORT_FUNCTION(s3m_dmap) \
  NAPI_EXPORT_FUNCTION(s3m_dunmap) \
  NAPI_EXPORT_FUNCTION(s3m_attach) \
  NAPI_EXPORT_FUNCTION(s3m_detach) \
  NAPI_EXPORT_FUNCTION(s3m_arm) \
  NAPI_EXPORT_FUNCTION(s3m_take) \
  NAPI_EXPORT_FUNCTION(s3m_stats) \
  NAPI_EXPORT_FUNCTION(s3m_on_trigger) \
  NAPI_EXPORT_FUNCTION(s3m_wopen) \
  NAPI_EXPORT_FUNCTION(s3m_wclose) \
  NAPI_EXPORT_FUNCTION(s3m_wattach) \
  NAPI_EXPORT_FUNCTION(s3m_wdetach) \
  NAPI_EXPORT_FUNCTION(s3m_wtake) \
  NAPI_EXPORT_FUNCTION(s3m_wsize) \
  NAPI_EXPORT_FUNCTION(s3m_warm) \
  NAPI_EXPORT_FUNCTION(s3m_on_dir) \
  NAPI_EXPORT_FUNCTION(s3m_dir_take) \
  NAPI_EXPORT_FUNCTION(s3m_dir_push) \
  { napi_value v; napi_create_uint32(env, S3M_ABI_VERSION, &v); napi_set_named_property(env, exports, "s3m_version", v); }
