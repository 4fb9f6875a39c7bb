// s3m-reads.h: reads answered on the FUSE thread with memcpy from the block cache's
// arena, or with pread from the disk cache's block files (--cache-dir), for handles
// attached to an object version whose blocks are all mapped in one or the other.

// ---- reads from the block arena ----

// JavaScript's block cache lives in one arena allocated here: slot i holds one block.
// A hash maps (file, block) to the slot holding it; JavaScript maps a slot once its bytes
// are complete and unmaps it (under the write lock) before reusing it.

#ifndef S3M_FILES  // the test binding makes the tables small, to fill them
#define S3M_FILES 65536
#endif
#ifndef S3M_SLOTS
#define S3M_SLOTS 4096
#endif

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
static uint32_t s3m_nslots = 0;     // slots in the arena: s3m_map refuses others
static uint32_t s3m_shift = 0;
static s3m_hmap_t s3m_blocks = { NULL, NULL, 0, 0 };  // ((file + 1) << 40) | block → arena slot
// per arena slot: 1 once a FUSE thread copied from it since it was mapped (s3m_unmap
// answers it, so JavaScript learns whether a prefetched block was ever read)
static uint8_t *s3m_touched = NULL;
static uint64_t s3m_served_reads = 0;
static uint64_t s3m_served_bytes = 0;
static uint64_t s3m_served_disk_reads = 0;  // of those, reads that took bytes from a block file

static uint64_t s3m_key (uint32_t file, uint64_t block) {
  return ((uint64_t) (file + 1) << 40) | (block & 0xffffffffffULL);
}

#include "s3m-disk.h"  // disk cache block files: s3m_try_read reads them, s3m_dmap maps them

