// s3m-test-dirs.h: the test binding's entry points into the directory streams
// (s3m-dirs.h), included by s3m-test.h: readdirs into a made-up kernel buffer, one
// carried on after it would have waited, and one on a thread of its own.

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
