// s3m-attrs.h: getattr answered on the FUSE thread from the entries a readdir just
// listed, until JavaScript invalidates them (a generation number) or they expire.

// ---- attributes ----

#define S3M_ATTR_BUCKETS 65536
#ifndef S3M_ATTR_MAX  // the test binding makes it small, to reach it
#define S3M_ATTR_MAX 300000
#endif

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

// 1 and *st filled when `path` has a live entry (this generation, not expired), else 0.
static int s3m_attr_lookup (const char *path, struct stat *st) {
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
  return hit;
}

static int s3m_getattr (const char *path, struct stat *st) {
  if (s3m_attr_lookup(path, st)) return 0;
  return fuse_native_getattr(path, st);
}

// s3m_attr_put(dir: string, names: string[], stats: Uint32Array (S3M_STAT_INTS per name, the
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
      if ((size_t) (i + 1) * S3M_STAT_INTS * sizeof(uint32_t) > ints_len) break;
      int64_t got = s3m_name(env, element, name, sizeof(name) - 1);
      if (got < 0) continue;
      size_t name_len = (size_t) got;
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
      populate_stat(ints + (size_t) i * S3M_STAT_INTS, &e->st);
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
