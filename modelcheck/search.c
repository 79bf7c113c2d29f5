/* The compiled breadth-first search of modelcheck (modelcheck/native.py).
 *
 * native.py generates, for one model, the C of its steps (step_T_P for thread T at pc P),
 * its invariant, its RCU callbacks, the packing of a state into W 64-bit words, the
 * partial-order reduction tables and the symmetry canonicalization, followed by this
 * file. Everything here is the same for every model.
 *
 * The store: states are numbered in the order they are found, so a breadth-first level
 * is a range of numbers. keys[i*W..] is state i packed; parent[i] and via[i] (thread and
 * branch of the step from the parent) give the path back to the initial state. An
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

#define BUSY 0xffffffffu
#define RCU_TID 0xffffu

enum { ST_RUNNING, ST_DONE, ST_VIOLATION, ST_DEADLOCK, ST_MAX_STATES, ST_MEMORY, ST_UNREPRESENTABLE, ST_MAX_DEPTH, ST_FULL };

typedef struct {
    uint64_t *keys;
    uint32_t *parent, *via;
    uint32_t *table;
    uint64_t tmask;       /* table size - 1 */
    uint64_t cap;         /* states the reserved arrays can hold */
    uint64_t n;           /* states stored */
    uint64_t level_lo, level_hi, cursor;  /* the level being expanded and the next state of it */
    int64_t depth;
    uint64_t transitions;
    int reduce, symmetry, nworkers, check_deadlock;
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
} mc_ctx;

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

static inline int key_eq(const uint64_t *a, const uint64_t *b) {
    for (int w = 0; w < W; w++)
        if (a[w] != b[w]) return 0;
    return 1;
}

