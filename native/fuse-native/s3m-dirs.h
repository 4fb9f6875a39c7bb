// s3m-dirs.h: readdir handed out page by page while JavaScript lists the directory
// (streams that JavaScript fills with s3m_dir_push); opendir/releasedir own the handles.

// ---- streamed directory listings ----
//
// libfuse 2 asks readdir for one buffer at a time, at an offset, when the filesystem
// gives every entry its own offset (entry i has offset i + 1). opendir makes a handle;
// readdir at offset 0 starts a stream: JavaScript is asked (uv_async) to list the path
// and pushes each page's names and stats into it (s3m_dir_push). readdir hands out what
// is there from the requested offset and waits only when it has nothing yet to give.
// A stream is freed when its handle is released and JavaScript has finished it.

#ifndef S3M_DIRS  // the test binding makes the tables small, to fill them
#define S3M_DIRS 1024
#endif

typedef struct {
  int used;
  int refs;           // the handle that started it, and JavaScript until done
  uint32_t serial;    // JavaScript names a stream by slot + S3M_DIRS * serial
  int done;
  int err;            // -errno once done, or 0
  char *path;         // to be listed (freed once JavaScript took the request)
  int asked;          // JavaScript took the request
  char **names;
  uint32_t *modes;    // all readdir tells the kernel of an entry is its type
  size_t count, cap;
} s3m_dir_t;

typedef struct {
  int32_t stream;     // -1: none
} s3m_dirh_t;

static s3m_dir_t s3m_dirs[S3M_DIRS];
static uint32_t s3m_dir_serial = 0;
static pthread_mutex_t s3m_dir_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s3m_dir_cv = PTHREAD_COND_INITIALIZER;
static uv_async_t s3m_dir_async;
static int s3m_dir_ready = 0;
static napi_env s3m_dir_env;
static napi_ref s3m_dir_fn;

// under s3m_dir_mu
static void s3m_dir_unref (int32_t slot) {
  s3m_dir_t *d = &s3m_dirs[slot];
  if (--d->refs > 0) return;
  for (size_t i = 0; i < d->count; i++) free(d->names[i]);
  free(d->names);
  free(d->modes);
  free(d->path);
  memset(d, 0, sizeof(*d));
}

static int s3m_opendir (const char *path, struct fuse_file_info *info) {
  s3m_dirh_t *h = malloc(sizeof(s3m_dirh_t));
  if (h == NULL) return -ENOMEM;
  h->stream = -1;
  info->fh = (uint64_t) (uintptr_t) h;
  return 0;
}

static int s3m_releasedir (const char *path, struct fuse_file_info *info) {
  s3m_dirh_t *h = (s3m_dirh_t *) (uintptr_t) info->fh;
  if (h == NULL) return 0;
  pthread_mutex_lock(&s3m_dir_mu);
  if (h->stream >= 0) s3m_dir_unref(h->stream);
  pthread_mutex_unlock(&s3m_dir_mu);
  free(h);
  return 0;
}

// under s3m_dir_mu: a new stream of `path`, or -1 (table full, out of memory)
static int32_t s3m_dir_start (const char *path) {
  for (int32_t i = 0; i < S3M_DIRS; i++) {
    s3m_dir_t *d = &s3m_dirs[i];
    if (d->used) continue;
    d->path = strdup(path);
    if (d->path == NULL) return -1;
    d->used = 1;
    d->refs = 2;
    d->serial = ++s3m_dir_serial & 0x3fffff;
    return i;
  }
  return -1;
}

// Under s3m_dir_mu, the first half of a readdir: at offset 0 (opendir, rewinddir), or
// when the handle has no stream yet, a new stream of `path` replaces the handle's old one
// and JavaScript is asked to list it. 0, or -ENOMEM when the table is full.
static int s3m_dir_begin (s3m_dirh_t *h, const char *path, off_t offset) {
  if (offset != 0 && h->stream >= 0) return 0;
  if (h->stream >= 0) s3m_dir_unref(h->stream);
  h->stream = s3m_dir_start(path);
  if (h->stream < 0) return -ENOMEM;
  if (s3m_dir_ready) uv_async_send(&s3m_dir_async);
  return 0;
}

// Under s3m_dir_mu, the second half: hands `filler` what the handle's stream has from
// `offset` on (entry i has offset i + 1); with nothing to hand out, the end (0) or the
// listing's -errno once JavaScript finished it, else waits for JavaScript's next push.
// With `wait` 0 (the test binding, whose caller is the JavaScript thread and must not
// block) it returns S3M_WOULD_WAIT instead of waiting.
#define S3M_WOULD_WAIT INT_MIN
static int s3m_dir_give (s3m_dirh_t *h, void *buf, fuse_fill_dir_t filler, off_t offset, int wait) {
  s3m_dir_t *d = &s3m_dirs[h->stream];
  size_t at = offset < 0 ? 0 : (size_t) offset;
  size_t given = 0;
  int res = 0;
  for (;;) {
    while (at < d->count) {
      struct stat st;
      memset(&st, 0, sizeof(st));
      st.st_mode = d->modes[at];
      if (filler(buf, d->names[at], &st, (off_t) at + 1) != 0) break;  // buffer full
      at++;
      given++;
    }
    if (given > 0 || at < d->count) break;
    if (d->done) {
      res = d->err;  // the end (0), or the listing failed
      break;
    }
    if (!wait) {
      res = S3M_WOULD_WAIT;
      break;
    }
    pthread_cond_wait(&s3m_dir_cv, &s3m_dir_mu);
  }
  return given > 0 ? 0 : res;
}

