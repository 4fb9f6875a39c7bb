// s3m-disk.h: the disk cache's block files (--cache-dir) that FUSE threads read with
// pread when the arena does not hold a block (included by s3m-reads.h, after its file
// table and key): the table of open files, their (file, block) map, and s3m_dmap /
// s3m_dunmap. Each file has its own descriptor, opened here; a FUSE thread counts itself
// in the file's `inflight` for its pread (no lock held), and a file is closed only once
// it left the map and `inflight` is 0.

// A block file of the disk cache that FUSE threads read with pread: its own descriptor
// (opened here), and the readers between finding it and finishing their pread.
typedef struct {
  int used;
  int fd;
  uint64_t key;
  uint32_t inflight;
} s3m_dfile_t;

#ifndef S3M_DISK_MAX  // block files mapped at once; the test binding's is small
#define S3M_DISK_MAX 16384
#endif

static s3m_dfile_t s3m_dfiles[S3M_DISK_MAX];
static uint64_t s3m_dkeys[2 * S3M_DISK_MAX];
static uint32_t s3m_dvals[2 * S3M_DISK_MAX];
static s3m_hmap_t s3m_disk = { s3m_dkeys, s3m_dvals, 2 * S3M_DISK_MAX - 1, 0 };  // → s3m_dfiles index
static uint32_t s3m_dnext = 0;  // where the search for a free s3m_dfiles entry starts

// Takes block file `d` out of the map (write lock held); its descriptor, to close once
// s3m_dfile_wait(d) returns, or -1.
static int s3m_dfile_drop (uint32_t d) {
  s3m_dfile_t *df = &s3m_dfiles[d];
  if (!df->used) return -1;
  s3m_hdel(&s3m_disk, df->key);
  df->used = 0;
  return df->fd;
}

// Waits (no lock held) until no FUSE thread is inside a pread of block file `d`: at
// most one pread, as no new reader can find it once it is dropped.
static void s3m_dfile_wait (uint32_t d) {
  while (__atomic_load_n(&s3m_dfiles[d].inflight, __ATOMIC_ACQUIRE) != 0) {
    struct timespec ts = { 0, 50000 };
    nanosleep(&ts, NULL);
  }
}

// Drops every block file (of `file`, or all with file < 0) and closes their descriptors
// (JavaScript thread only: it alone changes the map, so the count is read without a lock).
static void s3m_dfile_drop_all (int64_t file) {
  if (s3m_disk.count == 0) return;
  int fds[64];
  uint32_t ds[64];
  for (uint32_t start = 0; start < S3M_DISK_MAX;) {
    int n = 0;
    pthread_rwlock_wrlock(&s3m_lock);
    for (; start < S3M_DISK_MAX && n < 64; start++) {
      s3m_dfile_t *df = &s3m_dfiles[start];
      if (!df->used || (file >= 0 && (df->key >> 40) != (uint64_t) file + 1)) continue;
      ds[n] = start;
      fds[n++] = s3m_dfile_drop(start);
    }
    pthread_rwlock_unlock(&s3m_lock);
    for (int i = 0; i < n; i++) {
      s3m_dfile_wait(ds[i]);
      close(fds[i]);
    }
  }
}

// pread of exactly len bytes (retried on EINTR and short counts): 0, or -1
static int s3m_pread_all (int fd, char *buf, size_t len, off_t at) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, buf + done, len - done, at + (off_t) done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    done += (size_t) n;
  }
  return 0;
}

// s3m_dmap(id, block, path) -> 1 if FUSE threads now read that block from the disk
// cache's block file at `path` (its data after S3M_DISK_HEADER bytes) whenever the arena
// does not hold it, else 0: the file is not open here, the block is mapped from a file
// already, the table is full, or the block file cannot be opened or is shorter than the
// block. The file is opened here, with a descriptor of its own; JavaScript verified its
// checksum (or wrote it).
NAPI_METHOD(s3m_dmap) {
  NAPI_ARGV(3)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_UINT32(block, 1)
  NAPI_ARGV_UTF8_MALLOC(path, 2)
  uint32_t ok = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  if (fd < 0 || id >= S3M_FILES) {
    if (fd >= 0) close(fd);
    NAPI_RETURN_UINT32(ok)
  }
  struct stat st;
  int sized = fstat(fd, &st) == 0;
  pthread_rwlock_wrlock(&s3m_lock);
  uint64_t k = s3m_key(id, block);
  if (sized && s3m_files[id].used && s3m_hget(&s3m_disk, k) < 0) {
    uint64_t bsize = (uint64_t) 1 << s3m_shift;
    uint64_t start = (uint64_t) block << s3m_shift;
    uint64_t want = start < s3m_files[id].size ? s3m_files[id].size - start : 0;
    if (want > bsize) want = bsize;
    for (uint32_t i = 0; want > 0 && (uint64_t) st.st_size >= S3M_DISK_HEADER + want && i < S3M_DISK_MAX; i++) {
      uint32_t d = (s3m_dnext + i) % S3M_DISK_MAX;
      s3m_dfile_t *df = &s3m_dfiles[d];
      if (df->used || __atomic_load_n(&df->inflight, __ATOMIC_ACQUIRE) != 0) continue;
      if (!s3m_hput(&s3m_disk, k, d)) break;
      df->used = 1;
      df->fd = fd;
      df->key = k;
      s3m_dnext = (d + 1) % S3M_DISK_MAX;
      ok = 1;
      break;
    }
  }
  pthread_rwlock_unlock(&s3m_lock);
  if (!ok) close(fd);
  NAPI_RETURN_UINT32(ok)
}

// s3m_dunmap(id, block) -> 1 if it was mapped from a block file. Once this returns no
// FUSE thread reads that file, and its descriptor is closed.
NAPI_METHOD(s3m_dunmap) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_UINT32(block, 1)
  if (id >= S3M_FILES) { NAPI_RETURN_UINT32(0) }
  pthread_rwlock_wrlock(&s3m_lock);
  int64_t d = s3m_hget(&s3m_disk, s3m_key(id, block));
  int fd = d >= 0 ? s3m_dfile_drop((uint32_t) d) : -1;
  pthread_rwlock_unlock(&s3m_lock);
  if (d < 0) { NAPI_RETURN_UINT32(0) }
  s3m_dfile_wait((uint32_t) d);
  if (fd >= 0) close(fd);
  NAPI_RETURN_UINT32(1)
}