// -1: not served here (go to JavaScript); otherwise the byte count. A block in the
// arena is copied under the read lock; one in a block file is read with the lock
// dropped (the file counts this reader in its inflight until the pread is done).
static int s3m_try_read (uint64_t fh, char *buf, size_t len, off_t offset) {
  if (fh == 0) return -1;
  int res = -1;
  int wake = 0;
  int from_disk = 0;
  pthread_rwlock_rdlock(&s3m_lock);
  s3m_slot_t *slot = &s3m_slots[fh % S3M_SLOTS];
  if (slot->fh == fh && s3m_arena_mem != NULL) {
    uint32_t file = slot->file;
    s3m_file_t *f = &s3m_files[file];
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
        uint64_t in = pos - (b << s3m_shift);
        uint64_t n = bsize - in;
        if (n > end - pos) n = end - pos;
        uint64_t k = s3m_key(file, b);
        int64_t at = s3m_hget(&s3m_blocks, k);
        if (at >= 0) {
          memcpy(buf + (pos - off), s3m_arena_mem + ((uint64_t) at << s3m_shift) + in, n);
          if (!__atomic_load_n(&s3m_touched[at], __ATOMIC_RELAXED)) __atomic_store_n(&s3m_touched[at], 1, __ATOMIC_RELAXED);
          pos += n;
          continue;
        }
        int64_t d = s3m_hget(&s3m_disk, k);
        if (d < 0) break;
        s3m_dfile_t *df = &s3m_dfiles[d];
        int fd = df->fd;
        __atomic_add_fetch(&df->inflight, 1, __ATOMIC_ACQ_REL);
        pthread_rwlock_unlock(&s3m_lock);
        int bad = s3m_pread_all(fd, buf + (pos - off), n, (off_t) (S3M_DISK_HEADER + in));
        __atomic_sub_fetch(&df->inflight, 1, __ATOMIC_ACQ_REL);
        pthread_rwlock_rdlock(&s3m_lock);
        // a short file (damaged since it was mapped), or the handle detached or attached to
        // another object version meanwhile (its file id may then be another object's): JavaScript answers
        if (bad || slot->fh != fh || slot->file != file) break;
        from_disk = 1;
        pos += n;
      }
      if (pos == end) {
        res = (int) (end - off);
        __atomic_add_fetch(&s3m_served_reads, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s3m_served_bytes, end - off, __ATOMIC_RELAXED);
        if (from_disk) __atomic_add_fetch(&s3m_served_disk_reads, 1, __ATOMIC_RELAXED);
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
  uint8_t *touched = calloc(nslots > 0 ? nslots : 1, 1);
  if (keys == NULL || vals == NULL || touched == NULL) {
    free(keys);
    free(vals);
    free(touched);
    munmap(mem, bytes);
    napi_throw_error(env, NULL, "cannot allocate the block map");
    return NULL;
  }
  s3m_dfile_drop_all(-1);
  pthread_rwlock_wrlock(&s3m_lock);
  uint64_t *old_keys = s3m_blocks.keys;
  uint32_t *old_vals = s3m_blocks.vals;
  uint8_t *old_touched = s3m_touched;
  s3m_arena_mem = mem;
  s3m_touched = touched;
  s3m_nslots = nslots;
  s3m_shift = shift;
  s3m_blocks.keys = keys;
  s3m_blocks.vals = vals;
  s3m_blocks.mask = hsize - 1;
  s3m_blocks.count = 0;
  for (int i = 0; i < S3M_SLOTS; i++) s3m_slots[i].fh = 0;
  for (int i = 0; i < S3M_FILES; i++) s3m_files[i].used = 0;
  pthread_rwlock_unlock(&s3m_lock);
  free(old_keys);
  free(old_vals);
  free(old_touched);
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

// s3m_file_close(id) -> blocks still mapped to it (0: JavaScript unmapped them all, as it
// should): detaches its handles and unmaps what is left, so that the id, reused for
// another object, never serves this one's bytes.
NAPI_METHOD(s3m_file_close) {
  NAPI_ARGV(1)
  NAPI_ARGV_UINT32(id, 0)
  uint32_t left = 0;
  if (id >= S3M_FILES) { NAPI_RETURN_UINT32(left) }
  s3m_dfile_drop_all(id);  // JavaScript unmaps them first; this only makes sure
  pthread_rwlock_wrlock(&s3m_lock);
  for (int i = 0; i < S3M_SLOTS; i++) {
    if (s3m_slots[i].fh != 0 && s3m_slots[i].file == id) s3m_slots[i].fh = 0;
  }
  left = s3m_hdel_file(&s3m_blocks, id);
  s3m_files[id].used = 0;
  pthread_rwlock_unlock(&s3m_lock);
  NAPI_RETURN_UINT32(left)
}

// s3m_map(id, block, slot): the slot holds that block, complete. A slot outside the
// arena is ignored (that block's reads go to JavaScript), never read past the arena; so
// is a new block when the map holds half as many keys as it has entries (four times the
// slots: JavaScript, mapping one block per slot, never gets there).
NAPI_METHOD(s3m_map) {
  NAPI_ARGV(3)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_UINT32(block, 1)
  NAPI_ARGV_UINT32(at, 2)
  pthread_rwlock_wrlock(&s3m_lock);
  if (s3m_blocks.keys != NULL && id < S3M_FILES && at < s3m_nslots && s3m_hput(&s3m_blocks, s3m_key(id, block), at)) s3m_touched[at] = 0;
  pthread_rwlock_unlock(&s3m_lock);
  return NULL;
}

// s3m_unmap(id, block) -> 1 if a FUSE thread read from the block since it was mapped,
// else 0 (also when it was not mapped). Once this returns, no FUSE thread reads its slot.
NAPI_METHOD(s3m_unmap) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_UINT32(block, 1)
  uint32_t read = 0;
  pthread_rwlock_wrlock(&s3m_lock);
  if (s3m_blocks.keys != NULL && id < S3M_FILES) {
    uint64_t k = s3m_key(id, block);
    int64_t at = s3m_hget(&s3m_blocks, k);
    if (at >= 0) {
      read = s3m_touched[at];
      s3m_hdel(&s3m_blocks, k);
    }
  }
  pthread_rwlock_unlock(&s3m_lock);
  NAPI_RETURN_UINT32(read)
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
