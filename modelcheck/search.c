/* The compiled breadth-first search of modelcheck (modelcheck/native.py).
 *
 * native.py generates, for one model, the C of its steps (step_T_P for thread T at pc P),
 * its invariant, its RCU callbacks, the packing of a state into W 64-bit words, the
 * partial-order reduction tables and the symmetry canonicalization, followed by this
 * file. Everything here is the same for every model.
 *
 * The store: states are numbered in the order they are found, so a breadth-first level
 * is a range of numbers. keys[i*KB..] is state i packed (the first KB bytes of its W
 * little-endian words); parent[i] and via[i] (thread and branch of the step from the
 * parent) give the path back to the initial state. An
 * open-addressing table of state numbers + 1 (0: empty) finds a state by its key; it is
 * exact: whole keys are compared, no state is ever lost to a hash collision.
 *
 * Workers: a level is expanded by NW POSIX threads taking chunks of it; a new state is
 * inserted by claiming an empty table entry with compare-and-swap (BUSY while its key
 * is written), as in LTSmin's lock-free table. The table grows between rounds, when
 * every worker is stopped. With more than one worker the numbering of a level (and so
 * which of several shortest counterexamples is found) depends on timing; native.py
 * searches again with one worker for the counterexample it reports.
 */

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the packed keys are stored as the low bytes of little-endian words"
#endif

#define BUSY 0xffffffffu
#ifdef OVF
#define OVF_RESET ((void)0)
#else
#define OVF_RESET (OVF = 0)
#endif
#define RCU_TID ((1u << (8 * sizeof(via_t) - VIA_SHIFT)) - 1)
#define KEY(c, i) ((c)->keys + (uint64_t)(i) * KB)

enum { ST_RUNNING, ST_DONE, ST_VIOLATION, ST_DEADLOCK, ST_MAX_STATES, ST_MEMORY, ST_UNREPRESENTABLE, ST_MAX_DEPTH, ST_FULL };

typedef struct {
    uint8_t *keys;
    uint32_t *parent;
    via_t *via;
    uint32_t *table;
    uint64_t tmask;       /* table size - 1 */
    uint32_t idx_mask, tag_mask;  /* the parts of a table entry: state number + 1, hash bits */
    uint64_t cap;         /* states the reserved arrays can hold */
    uint64_t holes;       /* numbers handed to a worker and not used: no state (via HOLE) */
    uint64_t level_lo, level_hi, cursor;  /* the level being expanded and the next state of it */
    int64_t depth;
    uint64_t transitions;
    int reduce, nworkers, check_deadlock;
    int64_t max_states, max_depth;
    uint64_t max_bytes;
    int status;
    /* the violation: error id, state number, step (tid, branch) or tid -1 (the state itself) */
    int64_t v_err, v_state, v_tid, v_branch;
    uint64_t v_states, v_transitions;  /* the counts when it was found */
    int pending;
    int64_t bad_slot;     /* the slot whose value did not fit its packing */
    /* workers */
    pthread_mutex_t mu;
    uint64_t round_end;   /* workers stop taking chunks at this state number */
    /* numbers are taken from n by every worker: on a cache line of their own */
    _Alignas(64) uint64_t n;  /* state numbers given out (states stored + holes) */
    _Alignas(64) uint64_t stored_before;  /* states stored before the level being expanded */
} mc_ctx;

/* A worker: its counts, and the block of state numbers it fills next (with several workers
   each takes BLOCK numbers at a time, so that they do not write the same cache lines). */
#define BLOCK 64
#define HOLE ((via_t)~(via_t)0)
typedef struct {
    mc_ctx *c;
    uint64_t tr, next, end;
    int shared;
} mc_worker;

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static inline uint64_t key_hash(const uint64_t *k) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (int w = 0; w < W; w++) h = mix64(h ^ k[w]);
    return h;
}

static inline int key_eq(const uint8_t *stored, const uint64_t *k) { return memcmp(stored, k, KB) == 0; }

