// s3m-common.h: what every s3mount fast-path table shares: the lock FUSE threads read
// under, 64-bit numbers from JavaScript, and the uv_async that wakes JavaScript.
//
// Lock order: s3m_lock (rwlock: FUSE threads read, JavaScript writes) and s3m_dir_mu
// (s3m-dirs.h) are never held together. FUSE threads never hold s3m_lock across I/O and
// never call into JavaScript. Which thread touches what, and each table's invariants:
// S3MOUNT.md.

#if !defined(S3M_ABI_VERSION) || !defined(S3M_STAT_INTS) || !defined(S3M_HALF_BITS) || !defined(S3M_STAT_MODE) || !defined(S3M_MAX_FILE_BYTES) || !defined(S3M_DISK_HEADER)
#error "S3M_ABI_VERSION, S3M_STAT_INTS, S3M_HALF_BITS, S3M_STAT_MODE, S3M_MAX_FILE_BYTES and S3M_DISK_HEADER come from s3mount-abi.json (binding.gyp defines them)"
#endif

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <limits.h>
#include <sys/stat.h>

static pthread_rwlock_t s3m_lock = PTHREAD_RWLOCK_INITIALIZER;

// a 64-bit number JavaScript passed as two uint32 halves (S3M_HALF_BITS, from
// s3mount-abi.json: TWO32 in src/fuse/native.ts)
static uint64_t s3m_u64 (uint32_t hi, uint32_t lo) {
  return ((uint64_t) hi << S3M_HALF_BITS) | lo;
}

// A name from JavaScript into buf (cap bytes with the NUL): its length, or -1 when it
// does not fit. napi_get_value_string_utf8 cuts a long string short at a character
// boundary without saying so (a name of 4-byte characters could come back 3 bytes short
// and pass a length check), so the full length is asked for first.
static int64_t s3m_name (napi_env env, napi_value v, char *buf, size_t cap) {
  size_t full = 0, got = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &full) != napi_ok || full + 1 > cap) return -1;
  if (napi_get_value_string_utf8(env, v, buf, cap, &got) != napi_ok || got != full) return -1;
  return (int64_t) full;
}

#ifdef S3M_TEST
// The test binding (s3m-test.h) sets both clocks itself, so that expiry and write times
// can be compared exactly with the JavaScript models.
static uint64_t s3m_test_mono_ms = 1;
static uint64_t s3m_test_wall_ms = 1;
static uint64_t s3m_now_ms (void) { return __atomic_load_n(&s3m_test_mono_ms, __ATOMIC_RELAXED); }
static uint64_t s3m_wall_ms (void) { return __atomic_load_n(&s3m_test_wall_ms, __ATOMIC_RELAXED); }
#else
// monotonic ms: attribute expiry
static uint64_t s3m_now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

// ms since the epoch: the time of a write (the mtime)
static uint64_t s3m_wall_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}
#endif

// ---- waking JavaScript ----
//
// FUSE threads never call into JavaScript: they uv_async_send, and the function
// JavaScript registered runs on its own thread. One async for read and write triggers
// (s3m_notify_*), one for directory listings (s3m_dir_*, in s3m-dirs.h).

static uv_async_t s3m_notify_async;
static int s3m_notify_ready = 0;
static napi_env s3m_notify_env;
static napi_ref s3m_notify_fn;

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

// ---- an open-addressing hash of 64-bit keys to 32-bit values (s3m-reads.h, s3m-disk.h) ----

// An open-addressing hash (file, block) → value: keys 0 = empty, never more than half
// full (a put of a new key is refused there), so every probe ends.
typedef struct {
  uint64_t *keys;
  uint32_t *vals;
  uint32_t mask;
  uint32_t count;
} s3m_hmap_t;

static uint32_t s3m_hidx (const s3m_hmap_t *m, uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return (uint32_t) k & m->mask;
}

static int64_t s3m_hget (const s3m_hmap_t *m, uint64_t k) {
  if (m->keys == NULL) return -1;
  for (uint32_t i = s3m_hidx(m, k);; i = (i + 1) & m->mask) {
    if (m->keys[i] == 0) return -1;
    if (m->keys[i] == k) return m->vals[i];
  }
}

// Puts k → v, unless k is new and the map is half full (0: refused).
static int s3m_hput (s3m_hmap_t *m, uint64_t k, uint32_t v) {
  for (uint32_t i = s3m_hidx(m, k);; i = (i + 1) & m->mask) {
    if (m->keys[i] == k) {
      m->vals[i] = v;
      return 1;
    }
    if (m->keys[i] == 0) {
      if (m->count >= (m->mask + 1) / 2) return 0;
      m->keys[i] = k;
      m->vals[i] = v;
      m->count++;
      return 1;
    }
  }
}

// Removes every key of `file` (the high bits above bit 40, as s3m_key makes them); returns
// how many there were.
static void s3m_hdel (s3m_hmap_t *m, uint64_t k);
static uint32_t s3m_hdel_file (s3m_hmap_t *m, uint32_t file) {
  if (m->keys == NULL || m->count == 0) return 0;
  uint64_t want = (uint64_t) file + 1;
  uint32_t n = 0;
  for (uint32_t i = 0; i <= m->mask; i++) if (m->keys[i] != 0 && (m->keys[i] >> 40) == want) n++;
  if (n == 0) return 0;
  uint64_t *gone = malloc(sizeof(uint64_t) * n);
  if (gone == NULL) return 0;
  uint32_t k = 0;
  for (uint32_t i = 0; i <= m->mask && k < n; i++) if (m->keys[i] != 0 && (m->keys[i] >> 40) == want) gone[k++] = m->keys[i];
  for (uint32_t i = 0; i < k; i++) s3m_hdel(m, gone[i]);
  free(gone);
  return k;
}

static void s3m_hdel (s3m_hmap_t *m, uint64_t k) {
  uint32_t i = s3m_hidx(m, k);
  for (;; i = (i + 1) & m->mask) {
    if (m->keys[i] == 0) return;
    if (m->keys[i] == k) break;
  }
  m->keys[i] = 0;
  m->count--;
  // backward-shift deletion keeps every probe chain unbroken
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & m->mask;
    if (m->keys[j] == 0) return;
    uint32_t h = s3m_hidx(m, m->keys[j]);
    int stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
    if (!stays) {
      m->keys[i] = m->keys[j];
      m->vals[i] = m->vals[j];
      m->keys[j] = 0;
      i = j;
    }
  }
}
