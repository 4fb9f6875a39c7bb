// s3mount-fast.h: s3mount's fast paths inside fuse-native. scripts/patch-fuse-native
// copies this file next to fuse-native.c, includes it just before fuse_native_mount and
// points ops.getattr / ops.read at the functions below.
//
// fuse-native hands every FUSE op to the JavaScript thread and makes the FUSE thread
// wait for the answer: about 100-200 us per op however little JavaScript does. Two
// caches let FUSE threads answer the commonest ops themselves, in parallel:
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

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <limits.h>

static pthread_rwlock_t s3m_lock = PTHREAD_RWLOCK_INITIALIZER;

// a 64-bit number JavaScript passed as two uint32 halves
static uint64_t s3m_u64 (uint32_t hi, uint32_t lo) {
  return ((uint64_t) hi << 32) | lo;
}

static uint64_t s3m_now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

// ---- attributes ----

#define S3M_ATTR_BUCKETS 65536
#define S3M_ATTR_MAX 300000

typedef struct s3m_attr {
  struct s3m_attr *next;
  uint32_t hash;
  uint32_t gen;
  uint64_t expires;
  struct stat st;
  char path[];
} s3m_attr_t;

static s3m_attr_t *s3m_attrs[S3M_ATTR_BUCKETS];
static uint32_t s3m_attr_count = 0;
static uint32_t s3m_gen = 1;

static uint32_t s3m_hash (const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t) s[i];
    h *= 16777619u;
  }
  return h;
}

static void s3m_attr_free_all (void) {
  for (uint32_t b = 0; b < S3M_ATTR_BUCKETS; b++) {
    s3m_attr_t *e = s3m_attrs[b];
    while (e) {
      s3m_attr_t *next = e->next;
      free(e);
      e = next;
    }
    s3m_attrs[b] = NULL;
  }
  s3m_attr_count = 0;
}

static int s3m_getattr (const char *path, struct stat *st) {
  size_t n = strlen(path);
  uint32_t h = s3m_hash(path, n);
  int hit = 0;
  pthread_rwlock_rdlock(&s3m_lock);
  uint32_t gen = __atomic_load_n(&s3m_gen, __ATOMIC_ACQUIRE);
  for (s3m_attr_t *e = s3m_attrs[h & (S3M_ATTR_BUCKETS - 1)]; e != NULL; e = e->next) {
    if (e->hash == h && strcmp(e->path, path) == 0) {
      if (e->gen == gen && e->expires > s3m_now_ms()) {
        *st = e->st;
        hit = 1;
      }
      break;
    }
  }
  pthread_rwlock_unlock(&s3m_lock);
  if (hit) return 0;
  return fuse_native_getattr(path, st);
}