static inline void load_key(const uint8_t *stored, uint64_t *k) {
    k[W - 1] = 0;
    memcpy(k, stored, KB);
}

/* Zeroed memory whose pages are only taken when touched; huge pages where the system
   gives them on request: the table and the keys are read at random, and a TLB miss per
   probe would cost as much as the cache miss. */
static void *reserve(uint64_t bytes) {
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes ? bytes : 1, MADV_HUGEPAGE);
#endif
    return p;
}

/* bytes of the store for n states and a table of tsize entries */
static uint64_t store_bytes(uint64_t n, uint64_t tsize) {
    return n * (KB + 4 + sizeof(via_t)) + tsize * 4;
}

/* A table entry: the state number + 1 in the low bits, and as many bits of the key's hash
   above them as the largest state number the table can hold before it grows leaves (most
   probes that miss compare no key). */
static inline uint32_t entry(mc_ctx *c, uint64_t i, uint64_t h) {
    return (uint32_t)(i + 1) | ((uint32_t)(h >> 32) & c->tag_mask);
}

static inline int same_tag(mc_ctx *c, uint32_t e, uint64_t h) {
    return ((e ^ (uint32_t)(h >> 32)) & c->tag_mask) == 0;
}

/* The state number of a key, or -1. */
static int64_t find(mc_ctx *c, const uint64_t *k, uint64_t h) {
    for (uint64_t p = h & c->tmask;; p = (p + 1) & c->tmask) {
        uint32_t e = __atomic_load_n(&c->table[p], __ATOMIC_ACQUIRE);
        while (e == BUSY) e = __atomic_load_n(&c->table[p], __ATOMIC_ACQUIRE);
        if (e == 0) return -1;
        uint64_t i = (e & c->idx_mask) - 1;
        if (same_tag(c, e, h) && key_eq(KEY(c, i), k)) return (int64_t)i;
    }
}

/* Insert a key: its state number and 1 if new, 0 if it was there. -1 when the store is full. */
/* The number of the next new state. */
static inline uint64_t number(mc_ctx *c, mc_worker *w) {
    if (!w->shared) return c->n++;
    if (w->next == w->end) {
        w->next = __atomic_fetch_add(&c->n, BLOCK, __ATOMIC_RELAXED);
        w->end = w->next + BLOCK;
    }
    return w->next++;
}

/* The numbers a worker took and did not use become holes. */
static void release(mc_ctx *c, mc_worker *w) {
    for (uint64_t i = w->next; i < w->end && i < c->cap; i++) {
        c->via[i] = HOLE;
        c->parent[i] = 0;
        memset(KEY(c, i), 0xff, KB);
    }
    if (w->end > w->next) __atomic_fetch_add(&c->holes, w->end - w->next, __ATOMIC_RELAXED);
    w->next = w->end = 0;
}

