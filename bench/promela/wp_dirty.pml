/* bench/promela/wp_dirty.pml: Promela translation of specs/wp_dirty.spec (write-unprotect and
 * mprotect() granting write to a PTE: write/dirty coherence, young only when asked), step
 * for step.
 *
 * Granularity: every step of the spec (a lock operation, one shared read or write, the xchg,
 * the user's atomic { } MMU access, the choose, the await) is one `atomic { }` here, whose
 * first statement is the only one that can block; the thread-local work modelcheck runs with
 * a step (building ptent, the param-only procs will_need() / try_change_writable() /
 * uffd_write_likely(), can_change_pte_writable(), branches on locals, ghost writes) is folded
 * into that atomic.  pan does not store states inside an atomic sequence, so one atomic ==
 * one modelcheck step.  change_pte_range() is an inline; its locals are zeroed when it
 * returns, as modelcheck does.  modelcheck keeps the return slot of a proc call in the state
 * after the call; where that value depends on data (can_change_pte_writable(), and the
 * second will_need() call, evaluated only when write is granted) the locals ccpw_ret and
 * wn2_ret keep it too, so that the state counts agree (the other return slots only depend
 * on the params and the program counter).
 *
 * Processes (as in the spec; mm/mprotect.c, mm/userfaultfd.c, fs/userfaultfd.c, mm/memory.c):
 *   monitor   (CALLER_uffd_unprotect) UFFDIO_WRITEPROTECT mode 0: mmap_read_lock(),
 *             change_protection(MM_CP_UFFD_WP_RESOLVE ...) -> change_pte_range(), unlock,
 *             wake_userfault().
 *   mprotect  (CALLER_mprotect) mprotect(PROT_READ|PROT_WRITE): mmap_write_lock(), VM_WRITE,
 *             change_pte_range(MM_CP_TRY_CHANGE_WRITABLE), unlock.
 *   user      one load or store (choose): the MMU A/D update (one atomic step), else the fault
 *             path handle_pte_fault() -> do_wp_page() -> handle_userfault() /
 *             wp_page_reuse(), or the spurious-fault pte_mkyoung()/pte_mkdirty().
 *
 * Macros (same names and defaults as the spec's params; e.g. spin -DFIXED=0 -DCALLER=CALLER_mprotect -a):
 *   FIXED=1                        0: the RFC (01-03) as posted, or with review point (a) only
 *   CALLER=CALLER_uffd_unprotect   CALLER_mprotect: which change_protection() caller grants write
 *   HINT=HINT_no_feature           HINT_no_hint, HINT_hinted
 *   RFC=RFC_as_posted              RFC_young_gated (only with FIXED=0)
 *   FIX_STYLE=FIX_STYLE_mkdirty    FIX_STYLE_need_dirty (only with FIXED=1)
 *
 * Properties (asserts): no_dirty_assist (the spec's assert, in the MMU step), the invariants
 * writable_is_dirty and young_only_if_asked (asserted at the end of every step that writes
 * the pte or user_accessed), lock_misuse on unlocks.  Deadlock = SPIN's invalid end state.
 * Not checked: lock_order.
 *
 * A pte_t {present, write, dirty, young, uffd_wp} is packed into one byte, so a whole-pte
 * read, xchg, store or pte_same() is one access, as in the spec.
 */
#define CALLER_uffd_unprotect 0
#define CALLER_mprotect       1
#define HINT_no_feature 0
#define HINT_no_hint    1
#define HINT_hinted     2
#define RFC_as_posted   0
#define RFC_young_gated 1
#define FIX_STYLE_mkdirty    0
#define FIX_STYLE_need_dirty 1
#ifndef FIXED
#define FIXED 1
#endif
#ifndef CALLER
#define CALLER CALLER_uffd_unprotect
#endif
#ifndef HINT
#define HINT HINT_no_feature
#endif
#ifndef RFC
#define RFC RFC_as_posted
#endif
#ifndef FIX_STYLE
#define FIX_STYLE FIX_STYLE_mkdirty
#endif