static int s3m_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *info) {
  s3m_dirh_t *h = (s3m_dirh_t *) (uintptr_t) info->fh;
  if (h == NULL || !s3m_dir_ready) return fuse_native_readdir(path, buf, filler, offset, info);
  pthread_mutex_lock(&s3m_dir_mu);
  int res = s3m_dir_begin(h, path, offset);
  if (res == 0) res = s3m_dir_give(h, buf, filler, offset, 1);
  pthread_mutex_unlock(&s3m_dir_mu);
  return res;
}

static void s3m_dir_wake (uv_async_t *handle) {
  s3m_call_ref(s3m_dir_env, s3m_dir_fn);
}

// s3m_on_dir(fn): fn() runs on the JavaScript thread when readdirs wait for new listings
// (s3m_dir_take tells which). Until it is called, readdir goes to JavaScript whole.
NAPI_METHOD(s3m_on_dir) {
  NAPI_ARGV(1)
  s3m_set_ref(env, argv[0], &s3m_dir_async, s3m_dir_wake, &s3m_dir_ready, &s3m_dir_env, &s3m_dir_fn);
  return NULL;
}

// s3m_dir_take() -> [id, path, id, path, ...]: the listings readdir asked for since the last take
NAPI_METHOD(s3m_dir_take) {
  napi_value out;
  napi_create_array(env, &out);
  uint32_t n = 0;
  pthread_mutex_lock(&s3m_dir_mu);
  for (int32_t i = 0; i < S3M_DIRS; i++) {
    s3m_dir_t *d = &s3m_dirs[i];
    if (!d->used || d->asked) continue;
    d->asked = 1;
    napi_value id, path;
    napi_create_uint32(env, (uint32_t) i + S3M_DIRS * d->serial, &id);
    napi_create_string_utf8(env, d->path, NAPI_AUTO_LENGTH, &path);
    napi_set_element(env, out, n++, id);
    napi_set_element(env, out, n++, path);
  }
  pthread_mutex_unlock(&s3m_dir_mu);
  return out;
}

// s3m_dir_push(id, names: string[], stats: Uint32Array (S3M_STAT_INTS per name), done, errno):
// appends entries to the stream; `done` ends it (with -errno when errno > 0).
NAPI_METHOD(s3m_dir_push) {
  NAPI_ARGV(5)
  NAPI_ARGV_UINT32(id, 0)
  napi_value names = argv[1];
  NAPI_ARGV_BUFFER_CAST(uint32_t *, ints, 2)
  NAPI_ARGV_UINT32(done, 3)
  NAPI_ARGV_UINT32(errnum, 4)
  uint32_t slot = id % S3M_DIRS;
  uint32_t serial = id / S3M_DIRS;
  uint32_t count = 0;
  napi_get_array_length(env, names, &count);
  // names are converted before taking the lock
  char **batch = calloc(count > 0 ? count : 1, sizeof(char *));
  uint32_t *modes = calloc(count > 0 ? count : 1, sizeof(uint32_t));
  uint32_t n = 0;
  if (batch != NULL && modes != NULL) {
    char name[1024];
    NAPI_FOR_EACH(names, element) {
      if ((size_t) (i + 1) * S3M_STAT_INTS * sizeof(uint32_t) > ints_len) break;
      if (s3m_name(env, element, name, sizeof(name) - 1) < 0) continue;
      batch[n] = strdup(name);
      if (batch[n] == NULL) break;
      modes[n] = ints[(size_t) i * S3M_STAT_INTS + S3M_STAT_MODE];
      n++;
    }
  }
  int lost = batch == NULL || modes == NULL || n < count;
  pthread_mutex_lock(&s3m_dir_mu);
  s3m_dir_t *d = &s3m_dirs[slot];
  int live = d->used && d->serial == serial && !d->done;
  if (live && n > 0) {
    if (d->count + n > d->cap) {
      size_t cap = d->cap == 0 ? 1024 : d->cap;
      while (cap < d->count + n) cap *= 2;
      char **nn = realloc(d->names, cap * sizeof(char *));
      if (nn != NULL) d->names = nn;
      uint32_t *ns = nn == NULL ? NULL : realloc(d->modes, cap * sizeof(uint32_t));
      if (ns != NULL) d->modes = ns;
      if (nn != NULL && ns != NULL) d->cap = cap;
    }
    if (d->count + n <= d->cap) {
      memcpy(d->names + d->count, batch, n * sizeof(char *));
      memcpy(d->modes + d->count, modes, n * sizeof(uint32_t));
      d->count += n;
      n = 0;  // owned by the stream now
    } else {
      lost = 1;
    }
  }
  if (live && lost) {
    // never hand out a listing with names missing: fail it
    done = 1;
    errnum = ENOMEM;
  }
  if (live && done) {
    d->done = 1;
    d->err = errnum > 0 ? -(int) errnum : 0;
    s3m_dir_unref(slot);
  }
  pthread_cond_broadcast(&s3m_dir_cv);
  pthread_mutex_unlock(&s3m_dir_mu);
  for (uint32_t i = 0; i < n; i++) free(batch[i]);
  free(batch);
  free(modes);
  NAPI_RETURN_UINT32(live ? 1 : 0)
}