// s3m_attr_put(dir: string, names: string[], stats: Uint32Array (18 per name, the
// layout of fuse-native's getStatArray), ttlMs: number, gen: number): stores the entries
// unless the generation has moved on since JavaScript read `gen`. Returns the count stored.
NAPI_METHOD(s3m_attr_put) {
  NAPI_ARGV(5)
  NAPI_ARGV_UTF8_MALLOC(dir, 0)
  napi_value names = argv[1];
  NAPI_ARGV_BUFFER_CAST(uint32_t *, ints, 2)
  NAPI_ARGV_UINT32(ttl, 3)
  NAPI_ARGV_UINT32(gen, 4)

  uint32_t stored = 0;
  size_t dlen = strlen(dir);
  const char *sep = (dlen > 0 && dir[dlen - 1] == '/') ? "" : "/";
  uint64_t expires = s3m_now_ms() + ttl;
  char name[1024];
  pthread_rwlock_wrlock(&s3m_lock);
  if (gen == s3m_gen) {
    NAPI_FOR_EACH(names, element) {
      if ((size_t) (i + 1) * 18 * sizeof(uint32_t) > ints_len) break;
      size_t name_len = 0;
      if (napi_get_value_string_utf8(env, element, name, sizeof(name), &name_len) != napi_ok) continue;
      if (name_len + 1 >= sizeof(name)) continue;
      if (s3m_attr_count >= S3M_ATTR_MAX) s3m_attr_free_all();
      size_t plen = dlen + strlen(sep) + name_len;
      s3m_attr_t *e = malloc(sizeof(s3m_attr_t) + plen + 1);
      if (e == NULL) break;
      memcpy(e->path, dir, dlen);
      memcpy(e->path + dlen, sep, strlen(sep));
      memcpy(e->path + dlen + strlen(sep), name, name_len);
      e->path[plen] = '\0';
      e->hash = s3m_hash(e->path, plen);
      e->gen = gen;
      e->expires = expires;
      memset(&e->st, 0, sizeof(e->st));
      populate_stat(ints + (size_t) i * 18, &e->st);
      // replace an older entry for the same path
      s3m_attr_t **pp = &s3m_attrs[e->hash & (S3M_ATTR_BUCKETS - 1)];
      while (*pp != NULL) {
        if ((*pp)->hash == e->hash && strcmp((*pp)->path, e->path) == 0) {
          s3m_attr_t *old = *pp;
          *pp = old->next;
          free(old);
          s3m_attr_count--;
          break;
        }
        pp = &(*pp)->next;
      }
      e->next = s3m_attrs[e->hash & (S3M_ATTR_BUCKETS - 1)];
      s3m_attrs[e->hash & (S3M_ATTR_BUCKETS - 1)] = e;
      s3m_attr_count++;
      stored++;
    }
  }
  pthread_rwlock_unlock(&s3m_lock);
  free(dir);
  NAPI_RETURN_UINT32(stored)
}

// s3m_attr_invalidate(): drops every cached attribute (O(1): a new generation); returns it.
NAPI_METHOD(s3m_attr_invalidate) {
  pthread_rwlock_wrlock(&s3m_lock);
  uint32_t gen = __atomic_add_fetch(&s3m_gen, 1, __ATOMIC_ACQ_REL);
  if (s3m_attr_count > S3M_ATTR_MAX / 2) s3m_attr_free_all();
  pthread_rwlock_unlock(&s3m_lock);
  NAPI_RETURN_UINT32(gen)
}

// s3m_attr_gen(): the current generation, for a later s3m_attr_put.
NAPI_METHOD(s3m_attr_gen) {
  uint32_t gen = __atomic_load_n(&s3m_gen, __ATOMIC_ACQUIRE);
  NAPI_RETURN_UINT32(gen)
}

// ---- reads from the block arena ----

// JavaScript's block cache lives in one arena allocated here: slot i holds one block.
// A hash maps (file, block) to the slot holding it; JavaScript maps a slot once its bytes
// are complete and unmaps it (under the write lock) before reusing it.

#define S3M_FILES 65536
#define S3M_SLOTS 4096

typedef struct {
  int used;
  uint64_t size;
} s3m_file_t;

typedef struct {
  uint64_t fh;        // 0 = free
  uint32_t file;
  uint64_t pos;       // end of the last read served here
  uint64_t trigger;   // wake JavaScript when a served read ends past this
  int fired;
} s3m_slot_t;

static s3m_file_t s3m_files[S3M_FILES];
static s3m_slot_t s3m_slots[S3M_SLOTS];
static uint8_t *s3m_arena_mem = NULL;
static uint32_t s3m_shift = 0;
static uint64_t *s3m_hkeys = NULL;  // ((file + 1) << 40) | block; 0 = empty
static uint32_t *s3m_hvals = NULL;
static uint32_t s3m_hmask = 0;
static uv_async_t s3m_notify_async;
static int s3m_notify_ready = 0;
static napi_env s3m_notify_env;
static napi_ref s3m_notify_fn;
static uint64_t s3m_served_reads = 0;
static uint64_t s3m_served_bytes = 0;

static uint64_t s3m_key (uint32_t file, uint64_t block) {
  return ((uint64_t) (file + 1) << 40) | (block & 0xffffffffffULL);
}

static uint32_t s3m_hidx (uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return (uint32_t) k & s3m_hmask;
}

static int64_t s3m_hget (uint64_t k) {
  if (s3m_hkeys == NULL) return -1;
  for (uint32_t i = s3m_hidx(k);; i = (i + 1) & s3m_hmask) {
    if (s3m_hkeys[i] == 0) return -1;
    if (s3m_hkeys[i] == k) return s3m_hvals[i];
  }
}

