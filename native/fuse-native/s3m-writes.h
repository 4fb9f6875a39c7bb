// s3m-writes.h: writes of handles on a staged file done on the FUSE thread with
// pwrite into that file; JavaScript takes the new size and lowest offset later.

// ---- writes into staged files ----

// A staged file registered here has its own descriptor (a dup of JavaScript's), so a
// write on a FUSE thread never races JavaScript closing its own. The global lock is not
// held during pwrite (a write may wait for the disk): `inflight` counts writers, and
// s3m_wclose waits for them before closing the descriptor and freeing the entry.

#ifndef S3M_WFILES  // the test binding makes the tables small, to fill them
#define S3M_WFILES 4096
#endif
#define S3M_NOT_HERE INT_MIN

typedef struct {
  int used;
  int fd;
  uint64_t size;
  uint64_t writes;   // writes since the last s3m_wtake
  uint64_t lowest;   // lowest offset written since the last s3m_wtake (UINT64_MAX: none)
  uint64_t trigger;  // wake JavaScript when a write ends past this
  uint64_t last_ms;  // wall-clock time of the last write (ms since the epoch): the mtime
  int fired;
  uint32_t inflight;
} s3m_wfile_t;

typedef struct {
  uint64_t fh;  // 0 = free
  uint32_t wfile;
} s3m_wslot_t;

static s3m_wfile_t s3m_wfiles[S3M_WFILES];
static s3m_wslot_t s3m_wslots[S3M_SLOTS];
static uint64_t s3m_written_ops = 0;
static uint64_t s3m_written_bytes = 0;

static void s3m_atomic_max (uint64_t *p, uint64_t v) {
  uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v > cur && !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {}
}

static void s3m_atomic_min (uint64_t *p, uint64_t v) {
  uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v < cur && !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {}
}

// S3M_NOT_HERE: not a handle registered here (go to JavaScript); otherwise the byte
// count or -errno.
static int s3m_try_write (uint64_t fh, const char *buf, size_t len, off_t offset) {
  if (fh == 0) return S3M_NOT_HERE;
  s3m_wfile_t *f = NULL;
  int fd = -1;
  pthread_rwlock_rdlock(&s3m_lock);
  s3m_wslot_t *ws = &s3m_wslots[fh % S3M_SLOTS];
  if (ws->fh == fh && ws->wfile < S3M_WFILES && s3m_wfiles[ws->wfile].used) {
    f = &s3m_wfiles[ws->wfile];
    fd = f->fd;
    __atomic_add_fetch(&f->inflight, 1, __ATOMIC_ACQ_REL);
  }
  pthread_rwlock_unlock(&s3m_lock);
  if (f == NULL) return S3M_NOT_HERE;

  size_t done = 0;
  int err = 0;
  // a file cannot grow past S3's largest object: refused here, before any byte is written
  if ((uint64_t) offset + len > (uint64_t) S3M_MAX_FILE_BYTES) err = EFBIG;
  while (err == 0 && done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, offset + (off_t) done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += (size_t) n;
  }
  int wake = 0;
  if (done > 0) {
    uint64_t end = (uint64_t) offset + done;
    s3m_atomic_max(&f->size, end);
    s3m_atomic_min(&f->lowest, (uint64_t) offset);
    __atomic_store_n(&f->last_ms, s3m_wall_ms(), __ATOMIC_RELAXED);
    __atomic_add_fetch(&f->writes, 1, __ATOMIC_RELEASE);  // after size and lowest: s3m_wtake relies on it
    __atomic_add_fetch(&s3m_gen, 1, __ATOMIC_ACQ_REL);     // cached attributes are stale now
    __atomic_add_fetch(&s3m_written_ops, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s3m_written_bytes, done, __ATOMIC_RELAXED);
    if (end >= __atomic_load_n(&f->trigger, __ATOMIC_RELAXED) && !__atomic_exchange_n(&f->fired, 1, __ATOMIC_ACQ_REL)) wake = 1;
  }
  __atomic_sub_fetch(&f->inflight, 1, __ATOMIC_ACQ_REL);
  if (wake && s3m_notify_ready) uv_async_send(&s3m_notify_async);
  return done > 0 ? (int) done : -err;
}

static int s3m_write (const char *path, const char *buf, size_t len, off_t offset, struct fuse_file_info *info) {
  int res = s3m_try_write(info->fh, buf, len, offset);
  if (res != S3M_NOT_HERE) return res;
  return fuse_native_write(path, buf, len, offset, info);
}

// s3m_wopen(fd, sizeLow, sizeHigh) -> id, or -1 (table full, or the fd cannot be dup'ed)
NAPI_METHOD(s3m_wopen) {
  NAPI_ARGV(3)
  NAPI_ARGV_INT32(fd, 0)
  NAPI_ARGV_UINT32(size_lo, 1)
  NAPI_ARGV_UINT32(size_hi, 2)
  int32_t id = -1;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) { NAPI_RETURN_INT32(id) }
  pthread_rwlock_wrlock(&s3m_lock);
  for (int32_t i = 0; i < S3M_WFILES; i++) {
    s3m_wfile_t *f = &s3m_wfiles[i];
    if (!f->used && __atomic_load_n(&f->inflight, __ATOMIC_ACQUIRE) == 0) {
      f->used = 1;
      f->fd = own;
      f->size = s3m_u64(size_hi, size_lo);
      f->writes = 0;
      f->lowest = UINT64_MAX;
      f->trigger = UINT64_MAX;
      f->last_ms = 0;
      f->fired = 0;
      id = i;
      break;
    }
  }
  pthread_rwlock_unlock(&s3m_lock);
  if (id < 0) close(own);
  NAPI_RETURN_INT32(id)
}