static int insert(mc_ctx *c, mc_worker *w, const uint64_t *k, uint64_t h, uint32_t par, via_t via, uint64_t *idx) {
    for (uint64_t p = h & c->tmask;; p = (p + 1) & c->tmask) {
        uint32_t e = __atomic_load_n(&c->table[p], __ATOMIC_ACQUIRE);
        if (e == 0) {
            uint32_t zero = 0;
            if (!__atomic_compare_exchange_n(&c->table[p], &zero, BUSY, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                p = (p - 1) & c->tmask;  /* another worker took it: look at this entry again */
                continue;
            }
            uint64_t i = number(c, w);
            if (i >= c->cap) {
                __atomic_store_n(&c->table[p], 0, __ATOMIC_RELEASE);
                return -1;
            }
            memcpy(KEY(c, i), k, KB);
            c->parent[i] = par;
            c->via[i] = via;
            __atomic_store_n(&c->table[p], entry(c, i, h), __ATOMIC_RELEASE);
            *idx = i;
            return 1;
        }
        while (e == BUSY) e = __atomic_load_n(&c->table[p], __ATOMIC_ACQUIRE);
        uint64_t i = (e & c->idx_mask) - 1;
        if (same_tag(c, e, h) && key_eq(KEY(c, i), k)) {
            *idx = i;
            return 0;
        }
    }
}

#define MAX_LOAD(size) ((size) / 10 * 7)  /* the table grows before it is 70% full */

/* The split of an entry for a table of `size` entries. */
static void split(mc_ctx *c, uint64_t size) {
    uint64_t top = MAX_LOAD(size) + 2;
    int bits = 1;
    while (bits < 32 && (1ull << bits) <= top) bits++;
    c->idx_mask = bits >= 32 ? 0xffffffffu : (uint32_t)((1ull << bits) - 1);
    c->tag_mask = ~c->idx_mask;
}

/* Grow the table so that `more` further states keep its load under MAX_LOAD. No worker runs. */
static int grow(mc_ctx *c, uint64_t more) {
    uint64_t size = c->tmask + 1;
    if (c->n + more <= MAX_LOAD(size)) return 0;
    while (MAX_LOAD(size) < c->n + more) size *= 2;
    if (c->max_bytes && store_bytes(c->n, size) > c->max_bytes) return -1;
    uint32_t *t = reserve(size * 4);
    if (!t) return -1;
    uint64_t mask = size - 1;
    split(c, size);
    uint64_t hs[64];
    for (uint64_t lo = 0; lo < c->n; lo += 64) {  /* in blocks, so that the cache misses overlap */
        uint64_t hi = lo + 64 < c->n ? lo + 64 : c->n;
        for (uint64_t i = lo; i < hi; i++) {
            uint64_t k[W];
            load_key(KEY(c, i), k);
            hs[i - lo] = key_hash(k);
            __builtin_prefetch(&t[hs[i - lo] & mask], 1);
        }
        for (uint64_t i = lo; i < hi; i++) {
            if (c->via[i] == HOLE) continue;
            uint64_t p = hs[i - lo] & mask;
            while (t[p]) p = (p + 1) & mask;
            t[p] = entry(c, i, hs[i - lo]);
        }
    }
    munmap(c->table, (c->tmask + 1) * 4);
    c->table = t;
    c->tmask = mask;
    return 0;
}

static int done(const int64_t *s) {
    for (int t = 0; t < NT; t++)
        if (s[PC_SLOT[t]] != END_PC[t]) return 0;
    return 1;
}

static int step(int t, const int64_t *s, int64_t *out, int32_t *res) {
    int64_t pc = s[PC_SLOT[t]];
    if (pc >= END_PC[t]) return 0;
    return STEPS[t][pc](s, out, res);
}

/* Record a violation found while expanding state i (keeps the one of the lowest state number:
   with one worker, the first found, as the per-state search does). */
static void found(mc_ctx *c, int64_t err, int64_t i, int64_t tid, int64_t branch, uint64_t tr) {
    pthread_mutex_lock(&c->mu);
    if (!c->pending || i < c->v_state || (i == c->v_state && tid == -1)) {
        c->pending = 1;
        c->v_err = err; c->v_state = i; c->v_tid = tid; c->v_branch = branch;
        c->v_states = __atomic_load_n(&c->n, __ATOMIC_RELAXED) - c->holes;  /* exact with one worker */
        c->v_transitions = c->transitions + tr;  /* exact with one worker */
    }
    pthread_mutex_unlock(&c->mu);
}

static void stop(mc_ctx *c, int status, int64_t i) {
    pthread_mutex_lock(&c->mu);
    if (c->status == ST_RUNNING || (status == c->status && i < c->v_state)) {
        c->status = status;
        c->v_state = i;
    }
    pthread_mutex_unlock(&c->mu);
}

/* Whether every successor in `out` is outside the levels stored before this one. */
static int proviso(mc_ctx *c, int64_t *out, int32_t *res, int n) {
    for (int b = 0; b < n; b++) {
        if (res[b] >= 0) return 0;
        int64_t v[NS];
        memcpy(v, out + (uint64_t)b * NS, sizeof v);
        SYMMETRY(v);
        uint64_t k[W];
        if (pack(v, k) >= 0) return 0;
        int64_t j = find(c, k, key_hash(k));
        if (j >= 0 && (uint64_t)j < c->level_hi) return 0;
    }
    return 1;
}

/* A batch of expanded states: their outcomes in the order the per-state search takes them.
   Generating a batch first and storing it after lets the table's cache misses overlap. */
#define BATCH 32
#define OUT_MAX (BATCH * (MAXSUCC + NT + 1))  /* with a group mark per thread and the RCU callbacks */

enum { O_SUCC, O_ERR, O_BAD, O_GROUP };  /* a successor, a failing step, a value that does not fit,
                                             the start of a thread's (or the RCU callbacks') outcomes */
typedef struct {
    uint64_t key[W];
    uint64_t h;
    int32_t kind, tid, branch, err;
} mc_out;

typedef struct {
    mc_out out[OUT_MAX > 0 ? OUT_MAX : 1];
    int nout[BATCH];
    uint8_t moved[BATCH];
} mc_batch;

/* Every outcome of state i, appended at `o`: the number appended. */
static int generate(mc_ctx *c, uint64_t i, mc_out *o, uint8_t *moved) {
    int64_t s[NS];
    *moved = 1;
    if (c->via[i] == HOLE) return 0;
    uint64_t key[W];
    load_key(KEY(c, i), key);
    unpack(key, s);
    int64_t out[MAXOUT * NS > 0 ? MAXOUT * NS : 1];
    int32_t res[MAXOUT > 0 ? MAXOUT : 1];
    int64_t ample_out[MAXOUT * NS > 0 ? MAXOUT * NS : 1];
    int32_t ample_res[MAXOUT > 0 ? MAXOUT : 1];
    int reduced = 0, ample = -1, n_ample = 0, m = 0;
    *moved = 0;
    if (c->reduce) {
        for (int t = 0; t < NT; t++) {
            if (!is_ample(t, s)) continue;
            OVF_RESET;
            int n = step(t, s, ample_out, ample_res);
            if (OVF) {
                o[m].kind = O_BAD;
                o[m++].err = -2;
                return m;
            }
            if (n == 0) continue;
            reduced = proviso(c, ample_out, ample_res, n);
            ample = t;
            n_ample = n;
            break;
        }
    }
    uint32_t last = (uint32_t)c->via[i] >> VIA_SHIFT;
    int first = (i == 0 || last == RCU_TID) ? -1 : (int)last;
    for (int k = -1; k < NT; k++) {
        int t = k < 0 ? first : k;
        if (t < 0 || (k >= 0 && t == first)) continue;
        if (reduced && t != ample) continue;
        int n;
        int64_t *os = out;
        int32_t *r = res;
        if (t == ample) {
            n = n_ample; os = ample_out; r = ample_res;
        } else {
            OVF_RESET;
            n = step(t, s, out, res);
            if (OVF) {  /* a value past int64: the per-state search takes over */
                o[m++].kind = O_GROUP;
                o[m].kind = O_BAD;
                o[m++].err = -2;
                *moved = 1;
                return m;
            }
        }
        if (n == 0) continue;
        *moved = 1;
        o[m++].kind = O_GROUP;
        for (int b = 0; b < n; b++) {
            mc_out *x = &o[m++];
            x->tid = t;
            x->branch = b;
            if (r[b] >= 0) {
                x->kind = O_ERR;
                x->err = r[b];
                break;
            }
            int64_t *v = os + (uint64_t)b * NS;
            SYMMETRY(v);
            int64_t bad = pack(v, x->key);
            x->kind = bad >= 0 ? O_BAD : O_SUCC;
            x->err = (int32_t)bad;
            x->h = key_hash(x->key);
        }
    }
    if (HAS_RCU && !reduced) {
        int64_t v[NS];
        int group = 0;
        for (int k = 0; k < N_RCU; k++) {
            int64_t st = RCU_STATUS[k];
            if (s[st] != 2 || s[st + 1] != 0) continue;
            *moved = 1;
            if (!group) o[m++].kind = O_GROUP;
            group = 1;
            memcpy(v, s, sizeof v);
            v[st] = 3;
            mc_out *x = &o[m++];
            x->tid = RCU_TID;
            x->branch = k;
            SYMMETRY(v);
            int64_t bad = pack(v, x->key);
            x->kind = bad >= 0 ? O_BAD : O_SUCC;
            x->err = (int32_t)bad;
            x->h = key_hash(x->key);
        }
    }
    if (!*moved && c->check_deadlock && !done(s)) *moved = 2;  /* a deadlock */
    return m;
}

/* Prefetch the table entries of a batch's successors, then the keys they point to: the
   cache misses of a whole batch overlap. (noipa: GCC takes a function that only prefetches
   for one without effects and drops the call.) */
__attribute__((noipa)) static void prefetch(mc_ctx *c, mc_out *o, int n) {
    for (int k = 0; k < n; k++)
        if (o[k].kind == O_SUCC) __builtin_prefetch(&c->table[o[k].h & c->tmask]);
    for (int k = 0; k < n; k++) {
        if (o[k].kind != O_SUCC) continue;
        uint32_t e = c->table[o[k].h & c->tmask];
        if (e != 0 && e != BUSY && same_tag(c, e, o[k].h))
            __builtin_prefetch(KEY(c, (e & c->idx_mask) - 1));
    }
}

/* Store the outcomes of state i as the per-state search would, one after the other. */
static void settle(mc_ctx *c, mc_worker *w, uint64_t i, mc_out *o, int n, int moved) {
    uint64_t *tr = &w->tr;
    if (moved == 2) {
        stop(c, ST_DEADLOCK, (int64_t)i);
        return;
    }
    for (int k = 0; k < n; k++) {
        mc_out *x = &o[k];
        if (x->kind == O_GROUP) {
            if (__atomic_load_n(&c->pending, __ATOMIC_RELAXED)) return;
            continue;
        }
        if (x->kind == O_ERR) {
            found(c, x->err, (int64_t)i, x->tid, x->branch, *tr);
            return;
        }
        (*tr)++;
        if (x->kind == O_BAD) {
            c->bad_slot = x->err;  /* the slot, or -2: an intermediate value past int64 */
            stop(c, ST_UNREPRESENTABLE, (int64_t)i);
            return;
        }
        uint64_t j;
        int r = insert(c, w, x->key, x->h, (uint32_t)i, (via_t)(((uint32_t)x->tid << VIA_SHIFT) | (uint32_t)x->branch), &j);
        if (r < 0) {
            stop(c, ST_FULL, (int64_t)i);
            return;
        }
        if (r == 0) continue;
        int64_t v[NS];
        unpack(x->key, v);
        OVF_RESET;
        int bad_inv = invariant(v);
        if (OVF) {
            c->bad_slot = -2;
            stop(c, ST_UNREPRESENTABLE, (int64_t)i);
            return;
        }
        if (bad_inv >= 0) {
            found(c, bad_inv, (int64_t)j, -1, 0, *tr);
            return;
        }
        if (c->max_states >= 0 && (int64_t)(j + 1 - c->holes) >= c->max_states) {
            stop(c, ST_MAX_STATES, (int64_t)i);
            return;
        }
    }
}

static void expand_batch(mc_ctx *c, mc_worker *w, uint64_t lo, uint64_t hi, mc_batch *bt) {
    int n = 0;
    for (uint64_t i = lo; i < hi; i++) {
        bt->nout[i - lo] = generate(c, i, bt->out + n, &bt->moved[i - lo]);
        n += bt->nout[i - lo];
    }
    prefetch(c, bt->out, n);
    n = 0;
    for (uint64_t i = lo; i < hi; i++) {
        if (__atomic_load_n(&c->status, __ATOMIC_RELAXED) != ST_RUNNING) return;
        settle(c, w, i, bt->out + n, bt->nout[i - lo], bt->moved[i - lo]);
        n += bt->nout[i - lo];
    }
}

/* ------------------------------------------------------------------ the driver */

#define CHUNK 512
/* a step's successors (MAXOUT * NS values) twice over, a few more vectors, and room to spare */
#define STACK_BYTES ((size_t)(16u << 20) + (size_t)8 * NS * (2 * MAXOUT + 16))

static void *work(void *arg) {
    mc_worker *w = arg;
    mc_ctx *c = w->c;
    mc_batch *bt = malloc(sizeof *bt);
    if (!bt) {
        stop(c, ST_MEMORY, 0);
        return NULL;
    }
    for (;;) {
        uint64_t lo = __atomic_fetch_add(&c->cursor, CHUNK, __ATOMIC_RELAXED);
        if (lo >= c->round_end) break;
        uint64_t hi = lo + CHUNK < c->round_end ? lo + CHUNK : c->round_end;
        for (uint64_t b = lo; b < hi; b += BATCH) {
            if (__atomic_load_n(&c->status, __ATOMIC_RELAXED) != ST_RUNNING) goto out;
            expand_batch(c, w, b, b + BATCH < hi ? b + BATCH : hi, bt);
        }
    }
out:
    free(bt);
    return NULL;
}

/* A new search. 0 on failure (no memory). */
mc_ctx *mc_new(int64_t max_states, int64_t max_depth, uint64_t max_bytes, int reduce, int workers,
               int check_deadlock) {
    mc_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    uint64_t cap = 1ull << 32;
    if (max_bytes) {
        uint64_t by_mem = max_bytes / (KB + 4 + sizeof(via_t)) + 1024;
        if (by_mem < cap) cap = by_mem;
    }
    if (cap > 0xfffffff0ull) cap = 0xfffffff0ull;  /* BUSY is never an entry */
    c->cap = cap;
    c->keys = reserve(cap * KB);
    c->parent = reserve(cap * 4);
    c->via = reserve(cap * sizeof(via_t));
    c->table = reserve((1 << 12) * 4);
    c->tmask = (1 << 12) - 1;
    split(c, 1 << 12);
    if (!c->keys || !c->parent || !c->via || !c->table) return NULL;
    c->max_states = max_states;
    c->max_depth = max_depth;
    c->max_bytes = max_bytes;
    c->reduce = reduce;
    c->nworkers = workers < 1 ? 1 : workers;
    c->check_deadlock = check_deadlock;
    pthread_mutex_init(&c->mu, NULL);
    memset(COV, 0, sizeof COV);
    memset(EDGES, 0, sizeof EDGES);
    c->v_state = -1;
    c->v_tid = -1;
    int64_t v[NS];
    memcpy(v, INIT, sizeof v);
    SYMMETRY(v);
    uint64_t k[W];
    int64_t bad = pack(v, k);
    if (bad >= 0) {
        c->bad_slot = bad;
        c->status = ST_UNREPRESENTABLE;
        return c;
    }
    uint64_t j;
    mc_worker w0 = {c, 0, 0, 0, 0};
    insert(c, &w0, k, key_hash(k), 0, 0, &j);
    OVF_RESET;
    int bad_inv = invariant(v);
    if (OVF) {
        c->bad_slot = -2;
        c->status = ST_UNREPRESENTABLE;
        return c;
    }
    if (bad_inv >= 0) {
        found(c, bad_inv, 0, -1, 0, 0);
        c->status = ST_VIOLATION;
    }
    c->level_lo = 0;
    c->level_hi = 1;
    c->stored_before = 1;
    c->cursor = 0;
    return c;
}

/* Search on until about `budget` states are expanded or the search ends: the status. */
int mc_run(mc_ctx *c, uint64_t budget) {
    while (c->status == ST_RUNNING) {
        if (c->cursor >= c->level_hi) {  /* the level is done */
            if (c->pending) {
                c->status = ST_VIOLATION;
                break;
            }
            if (c->n - c->holes == c->stored_before) {  /* no new state (numbers given out may be holes) */
                c->status = ST_DONE;
                break;
            }
            c->stored_before = c->n - c->holes;
            c->level_lo = c->level_hi;
            c->level_hi = c->n;
            c->depth++;
        }
        if (c->cursor == c->level_lo && c->max_depth >= 0 && c->depth >= c->max_depth) {
            c->status = ST_MAX_DEPTH;
            break;
        }
        if (budget == 0) return c->status;
        uint64_t take = c->level_hi - c->cursor;
        uint64_t round = 65536;
        if (take > round) take = round;
        if (take > budget) take = budget;
        /* a round inserts at most take * MAXSUCC states: as many as fit, or grow the table */
        uint64_t room = MAX_LOAD(c->tmask + 1) > c->n ? MAX_LOAD(c->tmask + 1) - c->n : 0;
        if (take * MAXSUCC > room && room / MAXSUCC >= 4 * CHUNK) take = room / MAXSUCC;
        budget -= take;
        if (grow(c, take * MAXSUCC + (uint64_t)c->nworkers * BLOCK) < 0) {
            c->status = ST_MEMORY;
            break;
        }
        c->round_end = c->cursor + take;
        int nw = c->nworkers;
        if (take < 4 * CHUNK) nw = 1;
        mc_worker ws[64];
        pthread_t th[64];
        if (nw > 64) nw = 64;
        for (int k = 0; k < nw; k++) ws[k] = (mc_worker){c, 0, 0, 0, nw > 1};
        /* every worker on a stack of its own, large enough for the state vectors of a step
           however many slots the model has (the pages are only taken when touched) */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, STACK_BYTES);
        int started = 0;
        for (int k = 0; k < nw; k++) {
            if (pthread_create(&th[k], &attr, work, &ws[k]) != 0) break;
            started++;
        }
        pthread_attr_destroy(&attr);
        if (started == 0) {
            c->status = ST_MEMORY;
            break;
        }
        for (int k = 0; k < started; k++) pthread_join(th[k], NULL);
        nw = started;
        for (int k = 0; k < nw; k++) {
            c->transitions += ws[k].tr;
            release(c, &ws[k]);
        }
        if (c->cursor > c->round_end) c->cursor = c->round_end;
        if (c->n > c->cap) c->n = c->cap;
    }
    return c->status;
}

