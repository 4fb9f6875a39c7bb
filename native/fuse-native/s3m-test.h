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
  pthread_rwlock_wrlock(&s3m_lock);
  s3m_attr_free_all();
  __atomic_store_n(&s3m_gen, 1, __ATOMIC_RELEASE);
  memset(s3m_slots, 0, sizeof(s3m_slots));
  memset(s3m_files, 0, sizeof(s3m_files));
  if (s3m_hkeys != NULL) memset(s3m_hkeys, 0, ((size_t) s3m_hmask + 1) * sizeof(uint64_t));
  s3m_hcount = 0;
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
  s3m_test_set(env, out, "atimeMs", (double) st->st_atim.tv_sec * 1000 + st->st_atim.tv_nsec / 1000000);
  s3m_test_set(env, out, "mtimeMs", (double) st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000);
  s3m_test_set(env, out, "ctimeMs", (double) st->st_ctim.tv_sec * 1000 + st->st_ctim.tv_nsec / 1000000);
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
  uint32_t n = s3m_hcount;
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

// ---- directory streams ----

// what the kernel's readdir buffer receives: at most `room` entries
typedef struct {
  uint32_t room, n;
  char **names;
  uint32_t *modes;
  int64_t *offs;
} s3m_test_fill_t;

static int s3m_test_filler (void *buf, const char *name, const struct stat *st, off_t off) {
  s3m_test_fill_t *f = buf;
  if (f->n >= f->room) return 1;
  f->names[f->n] = strdup(name);
  f->modes[f->n] = st->st_mode;
  f->offs[f->n] = off;
  f->n++;
  return 0;
}

static int s3m_test_fill_init (s3m_test_fill_t *f, uint32_t room) {
  f->room = room;
  f->n = 0;
  f->names = calloc(room + 1, sizeof(char *));
  f->modes = calloc(room + 1, sizeof(uint32_t));
  f->offs = calloc(room + 1, sizeof(int64_t));
  return f->names != NULL && f->modes != NULL && f->offs != NULL;
}

static void s3m_test_fill_free (s3m_test_fill_t *f) {
  for (uint32_t i = 0; i < f->n; i++) free(f->names[i]);
  free(f->names);
  free(f->modes);
  free(f->offs);
  memset(f, 0, sizeof(*f));
}

// { res: 0 | -errno | null (readdir would wait), names, modes, offsets }
static napi_value s3m_test_fill_out (napi_env env, int res, s3m_test_fill_t *f) {
  napi_value out, names, modes, offs;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "res", res == S3M_WOULD_WAIT ? s3m_test_null(env) : s3m_test_double(env, res));
  napi_create_array_with_length(env, f->n, &names);
  napi_create_array_with_length(env, f->n, &modes);
  napi_create_array_with_length(env, f->n, &offs);
  for (uint32_t i = 0; i < f->n; i++) {
    napi_value s;
    napi_create_string_utf8(env, f->names[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, names, i, s);
    napi_set_element(env, modes, i, s3m_test_double(env, f->modes[i]));
    napi_set_element(env, offs, i, s3m_test_double(env, (double) f->offs[i]));
  }
  napi_set_named_property(env, out, "names", names);
  napi_set_named_property(env, out, "modes", modes);
  napi_set_named_property(env, out, "offsets", offs);
  return out;
}

static struct fuse_file_info *s3m_test_info (napi_env env, uint32_t h) {
  if (h < S3M_TEST_HANDLES && s3m_test_info_used[h]) return &s3m_test_infos[h];
  napi_throw_error(env, NULL, "not an open test directory handle");
  return NULL;
}

// s3m_test_opendir(path) -> a directory handle (index), as FUSE's opendir makes one
NAPI_METHOD(s3m_test_opendir) {
  NAPI_ARGV(1)
  NAPI_ARGV_UTF8_MALLOC(path, 0)
  int32_t h = -1;
  for (int32_t i = 0; i < S3M_TEST_HANDLES; i++) {
    if (s3m_test_info_used[i]) continue;
    memset(&s3m_test_infos[i], 0, sizeof(s3m_test_infos[i]));
    if (s3m_opendir(path, &s3m_test_infos[i]) == 0) {
      s3m_test_info_used[i] = 1;
      h = i;
    }
    break;
  }
  free(path);
  NAPI_RETURN_INT32(h)
}

// s3m_test_releasedir(h, path)
NAPI_METHOD(s3m_test_releasedir) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(h, 0)
  NAPI_ARGV_UTF8_MALLOC(path, 1)
  struct fuse_file_info *fi = s3m_test_info(env, h);
  if (fi != NULL) {
    s3m_releasedir(path, fi);
    s3m_test_info_used[h] = 0;
  }
  free(path);
  return NULL;
}