static void s3m_hput (uint64_t k, uint32_t v) {
  for (uint32_t i = s3m_hidx(k);; i = (i + 1) & s3m_hmask) {
    if (s3m_hkeys[i] == 0 || s3m_hkeys[i] == k) {
      s3m_hkeys[i] = k;
      s3m_hvals[i] = v;
      return;
    }
  }
}

static void s3m_hdel (uint64_t k) {
  uint32_t i = s3m_hidx(k);
  for (;; i = (i + 1) & s3m_hmask) {
    if (s3m_hkeys[i] == 0) return;
    if (s3m_hkeys[i] == k) break;
  }
  s3m_hkeys[i] = 0;
  // backward-shift deletion keeps every probe chain unbroken
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & s3m_hmask;
    if (s3m_hkeys[j] == 0) return;
    uint32_t h = s3m_hidx(s3m_hkeys[j]);
    int stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
    if (!stays) {
      s3m_hkeys[i] = s3m_hkeys[j];
      s3m_hvals[i] = s3m_hvals[j];
      s3m_hkeys[j] = 0;
      i = j;
    }
  }
}

// -1: not served here (go to JavaScript); otherwise the byte count.
static int s3m_try_read (uint64_t fh, char *buf, size_t len, off_t offset) {
  if (fh == 0) return -1;
  int res = -1;
  int wake = 0;
  pthread_rwlock_rdlock(&s3m_lock);
  s3m_slot_t *slot = &s3m_slots[fh % S3M_SLOTS];
  if (slot->fh == fh && s3m_arena_mem != NULL) {
    s3m_file_t *f = &s3m_files[slot->file];
    uint64_t off = (uint64_t) offset;
    if (!f->used) {
      res = -1;
    } else if (off >= f->size) {
      res = 0;
    } else {
      uint64_t end = off + len;
      if (end > f->size) end = f->size;
      uint64_t bsize = (uint64_t) 1 << s3m_shift;
      uint64_t pos = off;
      while (pos < end) {
        uint64_t b = pos >> s3m_shift;
        int64_t at = s3m_hget(s3m_key(slot->file, b));
        if (at < 0) break;
        uint64_t in = pos - (b << s3m_shift);
        uint64_t n = bsize - in;
        if (n > end - pos) n = end - pos;
        memcpy(buf + (pos - off), s3m_arena_mem + ((uint64_t) at << s3m_shift) + in, n);
        pos += n;
      }
      if (pos == end) {
        res = (int) (end - off);
        __atomic_add_fetch(&s3m_served_reads, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s3m_served_bytes, end - off, __ATOMIC_RELAXED);
        // several FUSE threads may race here: the largest end wins often enough
        if (end > __atomic_load_n(&slot->pos, __ATOMIC_RELAXED)) __atomic_store_n(&slot->pos, end, __ATOMIC_RELAXED);
        if (end >= __atomic_load_n(&slot->trigger, __ATOMIC_RELAXED) && !__atomic_exchange_n(&slot->fired, 1, __ATOMIC_ACQ_REL)) wake = 1;
      }
    }
  }
  pthread_rwlock_unlock(&s3m_lock);
  if (wake && s3m_notify_ready) uv_async_send(&s3m_notify_async);
  return res;
}

static int s3m_read (const char *path, char *buf, size_t len, off_t offset, struct fuse_file_info *info) {
  int res = s3m_try_read(info->fh, buf, len, offset);
  if (res >= 0) return res;
  return fuse_native_read(path, buf, len, offset, info);
}

static void s3m_arena_finalize (napi_env env, void *data, void *hint) {
  munmap(data, (size_t) (uintptr_t) hint);
}