/* info: states, transitions, depth, status, violation (err, state, tid, branch), the counts
   when it was found, the bad slot, bytes in use */
void mc_info(mc_ctx *c, int64_t *out) {
    out[0] = (int64_t)(c->n - c->holes);
    out[1] = (int64_t)c->transitions;
    out[2] = c->depth;
    out[3] = c->status;
    out[4] = c->v_err;
    out[5] = c->v_state;
    out[6] = c->v_tid;
    out[7] = c->v_branch;
    out[8] = (int64_t)c->v_states;
    out[9] = (int64_t)c->v_transitions;
    out[10] = c->bad_slot;
    out[11] = (int64_t)store_bytes(c->n, c->tmask + 1);
    out[12] = c->pending;
    out[13] = (int64_t)c->cap;
}

/* The parent and step of state i. */
void mc_link(mc_ctx *c, uint64_t i, int64_t *out) {
    out[0] = c->parent[i];
    uint32_t via = c->via[i];
    out[1] = (via >> VIA_SHIFT) == RCU_TID ? -1 : (int64_t)(via >> VIA_SHIFT);
    out[2] = via & ((1u << VIA_SHIFT) - 1);
}

void mc_state(mc_ctx *c, uint64_t i, int64_t *v) {
    uint64_t k[W];
    load_key(KEY(c, i), k);
    unpack(k, v);
}

/* Canonicalize a state vector in place (the identity without symmetry). */
void mc_canonical(int64_t *v) { SYMMETRY(v); }

void mc_free(mc_ctx *c) {
    if (!c) return;
    munmap(c->keys, c->cap * KB ? c->cap * KB : 1);
    munmap(c->parent, c->cap * 4 ? c->cap * 4 : 1);
    munmap(c->via, c->cap * sizeof(via_t));
    munmap(c->table, (c->tmask + 1) * 4);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint8_t *mc_cov(void) { return COV; }
int32_t *mc_edges(void) { return EDGES; }