#define PRES(p)   ((p) & 1)
#define WR(p)     (((p) >> 1) & 1)
#define DIRTY(p)  (((p) >> 2) & 1)
#define YOUNG(p)  (((p) >> 3) & 1)
#define UWP(p)    (((p) >> 4) & 1)
#define MKPTE(pr, w, d, y, u)  ((pr) + 2 * (w) + 4 * (d) + 8 * (y) + 16 * (u))
#define SET_BIT(p, bit, b)  p = ((p) & ~(bit)) | ((bit) * (b))

/* the param-only procs (modelcheck folds them the same way) */
#define UFFD_WRITE_LIKELY   (HINT != HINT_no_hint)
#if CALLER == CALLER_mprotect
#define WILL_NEED           0
#define TRY_CHANGE_WRITABLE 1
#elif FIXED || RFC == RFC_young_gated
#define WILL_NEED           (HINT == HINT_hinted)
#define TRY_CHANGE_WRITABLE UFFD_WRITE_LIKELY
#else
#define WILL_NEED           (HINT != HINT_no_hint)
#define TRY_CHANGE_WRITABLE UFFD_WRITE_LIKELY
#endif
/* can_change_pte_writable(p) */
#define CAN_CHANGE(p)  (!UWP(p) && !(FIXED && FIX_STYLE == FIX_STYLE_need_dirty && !DIRTY(p)))

/* thread ids (modelcheck's thread index) */
#define T_MONITOR  0
#define T_MPROTECT 1
#define T_USER     2

#if CALLER == CALLER_uffd_unprotect
byte pte = MKPTE(1, 0, 0, 0, 1);    /* write-protected by the monitor earlier */
bool vm_write = 1;
#else
byte pte = MKPTE(1, 0, 0, 0, 0);    /* read-only because the VMA is PROT_READ */
bool vm_write = 0;
#endif
byte ptl;                           /* 0 free, else owner id + 1 */
byte mmap_w;                        /* mmap_lock writer: owner id + 1 */
byte mmap_r;                        /* mmap_lock readers: bitmask of thread ids */
bool woken;
bool user_accessed;                 /* ghost */

#define INV  assert(!(PRES(pte) && WR(pte)) || DIRTY(pte)); \
             assert(!YOUNG(pte) || user_accessed || HINT == HINT_hinted)

#define DOWN_READ(me)   atomic { mmap_w == 0 -> mmap_r = mmap_r | (1 << (me)) }
#define UP_READ(me)     assert(mmap_r & (1 << (me))); mmap_r = mmap_r & ~(1 << (me))
#define SPIN_LOCK(me)   atomic { ptl == 0 -> ptl = (me) + 1 }
#define SPIN_UNLOCK(me) assert(ptl == (me) + 1); ptl = 0

/* mm/mprotect.c: change_pte_range(resolve_wp); locals oldpte, ptent (zeroed on return),
 * ccpw_ret, wn2_ret (kept, see above); continues at cpr_done */
inline change_pte_range(me, resolve_wp) {
	SPIN_LOCK(me);
	atomic {
		oldpte = pte; pte = 0;                      /* xchg(pte, pte_t()) */
		ptent = oldpte;
		if :: resolve_wp -> SET_BIT(ptent, 16, 0) :: else fi;
		if :: WILL_NEED -> SET_BIT(ptent, 8, 1) :: else fi;
		if
		:: TRY_CHANGE_WRITABLE && !WR(ptent) ->
			ccpw_ret = CAN_CHANGE(ptent);
			if
			:: ccpw_ret ->
				SET_BIT(ptent, 2, 1);               /* pte_mkwrite() */
				if
				:: FIXED && FIX_STYLE == FIX_STYLE_mkdirty -> SET_BIT(ptent, 4, 1)
				:: else ->
					wn2_ret = WILL_NEED;
					if :: wn2_ret -> SET_BIT(ptent, 4, 1) :: else fi
				fi
			:: else
			fi
		:: else
		fi;
		INV
	};
	atomic { pte = ptent; INV };                    /* ptep_modify_prot_commit() */
	atomic { SPIN_UNLOCK(me); oldpte = 0; ptent = 0; goto cpr_done }
}