// s3m_arena(slots, blockShift) -> Buffer of slots << blockShift bytes (pages are touched
// only when used). A new arena replaces the previous one and forgets every mapping.
NAPI_METHOD(s3m_arena) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(nslots, 0)
  NAPI_ARGV_UINT32(shift, 1)
  size_t bytes = (size_t) nslots << shift;
  void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    napi_throw_error(env, NULL, "cannot allocate the block arena");
    return NULL;
  }
  uint32_t hsize = 1024;
  while (hsize < nslots * 4) hsize <<= 1;
  uint64_t *keys = calloc(hsize, sizeof(uint64_t));
  uint32_t *vals = calloc(hsize, sizeof(uint32_t));
  if (keys == NULL || vals == NULL) {
    free(keys);
    free(vals);
    munmap(mem, bytes);
    napi_throw_error(env, NULL, "cannot allocate the block map");
    return NULL;
  }
  pthread_rwlock_wrlock(&s3m_lock);
  uint64_t *old_keys = s3m_hkeys;
  uint32_t *old_vals = s3m_hvals;
  s3m_arena_mem = mem;
  s3m_shift = shift;
  s3m_hkeys = keys;
  s3m_hvals = vals;
  s3m_hmask = hsize - 1;
  for (int i = 0; i < S3M_SLOTS; i++) s3m_slots[i].fh = 0;
  for (int i = 0; i < S3M_FILES; i++) s3m_files[i].used = 0;
  pthread_rwlock_unlock(&s3m_lock);
  free(old_keys);
  free(old_vals);
  napi_value buf;
  NAPI_STATUS_THROWS(napi_create_external_buffer(env, bytes, mem, s3m_arena_finalize, (void *) (uintptr_t) bytes, &buf))
  return buf;
}

// s3m_file_open(sizeLow, sizeHigh) -> id (or -1 when the table is full)
NAPI_METHOD(s3m_file_open) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(size_lo, 0)
  NAPI_ARGV_UINT32(size_hi, 1)
  int32_t id = -1;
  pthread_rwlock_wrlock(&s3m_lock);
  for (int32_t i = 0; i < S3M_FILES; i++) {
    if (!s3m_files[i].used) {
      s3m_files[i].used = 1;
      s3m_files[i].size = s3m_u64(size_hi, size_lo);
      id = i;
      break;
    }
  }
  pthread_rwlock_unlock(&s3m_lock);
  NAPI_RETURN_INT32(id)
}

// s3m_file_close(id): detaches its handles; JavaScript has unmapped its blocks.
NAPI_METHOD(s3m_file_close) {
  NAPI_ARGV(1)
  NAPI_ARGV_UINT32(id, 0)
  if (id >= S3M_FILES) return NULL;
  pthread_rwlock_wrlock(&s3m_lock);
  for (int i = 0; i < S3M_SLOTS; i++) {
    if (s3m_slots[i].fh != 0 && s3m_slots[i].file == id) s3m_slots[i].fh = 0;
  }
  s3m_files[id].used = 0;
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}

// s3m_map(id, block, slot): the slot holds that block, complete.
NAPI_METHOD(s3m_map) {
  NAPI_ARGV(3)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_UINT32(block, 1)
  NAPI_ARGV_UINT32(at, 2)
  pthread_rwlock_wrlock(&s3m_lock);
  if (s3m_hkeys != NULL && id < S3M_FILES) s3m_hput(s3m_key(id, block), at);
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}

// s3m_unmap(id, block): once this returns, no FUSE thread reads that block's slot.
NAPI_METHOD(s3m_unmap) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_UINT32(block, 1)
  pthread_rwlock_wrlock(&s3m_lock);
  if (s3m_hkeys != NULL && id < S3M_FILES) s3m_hdel(s3m_key(id, block));
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}

// s3m_attach(fh, id, triggerLow, triggerHigh) -> 1 if attached (0: slot taken by another handle)
NAPI_METHOD(s3m_attach) {
  NAPI_ARGV(4)
  NAPI_ARGV_UINT32(fh, 0)
  NAPI_ARGV_UINT32(id, 1)
  NAPI_ARGV_UINT32(trig_lo, 2)
  NAPI_ARGV_UINT32(trig_hi, 3)
  uint32_t ok = 0;
  if (fh == 0 || id >= S3M_FILES) { NAPI_RETURN_UINT32(ok) }
  pthread_rwlock_wrlock(&s3m_lock);
  s3m_slot_t *slot = &s3m_slots[fh % S3M_SLOTS];
  if ((slot->fh == 0 || slot->fh == fh) && s3m_files[id].used) {
    slot->fh = fh;
    slot->file = id;
    slot->pos = 0;
    slot->trigger = s3m_u64(trig_hi, trig_lo);
    slot->fired = 0;
    ok = 1;
  }
  pthread_rwlock_unlock(&s3m_lock);
  NAPI_RETURN_UINT32(ok)
}