// s3m_test_readdir(h, path, offset, room) -> what readdir hands the kernel at `offset`
// with room for `room` entries; res null where it would wait for JavaScript
NAPI_METHOD(s3m_test_readdir) {
  NAPI_ARGV(4)
  NAPI_ARGV_UINT32(h, 0)
  NAPI_ARGV_UTF8_MALLOC(path, 1)
  off_t offset = (off_t) s3m_test_num(env, argv[2]);
  NAPI_ARGV_UINT32(room, 3)
  struct fuse_file_info *fi = s3m_test_info(env, h);
  s3m_test_fill_t fill;
  if (fi == NULL || !s3m_test_fill_init(&fill, room)) {
    free(path);
    return NULL;
  }
  s3m_dirh_t *dh = (s3m_dirh_t *) (uintptr_t) fi->fh;
  pthread_mutex_lock(&s3m_dir_mu);
  int res = s3m_dir_begin(dh, path, offset);
  if (res == 0) res = s3m_dir_give(dh, &fill, s3m_test_filler, offset, 0);
  pthread_mutex_unlock(&s3m_dir_mu);
  free(path);
  napi_value out = s3m_test_fill_out(env, res, &fill);
  s3m_test_fill_free(&fill);
  return out;
}

// s3m_test_readdir_resume(h, offset, room) -> a readdir that would have waited, carrying
// on: only the second half (s3m_dir_give), as the FUSE thread does when woken
NAPI_METHOD(s3m_test_readdir_resume) {
  NAPI_ARGV(3)
  NAPI_ARGV_UINT32(h, 0)
  off_t offset = (off_t) s3m_test_num(env, argv[1]);
  NAPI_ARGV_UINT32(room, 2)
  struct fuse_file_info *fi = s3m_test_info(env, h);
  s3m_test_fill_t fill;
  if (fi == NULL || !s3m_test_fill_init(&fill, room)) return NULL;
  s3m_dirh_t *dh = (s3m_dirh_t *) (uintptr_t) fi->fh;
  if (dh->stream < 0) {
    s3m_test_fill_free(&fill);
    napi_throw_error(env, NULL, "that handle has no stream to carry on with");
    return NULL;
  }
  pthread_mutex_lock(&s3m_dir_mu);
  int res = s3m_dir_give(dh, &fill, s3m_test_filler, offset, 0);
  pthread_mutex_unlock(&s3m_dir_mu);
  napi_value out = s3m_test_fill_out(env, res, &fill);
  s3m_test_fill_free(&fill);
  return out;
}

// One readdir on a thread of its own, as a FUSE thread runs it (s3m_readdir: waits for
// JavaScript's pushes on s3m_dir_cv).
static struct {
  pthread_t thread;
  int running;   // started and not yet collected
  int finished;  // the thread is done (atomic)
  struct fuse_file_info *info;
  char *path;
  off_t offset;
  s3m_test_fill_t fill;
  int res;
} s3m_test_job;

static void *s3m_test_job_run (void *arg) {
  s3m_test_job.res = s3m_readdir(s3m_test_job.path, &s3m_test_job.fill, s3m_test_filler, s3m_test_job.offset, s3m_test_job.info);
  __atomic_store_n(&s3m_test_job.finished, 1, __ATOMIC_RELEASE);
  return NULL;
}

// s3m_test_readdir_start(h, path, offset, room): s3m_readdir on a new thread (needs
// s3m_on_dir first; one at a time)
NAPI_METHOD(s3m_test_readdir_start) {
  NAPI_ARGV(4)
  NAPI_ARGV_UINT32(h, 0)
  NAPI_ARGV_UTF8_MALLOC(path, 1)
  off_t offset = (off_t) s3m_test_num(env, argv[2]);
  NAPI_ARGV_UINT32(room, 3)
  struct fuse_file_info *fi = s3m_test_info(env, h);
  if (fi == NULL) {
    free(path);
    return NULL;
  }
  if (s3m_test_job.running || !s3m_dir_ready) {
    free(path);
    napi_throw_error(env, NULL, s3m_test_job.running ? "a test readdir is still running" : "s3m_on_dir first");
    return NULL;
  }
  if (!s3m_test_fill_init(&s3m_test_job.fill, room)) {
    free(path);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  s3m_test_job.info = fi;
  s3m_test_job.path = path;
  s3m_test_job.offset = offset;
  s3m_test_job.finished = 0;
  if (pthread_create(&s3m_test_job.thread, NULL, s3m_test_job_run, NULL) != 0) {
    free(path);
    s3m_test_fill_free(&s3m_test_job.fill);
    napi_throw_error(env, NULL, "cannot start a thread");
    return NULL;
  }
  s3m_test_job.running = 1;
  return NULL;
}

// s3m_test_readdir_poll() -> null while that readdir waits, then its result (as s3m_test_readdir)
NAPI_METHOD(s3m_test_readdir_poll) {
  if (!s3m_test_job.running || !__atomic_load_n(&s3m_test_job.finished, __ATOMIC_ACQUIRE)) return s3m_test_null(env);
  pthread_join(s3m_test_job.thread, NULL);
  s3m_test_job.running = 0;
  napi_value out = s3m_test_fill_out(env, s3m_test_job.res, &s3m_test_job.fill);
  s3m_test_fill_free(&s3m_test_job.fill);
  free(s3m_test_job.path);
  return out;
}

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