static void *reserve(uint64_t bytes) {
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* bytes of the store for n states and a table of tsize entries */
static uint64_t store_bytes(uint64_t n, uint64_t tsize) {
    return n * (W * 8 + 8) + tsize * 4;
}

/* The state number of a key, or -1. Only when no worker inserts. */
static int64_t find(mc_ctx *c, const uint64_t *k, uint64_t h) {
    for (uint64_t p = h & c->tmask;; p = (p + 1) & c->tmask) {
        uint32_t e = __atomic_load_n(&c->table[p], __ATOMIC_ACQUIRE);
        if (e == 0) return -1;
        if (e == BUSY) continue;  /* cannot happen single-threaded; skip while another writes */
        if (key_eq(c->keys + (uint64_t)(e - 1) * W, k)) return e - 1;
    }
}

/* Insert a key: its state number and 1 if new, 0 if it was there. -1 when the store is full. */
static int insert(mc_ctx *c, const uint64_t *k, uint64_t h, uint32_t par, uint32_t via, uint64_t *idx) {
    for (uint64_t p = h & c->tmask;; p = (p + 1) & c->tmask) {
        uint32_t e = __atomic_load_n(&c->table[p], __ATOMIC_ACQUIRE);
        if (e == 0) {
            uint32_t zero = 0;
            if (!__atomic_compare_exchange_n(&c->table[p], &zero, BUSY, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                p = (p - 1) & c->tmask;  /* look at this entry again */
                continue;
            }
            uint64_t i = __atomic_fetch_add(&c->n, 1, __ATOMIC_RELAXED);
            if (i >= c->cap || i >= 0xfffffffeull) {
                __atomic_store_n(&c->table[p], 0, __ATOMIC_RELEASE);
                return -1;
            }
            memcpy(c->keys + i * W, k, W * 8);
            c->parent[i] = par;
            c->via[i] = via;
            __atomic_store_n(&c->table[p], (uint32_t)(i + 1), __ATOMIC_RELEASE);
            *idx = i;
            return 1;
        }
        while (e == BUSY) e = __atomic_load_n(&c->table[p], __ATOMIC_ACQUIRE);
        if (e != 0 && key_eq(c->keys + (uint64_t)(e - 1) * W, k)) {
            *idx = e - 1;
            return 0;
        }
        if (e == 0) p = (p - 1) & c->tmask;
    }
}

/* Grow the table so that `more` further states keep its load under 1/2. No worker runs. */
static int grow(mc_ctx *c, uint64_t more) {
    uint64_t size = c->tmask + 1;
    uint64_t need = (c->n + more) * 2;
    if (need <= size) return 0;
    while (size < need) size *= 2;
    if (c->max_bytes && store_bytes(c->n, size) > c->max_bytes) return -1;
    uint32_t *t = calloc(size, 4);
    if (!t) return -1;
    uint64_t mask = size - 1;
    for (uint64_t i = 0; i < c->n; i++) {
        uint64_t p = key_hash(c->keys + i * W) & mask;
        while (t[p]) p = (p + 1) & mask;
        t[p] = (uint32_t)(i + 1);
    }
    free(c->table);
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
        c->v_states = __atomic_load_n(&c->n, __ATOMIC_RELAXED);
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

/* Store successor `v` of state i reached by (tid, branch); 1 to go on, 0 to stop this state. */
static int store(mc_ctx *c, int64_t *v, uint64_t i, int tid, int branch, uint64_t *tr) {
    uint64_t k[W];
    (*tr)++;
    SYMMETRY(v);
    int64_t bad = pack(v, k);
    if (bad >= 0) {
        c->bad_slot = bad;
        stop(c, ST_UNREPRESENTABLE, i);
        return 0;
    }
    uint64_t j;
    int r = insert(c, k, key_hash(k), (uint32_t)i, ((uint32_t)tid << 16) | (uint32_t)branch, &j);
    if (r < 0) {
        stop(c, ST_FULL, i);
        return 0;
    }
    if (r == 0) return 1;
    int bad_inv = invariant(v);
    if (bad_inv >= 0) {
        found(c, bad_inv, (int64_t)j, -1, 0, *tr);
        return 0;
    }
    if (c->max_states >= 0 && (int64_t)(j + 1) >= c->max_states) {
        stop(c, ST_MAX_STATES, i);
        return 0;
    }
    return 1;
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

static void expand(mc_ctx *c, uint64_t i, uint64_t *tr) {
    int64_t s[NS];
    unpack(c->keys + i * W, s);
    int64_t out[MAXOUT * NS > 0 ? MAXOUT * NS : 1];
    int32_t res[MAXOUT > 0 ? MAXOUT : 1];
    int moved = 0, reduced = 0, ample = -1, n_ample = 0;
    int64_t ample_out[MAXOUT * NS > 0 ? MAXOUT * NS : 1];
    int32_t ample_res[MAXOUT > 0 ? MAXOUT : 1];
    if (c->reduce) {
        for (int t = 0; t < NT; t++) {
            if (!is_ample(t, s)) continue;
            int n = step(t, s, ample_out, ample_res);
            if (n == 0) continue;
            reduced = proviso(c, ample_out, ample_res, n);
            ample = t;
            n_ample = n;
            break;
        }
    }
    uint32_t last = c->via[i] >> 16;
    int first = (i == 0 || last == RCU_TID) ? -1 : (int)last;
    for (int k = -1; k < NT; k++) {
        int t = k < 0 ? first : k;
        if (t < 0 || (k >= 0 && t == first)) continue;
        if (reduced && t != ample) continue;
        int n;
        int64_t *o = out;
        int32_t *r = res;
        if (t == ample) {
            n = n_ample; o = ample_out; r = ample_res;
        } else {
            n = step(t, s, out, res);
        }
        if (n == 0) continue;
        moved = 1;
        if (__atomic_load_n(&c->pending, __ATOMIC_RELAXED)) break;
        int go = 1;
        for (int b = 0; b < n && go; b++) {
            if (r[b] >= 0) {
                found(c, r[b], (int64_t)i, t, b, *tr);
                go = 0;
            } else {
                go = store(c, o + (uint64_t)b * NS, i, t, b, tr);
            }
        }
        if (!go) break;
    }
    if (HAS_RCU && !reduced && !c->pending && c->status == ST_RUNNING) {
        int64_t v[NS];
        for (int k = 0; k < N_RCU; k++) {
            int64_t st = RCU_STATUS[k];
            if (s[st] != 2 || s[st + 1] != 0) continue;
            moved = 1;
            if (c->pending) break;
            memcpy(v, s, sizeof v);
            v[st] = 3;
            if (!store(c, v, i, RCU_TID, k, tr)) break;
        }
    } else if (HAS_RCU && !moved) {
        for (int k = 0; k < N_RCU; k++)
            if (s[RCU_STATUS[k]] == 2 && s[RCU_STATUS[k] + 1] == 0) moved = 1;
    }
    if (!moved && c->check_deadlock && !done(s)) stop(c, ST_DEADLOCK, (int64_t)i);
}

/* ------------------------------------------------------------------ the driver */

#define CHUNK 512

typedef struct {
    mc_ctx *c;
    uint64_t tr;
} mc_worker;

static void *work(void *arg) {
    mc_worker *w = arg;
    mc_ctx *c = w->c;
    for (;;) {
        uint64_t lo = __atomic_fetch_add(&c->cursor, CHUNK, __ATOMIC_RELAXED);
        if (lo >= c->round_end) break;
        uint64_t hi = lo + CHUNK < c->round_end ? lo + CHUNK : c->round_end;
        for (uint64_t i = lo; i < hi; i++) {
            if (__atomic_load_n(&c->status, __ATOMIC_RELAXED) != ST_RUNNING) return NULL;
            expand(c, i, &w->tr);
        }
    }
    return NULL;
}

/* A new search. 0 on failure (no memory). */
mc_ctx *mc_new(int64_t max_states, int64_t max_depth, uint64_t max_bytes, int reduce, int symmetry, int workers,
               int check_deadlock) {
    mc_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    uint64_t cap = 1ull << 32;
    if (max_bytes) {
        uint64_t by_mem = max_bytes / (W * 8 + 8 + 8) + 1024;
        if (by_mem < cap) cap = by_mem;
    }
    if (max_states >= 0 && (uint64_t)max_states + 1 < cap) cap = (uint64_t)max_states + 1;
    c->cap = cap;
    c->keys = reserve(cap * W * 8);
    c->parent = reserve(cap * 4);
    c->via = reserve(cap * 4);
    c->table = calloc(1 << 12, 4);
    c->tmask = (1 << 12) - 1;
    if (!c->keys || !c->parent || !c->via || !c->table) return NULL;
    c->max_states = max_states;
    c->max_depth = max_depth;
    c->max_bytes = max_bytes;
    c->reduce = reduce;
    c->symmetry = symmetry;
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
    insert(c, k, key_hash(k), 0, 0, &j);
    int bad_inv = invariant(v);
    if (bad_inv >= 0) {
        found(c, bad_inv, 0, -1, 0, 0);
        c->status = ST_VIOLATION;
    }
    c->level_lo = 0;
    c->level_hi = 1;
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
            if (c->n == c->level_hi) {
                c->status = ST_DONE;
                break;
            }
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
        budget -= take;
        if (grow(c, take * MAXSUCC) < 0) {
            c->status = ST_MEMORY;
            break;
        }
        c->round_end = c->cursor + take;
        int nw = c->nworkers;
        if (take < 4 * CHUNK) nw = 1;
        mc_worker ws[64];
        pthread_t th[64];
        if (nw > 64) nw = 64;
        for (int k = 0; k < nw; k++) ws[k] = (mc_worker){c, 0};
        for (int k = 1; k < nw; k++)
            if (pthread_create(&th[k], NULL, work, &ws[k]) != 0) {
                nw = k;
                break;
            }
        work(&ws[0]);
        for (int k = 1; k < nw; k++) pthread_join(th[k], NULL);
        for (int k = 0; k < nw; k++) c->transitions += ws[k].tr;
        if (c->cursor > c->round_end) c->cursor = c->round_end;
        if (c->n > c->cap) c->n = c->cap;
    }
    return c->status;
}

/* info: states, transitions, depth, status, violation (err, state, tid, branch), the counts
   when it was found, the bad slot, bytes in use */
void mc_info(mc_ctx *c, int64_t *out) {
    out[0] = (int64_t)c->n;
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
}

/* The parent and step of state i. */
void mc_link(mc_ctx *c, uint64_t i, int64_t *out) {
    out[0] = c->parent[i];
    uint32_t via = c->via[i];
    out[1] = (via >> 16) == RCU_TID ? -1 : (int64_t)(via >> 16);
    out[2] = via & 0xffff;
}

void mc_state(mc_ctx *c, uint64_t i, int64_t *v) { unpack(c->keys + i * W, v); }

/* Canonicalize a state vector in place (the identity without symmetry). */
void mc_canon(int64_t *v) { SYMMETRY(v); }

void mc_free(mc_ctx *c) {
    if (!c) return;
    munmap(c->keys, c->cap * W * 8 ? c->cap * W * 8 : 1);
    munmap(c->parent, c->cap * 4 ? c->cap * 4 : 1);
    munmap(c->via, c->cap * 4 ? c->cap * 4 : 1);
    free(c->table);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint8_t *mc_cov(void) { return COV; }
int32_t *mc_edges(void) { return EDGES; }