#if CALLER == CALLER_uffd_unprotect
active proctype monitor()
{
	byte oldpte, ptent;
	bool ccpw_ret, wn2_ret;
	DOWN_READ(T_MONITOR);
	change_pte_range(T_MONITOR, 1);
cpr_done:
	atomic { UP_READ(T_MONITOR) };
	atomic { woken = 1 };                           /* wake_userfault() */
end:	(0)
}
#endif

#if CALLER == CALLER_mprotect
active proctype mprotect()
{
	byte oldpte, ptent;
	bool ccpw_ret, wn2_ret;
	atomic { mmap_w == 0 && mmap_r == 0 -> mmap_w = T_MPROTECT + 1 };   /* down_write */
	atomic { vm_write = 1 };
	change_pte_range(T_MPROTECT, 0);
cpr_done:
	atomic { assert(mmap_w == T_MPROTECT + 1); mmap_w = 0 };           /* up_write */
end:	(0)
}
#endif

active proctype user()
{
	bool write_access, hw_done, must_wait, tmp;
	byte orig;
	atomic { if :: write_access = 0 :: write_access = 1 fi };      /* choose */
again:
	atomic {                                        /* the MMU */
		hw_done = 0;
		if
		:: PRES(pte) && (!write_access || WR(pte)) ->
			assert(!(write_access && !DIRTY(pte)));     /* no_dirty_assist */
			SET_BIT(pte, 8, 1);
			if :: write_access -> SET_BIT(pte, 4, 1) :: else fi;
			hw_done = 1;
			user_accessed = 1
		:: else
		fi;
		INV;
		if :: hw_done -> goto out :: else -> goto fault fi
	};
fault:
	DOWN_READ(T_USER);
	atomic { if :: write_access && !vm_write -> goto segv :: else -> goto read_pte fi };
segv:
	atomic { UP_READ(T_USER); goto out };
read_pte:
	atomic { orig = pte };                          /* ptep_get_lockless() */
	SPIN_LOCK(T_USER);
	atomic {
		if
		:: pte != orig -> goto changed
		:: else ->
			if
			:: write_access && !WR(orig) ->
				if :: UWP(orig) -> goto userfault :: else -> goto reuse fi
			:: else ->
				if :: write_access -> goto mkdirty :: else -> goto mkyoung fi
			fi
		fi
	};
changed:
	atomic { SPIN_UNLOCK(T_USER) };
	atomic { UP_READ(T_USER); goto again };
userfault:
	atomic { SPIN_UNLOCK(T_USER) };
	atomic { must_wait = !WR(pte) };                /* userfaultfd_must_wait() */
	atomic { UP_READ(T_USER); if :: must_wait -> goto wait :: else -> goto again fi };
wait:
	atomic { woken -> goto again };
reuse:                                              /* wp_page_reuse() */
	atomic { tmp = vm_write };
	atomic { pte = MKPTE(1, tmp, 1, 1, 0); tmp = 0; user_accessed = 1; INV; goto unlock };
mkdirty:
	atomic { pte = MKPTE(1, 1, 1, 1, UWP(orig)); user_accessed = 1; INV; goto unlock };
mkyoung:
	atomic { pte = MKPTE(1, WR(orig), DIRTY(orig), 1, UWP(orig)); user_accessed = 1; INV };
unlock:
	atomic { SPIN_UNLOCK(T_USER) };
	atomic { UP_READ(T_USER) };
out:
end:	(0)
}
