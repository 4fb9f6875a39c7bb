// s3m-test.h: entry points into the fast-path tables for tests, compiled only into the
// test binding (build/Release/s3m_test.node, binding.gyp's `s3m_test` target, S3M_TEST
// defined); the product binding (fuse.node) never contains them.
//
// They call the functions the FUSE threads call (s3m_attr_lookup, s3m_try_read,
// s3m_try_write, s3m_opendir, s3m_dir_begin + s3m_dir_give, s3m_readdir, s3m_releasedir) with made-up
// paths, handles and buffers, so that test/unit/native/ can drive the C tables from
// JavaScript without a mount and compare them with the models in test/fixtures/native/.
// The test binding also has small tables (binding.gyp) and clocks of its own (s3m-common.h).

#include <pthread.h>

// ---- argument helpers ----

static double s3m_test_num (napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

static napi_value s3m_test_double (napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static napi_value s3m_test_null (napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

static void s3m_test_set (napi_env env, napi_value obj, const char *name, double d) {
  napi_set_named_property(env, obj, name, s3m_test_double(env, d));
}

// ---- limits, clocks, reset ----

// s3m_test_limits() -> the table sizes this binding was built with
NAPI_METHOD(s3m_test_limits) {
  napi_value out;
  napi_create_object(env, &out);
  s3m_test_set(env, out, "attrMax", S3M_ATTR_MAX);
  s3m_test_set(env, out, "files", S3M_FILES);
  s3m_test_set(env, out, "slots", S3M_SLOTS);
  s3m_test_set(env, out, "wfiles", S3M_WFILES);
  s3m_test_set(env, out, "dirs", S3M_DIRS);
  s3m_test_set(env, out, "disk", S3M_DISK_MAX);
  return out;
}

// s3m_test_clock(monotonicMs, wallMs): what s3m_now_ms and s3m_wall_ms answer from now on
NAPI_METHOD(s3m_test_clock) {
  NAPI_ARGV(2)
  __atomic_store_n(&s3m_test_mono_ms, (uint64_t) s3m_test_num(env, argv[0]), __ATOMIC_RELAXED);
  __atomic_store_n(&s3m_test_wall_ms, (uint64_t) s3m_test_num(env, argv[1]), __ATOMIC_RELAXED);
  return NULL;
}

#define S3M_TEST_HANDLES 64
static struct fuse_file_info s3m_test_infos[S3M_TEST_HANDLES];
static int s3m_test_info_used[S3M_TEST_HANDLES];

// s3m_test_reset(): every table empty, as in a new process (generation 1, no arena
// mappings, no staged files, no listings, no directory handles)
NAPI_METHOD(s3m_test_reset) {
  s3m_dfile_drop_all(-1);
  pthread_rwlock_wrlock(&s3m_lock);
  s3m_attr_free_all();
  __atomic_store_n(&s3m_gen, 1, __ATOMIC_RELEASE);
  memset(s3m_slots, 0, sizeof(s3m_slots));
  memset(s3m_files, 0, sizeof(s3m_files));
  if (s3m_blocks.keys != NULL) memset(s3m_blocks.keys, 0, ((size_t) s3m_blocks.mask + 1) * sizeof(uint64_t));
  s3m_blocks.count = 0;
  memset(s3m_wslots, 0, sizeof(s3m_wslots));
  for (int i = 0; i < S3M_WFILES; i++) {
    if (s3m_wfiles[i].used) close(s3m_wfiles[i].fd);
  }
  memset(s3m_wfiles, 0, sizeof(s3m_wfiles));
  pthread_rwlock_unlock(&s3m_lock);
  pthread_mutex_lock(&s3m_dir_mu);
  for (int i = 0; i < S3M_TEST_HANDLES; i++) {
    if (s3m_test_info_used[i]) free((void *) (uintptr_t) s3m_test_infos[i].fh);
    s3m_test_info_used[i] = 0;
  }
  for (int i = 0; i < S3M_DIRS; i++) {
    if (!s3m_dirs[i].used) continue;
    s3m_dirs[i].refs = 1;
    s3m_dir_unref(i);
  }
  s3m_dir_serial = 0;
  pthread_mutex_unlock(&s3m_dir_mu);
  return NULL;
}

// ---- attributes ----

// the fields of a struct stat, in the order of fuse-native's getStatArray (times in ms)
static napi_value s3m_test_stat_out (napi_env env, const struct stat *st) {
  napi_value out;
  napi_create_object(env, &out);
  s3m_test_set(env, out, "mode", st->st_mode);
  s3m_test_set(env, out, "uid", st->st_uid);
  s3m_test_set(env, out, "gid", st->st_gid);
  s3m_test_set(env, out, "size", (double) st->st_size);
  s3m_test_set(env, out, "dev", (double) st->st_dev);
  s3m_test_set(env, out, "nlink", (double) st->st_nlink);
  s3m_test_set(env, out, "ino", (double) st->st_ino);
  s3m_test_set(env, out, "rdev", (double) st->st_rdev);
  s3m_test_set(env, out, "blksize", (double) st->st_blksize);
  s3m_test_set(env, out, "blocks", (double) st->st_blocks);
#ifdef __APPLE__
  const struct timespec *at = &st->st_atimespec, *mt = &st->st_mtimespec, *ct = &st->st_ctimespec;
#else
  const struct timespec *at = &st->st_atim, *mt = &st->st_mtim, *ct = &st->st_ctim;
#endif
  s3m_test_set(env, out, "atimeMs", (double) at->tv_sec * 1000 + at->tv_nsec / 1000000);
  s3m_test_set(env, out, "mtimeMs", (double) mt->tv_sec * 1000 + mt->tv_nsec / 1000000);
  s3m_test_set(env, out, "ctimeMs", (double) ct->tv_sec * 1000 + ct->tv_nsec / 1000000);
  return out;
}

// s3m_test_getattr(path) -> the stat a FUSE thread's getattr answers itself, or null
// (it would go to JavaScript)
NAPI_METHOD(s3m_test_getattr) {
  NAPI_ARGV(1)
  NAPI_ARGV_UTF8_MALLOC(path, 0)
  struct stat st;
  memset(&st, 0, sizeof(st));
  int hit = s3m_attr_lookup(path, &st);
  free(path);
  return hit ? s3m_test_stat_out(env, &st) : s3m_test_null(env);
}

// s3m_test_stat(ints: Uint32Array of S3M_STAT_INTS) -> what populate_stat makes of it
NAPI_METHOD(s3m_test_stat) {
  NAPI_ARGV(1)
  NAPI_ARGV_BUFFER_CAST(uint32_t *, ints, 0)
  if (ints_len < S3M_STAT_INTS * sizeof(uint32_t)) {
    napi_throw_error(env, NULL, "s3m_test_stat needs S3M_STAT_INTS uint32s");
    return NULL;
  }
  struct stat st;
  memset(&st, 0, sizeof(st));
  populate_stat(ints, &st);
  return s3m_test_stat_out(env, &st);
}

// s3m_test_attr_count() -> entries held (live or not)
NAPI_METHOD(s3m_test_attr_count) {
  pthread_rwlock_rdlock(&s3m_lock);
  uint32_t n = s3m_attr_count;
  pthread_rwlock_unlock(&s3m_lock);
  NAPI_RETURN_UINT32(n)
}

// ---- reads and writes ----

// s3m_test_map_count() -> keys in the block map
NAPI_METHOD(s3m_test_map_count) {
  pthread_rwlock_rdlock(&s3m_lock);
  uint32_t n = s3m_blocks.count;
  pthread_rwlock_unlock(&s3m_lock);
  NAPI_RETURN_UINT32(n)
}

// s3m_test_read(fh, offset, length) -> the bytes a FUSE thread's read answers itself, or
// null (it would go to JavaScript)
NAPI_METHOD(s3m_test_read) {
  NAPI_ARGV(3)
  uint64_t fh = (uint64_t) s3m_test_num(env, argv[0]);
  off_t offset = (off_t) s3m_test_num(env, argv[1]);
  size_t len = (size_t) s3m_test_num(env, argv[2]);
  char *buf = malloc(len > 0 ? len : 1);
  if (buf == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  int res = s3m_try_read(fh, buf, len, offset);
  napi_value out;
  if (res < 0) out = s3m_test_null(env);
  else napi_create_buffer_copy(env, (size_t) res, buf, NULL, &out);
  free(buf);
  return out;
}

// s3m_test_write(fh, data: Buffer, offset) -> bytes written or -errno as a FUSE thread's
// write answers itself, or null (it would go to JavaScript)
NAPI_METHOD(s3m_test_write) {
  NAPI_ARGV(3)
  uint64_t fh = (uint64_t) s3m_test_num(env, argv[0]);
  NAPI_ARGV_BUFFER(data, 1)
  off_t offset = (off_t) s3m_test_num(env, argv[2]);
  int res = s3m_try_write(fh, data, data_len, offset);
  return res == S3M_NOT_HERE ? s3m_test_null(env) : s3m_test_double(env, res);
}

#include "s3m-test-dirs.h"

#define S3M_TEST_EXPORTS \
  NAPI_EXPORT_FUNCTION(s3m_test_limits) \
  NAPI_EXPORT_FUNCTION(s3m_test_clock) \
  NAPI_EXPORT_FUNCTION(s3m_test_reset) \
  NAPI_EXPORT_FUNCTION(s3m_test_getattr) \
  NAPI_EXPORT_FUNCTION(s3m_test_stat) \
  NAPI_EXPORT_FUNCTION(s3m_test_attr_count) \
  NAPI_EXPORT_FUNCTION(s3m_test_map_count) \
  NAPI_EXPORT_FUNCTION(s3m_test_read) \
  NAPI_EXPORT_FUNCTION(s3m_test_write) \
  NAPI_EXPORT_FUNCTION(s3m_test_opendir) \
  NAPI_EXPORT_FUNCTION(s3m_test_releasedir) \
  NAPI_EXPORT_FUNCTION(s3m_test_readdir) \
  NAPI_EXPORT_FUNCTION(s3m_test_readdir_resume) \
  NAPI_EXPORT_FUNCTION(s3m_test_readdir_start) \
  NAPI_EXPORT_FUNCTION(s3m_test_readdir_poll)