// s3m_detach(fh)
NAPI_METHOD(s3m_detach) {
  NAPI_ARGV(1)
  NAPI_ARGV_UINT32(fh, 0)
  pthread_rwlock_wrlock(&s3m_lock);
  s3m_slot_t *slot = &s3m_slots[fh % S3M_SLOTS];
  if (slot->fh == fh) slot->fh = 0;
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}

// s3m_arm(fh, triggerLow, triggerHigh): wake JavaScript once a served read ends past it.
NAPI_METHOD(s3m_arm) {
  NAPI_ARGV(3)
  NAPI_ARGV_UINT32(fh, 0)
  NAPI_ARGV_UINT32(trig_lo, 1)
  NAPI_ARGV_UINT32(trig_hi, 2)
  pthread_rwlock_rdlock(&s3m_lock);
  s3m_slot_t *slot = &s3m_slots[fh % S3M_SLOTS];
  if (slot->fh == fh) {
    __atomic_store_n(&slot->trigger, s3m_u64(trig_hi, trig_lo), __ATOMIC_RELAXED);
    __atomic_store_n(&slot->fired, 0, __ATOMIC_RELEASE);
  }
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}

// s3m_take(fh) -> end of the last served read if the trigger fired since the last arm, else -1
NAPI_METHOD(s3m_take) {
  NAPI_ARGV(1)
  NAPI_ARGV_UINT32(fh, 0)
  double res = -1;
  pthread_rwlock_rdlock(&s3m_lock);
  s3m_slot_t *slot = &s3m_slots[fh % S3M_SLOTS];
  if (slot->fh == fh && __atomic_load_n(&slot->fired, __ATOMIC_ACQUIRE)) res = (double) __atomic_load_n(&slot->pos, __ATOMIC_RELAXED);
  pthread_rwlock_unlock(&s3m_lock);
  napi_value out;
  napi_create_double(env, res, &out);
  return out;
}

// ---- writes into staged files ----

// A staged file registered here has its own descriptor (a dup of JavaScript's), so a
// write on a FUSE thread never races JavaScript closing its own. The global lock is not
// held during pwrite (a write may wait for the disk): `inflight` counts writers, and
// s3m_wclose waits for them before closing the descriptor and freeing the entry.