// s3m_wclose(id): detaches its handles, waits for writes under way, closes its descriptor.
NAPI_METHOD(s3m_wclose) {
  NAPI_ARGV(1)
  NAPI_ARGV_UINT32(id, 0)
  if (id >= S3M_WFILES) return NULL;
  pthread_rwlock_wrlock(&s3m_lock);
  for (int i = 0; i < S3M_SLOTS; i++) {
    if (s3m_wslots[i].fh != 0 && s3m_wslots[i].wfile == id) s3m_wslots[i].fh = 0;
  }
  s3m_wfile_t *f = &s3m_wfiles[id];
  int fd = f->used ? f->fd : -1;
  f->used = 0;
  pthread_rwlock_unlock(&s3m_lock);
  // no new writer can find it now; the ones that did finish within one pwrite
  while (__atomic_load_n(&f->inflight, __ATOMIC_ACQUIRE) != 0) {
    struct timespec ts = { 0, 50000 };
    nanosleep(&ts, NULL);
  }
  if (fd >= 0) close(fd);
  return NULL;
}

// s3m_wattach(fh, id) -> 1 if FUSE threads now do this handle's writes (0: slot taken)
NAPI_METHOD(s3m_wattach) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(fh, 0)
  NAPI_ARGV_UINT32(id, 1)
  uint32_t ok = 0;
  if (fh == 0 || id >= S3M_WFILES) { NAPI_RETURN_UINT32(ok) }
  pthread_rwlock_wrlock(&s3m_lock);
  s3m_wslot_t *ws = &s3m_wslots[fh % S3M_SLOTS];
  if ((ws->fh == 0 || ws->fh == fh) && s3m_wfiles[id].used) {
    ws->fh = fh;
    ws->wfile = id;
    ok = 1;
  }
  pthread_rwlock_unlock(&s3m_lock);
  NAPI_RETURN_UINT32(ok)
}

// s3m_wdetach(fh): once this returns, FUSE threads start no more writes on that handle.
NAPI_METHOD(s3m_wdetach) {
  NAPI_ARGV(1)
  NAPI_ARGV_UINT32(fh, 0)
  pthread_rwlock_wrlock(&s3m_lock);
  s3m_wslot_t *ws = &s3m_wslots[fh % S3M_SLOTS];
  if (ws->fh == fh) ws->fh = 0;
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}

// s3m_wtake(id, out: Float64Array(3)) -> writes since the last take; out = [size, lowest
// offset written since the last take (-1: none), time of the last write (ms since the
// epoch, 0: none)]. `out` is filled in either way: [0, -1, 0] for an id not in use.
NAPI_METHOD(s3m_wtake) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_BUFFER_CAST(double *, out, 1)
  double writes = 0;
  if (out_len >= 3 * sizeof(double)) {
    out[0] = 0;
    out[1] = -1;
    out[2] = 0;
  }
  if (id < S3M_WFILES && out_len >= 3 * sizeof(double)) {
    pthread_rwlock_rdlock(&s3m_lock);
    s3m_wfile_t *f = &s3m_wfiles[id];
    if (f->used) {
      uint64_t w = __atomic_exchange_n(&f->writes, 0, __ATOMIC_ACQ_REL);
      uint64_t low = UINT64_MAX;
      if (w > 0) low = __atomic_exchange_n(&f->lowest, UINT64_MAX, __ATOMIC_ACQ_REL);
      out[0] = (double) __atomic_load_n(&f->size, __ATOMIC_ACQUIRE);
      out[1] = low == UINT64_MAX ? -1 : (double) low;
      out[2] = (double) __atomic_load_n(&f->last_ms, __ATOMIC_RELAXED);
      writes = (double) w;
    }
    pthread_rwlock_unlock(&s3m_lock);
  }
  napi_value res;
  napi_create_double(env, writes, &res);
  return res;
}

// s3m_wsize(id, sizeLow, sizeHigh, exact): JavaScript changed the size itself (a truncate
// when exact, else a write of its own that may extend the file).
NAPI_METHOD(s3m_wsize) {
  NAPI_ARGV(4)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_UINT32(size_lo, 1)
  NAPI_ARGV_UINT32(size_hi, 2)
  NAPI_ARGV_UINT32(exact, 3)
  uint64_t size = s3m_u64(size_hi, size_lo);
  if (id >= S3M_WFILES) return NULL;
  pthread_rwlock_rdlock(&s3m_lock);
  s3m_wfile_t *f = &s3m_wfiles[id];
  if (f->used) {
    if (exact) __atomic_store_n(&f->size, size, __ATOMIC_RELEASE);
    else s3m_atomic_max(&f->size, size);
  }
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}

// s3m_warm(id, triggerLow, triggerHigh): wake JavaScript once a write ends past it.
NAPI_METHOD(s3m_warm) {
  NAPI_ARGV(3)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_UINT32(trig_lo, 1)
  NAPI_ARGV_UINT32(trig_hi, 2)
  if (id >= S3M_WFILES) return NULL;
  pthread_rwlock_rdlock(&s3m_lock);
  s3m_wfile_t *f = &s3m_wfiles[id];
  if (f->used) {
    __atomic_store_n(&f->trigger, s3m_u64(trig_hi, trig_lo), __ATOMIC_RELAXED);
    __atomic_store_n(&f->fired, 0, __ATOMIC_RELEASE);
  }
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}