#define S3M_WFILES 4096
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
  while (done < len) {
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
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    __atomic_store_n(&f->last_ms, (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000, __ATOMIC_RELAXED);
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
// epoch, 0: none)]. The size is filled in either way.
NAPI_METHOD(s3m_wtake) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_BUFFER_CAST(double *, out, 1)
  double writes = 0;
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

// s3m_stats() -> [reads served here, bytes served here, writes done here, bytes written here]
NAPI_METHOD(s3m_stats) {
  napi_value out, a, b;
  napi_create_array_with_length(env, 4, &out);
  napi_create_double(env, (double) __atomic_load_n(&s3m_served_reads, __ATOMIC_RELAXED), &a);
  napi_create_double(env, (double) __atomic_load_n(&s3m_served_bytes, __ATOMIC_RELAXED), &b);
  napi_set_element(env, out, 0, a);
  napi_set_element(env, out, 1, b);
  napi_create_double(env, (double) __atomic_load_n(&s3m_written_ops, __ATOMIC_RELAXED), &a);
  napi_create_double(env, (double) __atomic_load_n(&s3m_written_bytes, __ATOMIC_RELAXED), &b);
  napi_set_element(env, out, 2, a);
  napi_set_element(env, out, 3, b);
  return out;
}

// Calls the JavaScript function `ref` holds, from a uv_async callback (JavaScript thread).
static void s3m_call_ref (napi_env env, napi_ref ref) {
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fn, global;
  napi_get_reference_value(env, ref, &fn);
  napi_get_global(env, &global);
  NAPI_MAKE_CALLBACK(env, NULL, global, fn, 0, NULL, NULL)
  napi_close_handle_scope(env, scope);
}

// Makes `fn` the function a uv_async wakes: the first time, sets the async up (unref'd:
// it does not keep the process alive); later, replaces the function.
static void s3m_set_ref (napi_env env, napi_value fn, uv_async_t *async, uv_async_cb cb, int *ready, napi_env *env_slot, napi_ref *ref) {
  if (*ready) {
    napi_delete_reference(env, *ref);
  } else {
    uv_async_init(uv_default_loop(), async, cb);
    uv_unref((uv_handle_t *) async);
  }
  *env_slot = env;
  napi_create_reference(env, fn, 1, ref);
  *ready = 1;
}

static void s3m_on_notify (uv_async_t *handle) {
  s3m_call_ref(s3m_notify_env, s3m_notify_fn);
}

// s3m_on_trigger(fn): fn() runs on the JavaScript thread after a trigger fired.
NAPI_METHOD(s3m_on_trigger) {
  NAPI_ARGV(1)
  s3m_set_ref(env, argv[0], &s3m_notify_async, s3m_on_notify, &s3m_notify_ready, &s3m_notify_env, &s3m_notify_fn);
  return NULL;
}

// ---- streamed directory listings ----
//
// libfuse 2 asks readdir for one buffer at a time, at an offset, when the filesystem
// gives every entry its own offset (entry i has offset i + 1). opendir makes a handle;
// readdir at offset 0 starts a stream: JavaScript is asked (uv_async) to list the path
// and pushes each page's names and stats into it (s3m_dir_push). readdir hands out what
// is there from the requested offset and waits only when it has nothing yet to give.
// A stream is freed when its handle is released and JavaScript has finished it.

#define S3M_DIRS 1024

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

static int s3m_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *info) {
  s3m_dirh_t *h = (s3m_dirh_t *) (uintptr_t) info->fh;
  if (h == NULL || !s3m_dir_ready) return fuse_native_readdir(path, buf, filler, offset, info);
  pthread_mutex_lock(&s3m_dir_mu);
  if (offset == 0 || h->stream < 0) {
    // a new pass over the directory (opendir, rewinddir) lists it afresh
    if (h->stream >= 0) s3m_dir_unref(h->stream);
    h->stream = s3m_dir_start(path);
    if (h->stream < 0) {
      pthread_mutex_unlock(&s3m_dir_mu);
      return -ENOMEM;
    }
    uv_async_send(&s3m_dir_async);
  }
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
    pthread_cond_wait(&s3m_dir_cv, &s3m_dir_mu);
  }
  pthread_mutex_unlock(&s3m_dir_mu);
  return given > 0 ? 0 : res;
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

// s3m_dir_push(id, names: string[], stats: Uint32Array (18 per name), done, errno):
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
      if ((size_t) (i + 1) * 18 * sizeof(uint32_t) > ints_len) break;
      size_t len = 0;
      if (napi_get_value_string_utf8(env, element, name, sizeof(name), &len) != napi_ok || len + 1 >= sizeof(name)) continue;
      batch[n] = strdup(name);
      if (batch[n] == NULL) break;
      modes[n] = ints[(size_t) i * 18];  // st_mode comes first in fuse-native's layout
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

#define S3M_EXPORTS \
  NAPI_EXPORT_FUNCTION(s3m_attr_put) \
  NAPI_EXPORT_FUNCTION(s3m_attr_invalidate) \
  NAPI_EXPORT_FUNCTION(s3m_attr_gen) \
  NAPI_EXPORT_FUNCTION(s3m_arena) \
  NAPI_EXPORT_FUNCTION(s3m_file_open) \
  NAPI_EXPORT_FUNCTION(s3m_file_close) \
  NAPI_EXPORT_FUNCTION(s3m_map) \
  NAPI_EXPORT_FUNCTION(s3m_unmap) \
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
  { napi_value v; napi_create_uint32(env, 4, &v); napi_set_named_property(env, exports, "s3m_version", v); }
