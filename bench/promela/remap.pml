/* bench/promela/remap.pml: Promela translation of specs/remap.spec (UFFDIO_MOVE's
 * move_pages_pte() against the destination PTE table going away), step for step.
 *
 * Granularity: every step of the spec (one shared access, lock operation, RCU operation,
 * alloc/free_rcu, or the READ_ONCE() read of one operand of a split `if` condition) is one
 * `atomic { }` here, whose first statement is the only one that can block.  The thread-local
 * work modelcheck runs with a step (branches on locals, ghost writes, the BUG_ON on a local)
 * is folded into the same atomic, ending with the goto to the next step.  pan does not store
 * the states inside an atomic sequence, so one atomic == one modelcheck step (one d_step).
 *
 * Processes (as in the spec; mm/userfaultfd.c, mm/memory.c, mm/pt_reclaim.c, mm/khugepaged.c):
 *   mover       move_pages() -> pte_alloc() (__pte_alloc() under pmd_lock) ->
 *               move_pages_pte() (pte_offset_map_rw_nolock(), the sanity check of *dst_pmd,
 *               orig_dst_pte/orig_src_pte reads under each ptl, double_pt_lock(),
 *               is_pte_pages_stable(), move_present_pte()), under mmap_read_lock().
 *   zap         (RACER == RACER_zap) madvise(MADV_DONTNEED) -> zap_pte_range() with PT
 *               reclaim: pte_offset_map_lock() with the pmd_same() recheck, clear the pte,
 *               try_get_and_clear_pmd() (spin_trylock(pml)), free_pte() (RCU-deferred).
 *   khugepaged  (RACER == RACER_retract) retract_page_tables(): pmd_lock, recheck, nested ptl,
 *               abort on a present pte, pmdp_collapse_flush(), pte_free_defer().
 *   rcu         the RCU callbacks: frees a free_rcu()'d table once every thread that was in a
 *               read section at the free_rcu() has left it (modelcheck's "rcu" column).
 *
 * Macros (same names and defaults as the spec's params; e.g. spin -DRECHECK_PMD=0 -a):
 *   RECHECK_PMD=1      the fix (pmd_none() -> -EINVAL, pmd_same() in is_pte_pages_stable());
 *                      0: before it (UFFDIO_REMAP v2: BUG_ON(pmd_none(*dst_pmd)), no pmd_same).
 *   RACER=RACER_zap    who takes the destination table away; RACER_retract: khugepaged.
 *
 * Properties (asserts): BUG_ON (the v2 BUG_ON), page_table.pte.requires (linked, asserted
 * on each pte write), page_table.pte.guarded_by (ptl held on each plain pte access),
 * use_after_free / null_deref (status live or rcu_pending on each dereference, and on
 * free_rcu()), lock_misuse on unlocks, and the invariant no_pte_lost, asserted at the end
 * of every step that writes a variable it reads (dst_pmd, a pte, zapped, in_flight, alloc).
 * Deadlock = SPIN's invalid end state.  Not checked: lock_order (needs the whole run).
 *
 * State: tables are indexed 0..2, a ref is index+1 (0 = null); locks are owner bytes
 * (thread id + 1), mmap_lock is a writer byte (never taken here) plus a reader bitmask.
 */
#define RACER_zap     0
#define RACER_retract 1
#ifndef RECHECK_PMD
#define RECHECK_PMD 1
#endif
#ifndef RACER
#define RACER RACER_zap
#endif

/* object status, as in modelcheck */
#define UNALLOC 0
#define LIVE    1
#define PENDING 2
#define FREED   3

/* thread ids (modelcheck's thread index), and lock owner values */
#define T_MOVER 0
#define T_ZAP   1
#define T_KHUGE 2

byte dst_pmd = 1;           /* *dst_pmd: ref tables (tables[0]); 0 = pmd_none() */
byte src_pmd = 2;           /* *src_pmd: tables[1], never changes */
byte pml;                   /* pmd_lockptr(mm, dst_pmd) */
byte mmap_w;                /* mmap_lock held for write (never here) */
byte mmap_r;                /* mmap_lock readers, bitmask of thread ids */
bool zapped;                /* ghost */
bool in_flight;             /* mover.in_flight (a thread local the invariant reads) */
byte status[3];             /* tables[i].<status> */
byte rcu_wait[3];           /* tables[i].<rcu_wait>: readers the grace period waits for */
bool linked[3];             /* ghost tables[i].linked */
byte ptl[3];                /* tables[i].ptl */
bool pte[3];                /* tables[i].pte.present */
byte rcu_depth[3];          /* <rcu_depth> of each thread */

#define OBJ(r)       ((r) - 1)
#define DEREF(r)     assert((r) != 0 && (status[OBJ(r)] == LIVE || status[OBJ(r)] == PENDING))
#define INV          assert(pte[OBJ(src_pmd)] || in_flight || zapped || \
                            dst_pmd != 0 && pte[OBJ(dst_pmd)])

#define DOWN_READ(me)   atomic { mmap_w == 0 -> mmap_r = mmap_r | (1 << (me)) }
#define UP_READ(me)     assert(mmap_r & (1 << (me))); mmap_r = mmap_r & ~(1 << (me))
#define SPIN_LOCK(l, me)  atomic { l == 0 -> l = (me) + 1 }
#define SPIN_UNLOCK(l, me)  assert(l == (me) + 1); l = 0

inline rcu_lock(me) { rcu_depth[me]++ }
inline rcu_unlock(me) {
	assert(rcu_depth[me] > 0);
	rcu_depth[me]--;
	if
	:: rcu_depth[me] == 0 ->
		rcu_wait[0] = rcu_wait[0] & ~(1 << me);
		rcu_wait[1] = rcu_wait[1] & ~(1 << me);
		rcu_wait[2] = rcu_wait[2] & ~(1 << me)
	:: else
	fi
}
inline free_rcu(r) {
	DEREF(r);
	status[OBJ(r)] = PENDING;
	rcu_wait[OBJ(r)] = (rcu_depth[0] > 0) + 2 * (rcu_depth[1] > 0) + 4 * (rcu_depth[2] > 0)
}

init {
	atomic {
		status[0] = LIVE; status[1] = LIVE; status[2] = UNALLOC;
		linked[0] = 1; linked[1] = 1; linked[2] = 1;
		pte[1] = 1;             /* the page to move is mapped at src_addr */
		run mover();
#if RACER == RACER_zap
		run zap();
#else
		run khugepaged();
#endif
		run rcu()
	}
}

proctype mover()
{
	byte fresh, t, s;
	bool orig_dst, orig_src;
	DOWN_READ(T_MOVER);
again:
	atomic { if :: dst_pmd == 0 -> goto populate :: else -> goto mapped fi };
populate:
	SPIN_LOCK(pml, T_MOVER);
	atomic { if :: dst_pmd == 0 -> skip :: else -> goto unlock_pml fi };
	atomic {                            /* fresh = alloc(tables); fresh.linked = true */
		if
		:: status[0] == UNALLOC || status[0] == FREED -> fresh = 1
		:: else ->
			if
			:: status[1] == UNALLOC || status[1] == FREED -> fresh = 2
			:: else ->
				if
				:: status[2] == UNALLOC || status[2] == FREED -> fresh = 3
				:: else -> fresh = 0
				fi
			fi
		fi;
		if
		:: fresh != 0 ->                /* made live, every field reset to its default */
			status[OBJ(fresh)] = LIVE; linked[OBJ(fresh)] = 1;
			ptl[OBJ(fresh)] = 0; pte[OBJ(fresh)] = 0
		:: else
		fi;
		assert(fresh != 0);             /* BUG_ON(fresh == null) */
		linked[OBJ(fresh)] = 1;
		INV
	};
	atomic { dst_pmd = fresh; INV };    /* pmd_populate() */
unlock_pml:
	atomic { SPIN_UNLOCK(pml, T_MOVER) };
mapped:
	atomic { rcu_lock(T_MOVER) };
	atomic {
		t = dst_pmd;                    /* dst_pmdval = pmdp_get_lockless() */
		if :: t == 0 -> goto eagain_unmapped :: else -> goto map_src fi
	};
eagain_unmapped:
	atomic { rcu_unlock(T_MOVER); goto again };
map_src:
	atomic { s = src_pmd };
#if RECHECK_PMD
	atomic { if :: dst_pmd == 0 -> goto einval :: else -> goto lock_dst fi };
einval:
	atomic { rcu_unlock(T_MOVER); goto out };
#else
	assert(!(dst_pmd == 0));            /* BUG_ON(pmd_none(*dst_pmd)) */
#endif
lock_dst:
	atomic { ptl[OBJ(t)] == 0 -> DEREF(t); ptl[OBJ(t)] = T_MOVER + 1 };
	atomic { DEREF(t); assert(ptl[OBJ(t)] == T_MOVER + 1); orig_dst = pte[OBJ(t)] };
	atomic {
		DEREF(t); SPIN_UNLOCK(ptl[OBJ(t)], T_MOVER);
		if :: orig_dst -> goto eexist :: else -> goto lock_src fi
	};
eexist:
	atomic { rcu_unlock(T_MOVER); goto out };
lock_src:
	atomic { ptl[OBJ(s)] == 0 -> DEREF(s); ptl[OBJ(s)] = T_MOVER + 1 };
	atomic { DEREF(s); assert(ptl[OBJ(s)] == T_MOVER + 1); orig_src = pte[OBJ(s)] };
	atomic {
		DEREF(s); SPIN_UNLOCK(ptl[OBJ(s)], T_MOVER);
		if :: !orig_src -> goto enoent :: else -> goto double_lock fi
	};
enoent:
	atomic { rcu_unlock(T_MOVER); goto out };
double_lock:
	atomic { ptl[OBJ(t)] == 0 -> DEREF(t); ptl[OBJ(t)] = T_MOVER + 1 };
	atomic { ptl[OBJ(s)] == 0 -> DEREF(s); ptl[OBJ(s)] = T_MOVER + 1 };   /* spin_lock_nested */
	/* is_pte_pages_stable(): one read per step, left to right, short-circuit */
	atomic {
		DEREF(s); assert(ptl[OBJ(s)] == T_MOVER + 1);
		if :: pte[OBJ(s)] != orig_src -> goto unstable :: else -> goto check_dst fi
	};
check_dst:
	atomic {
		DEREF(t); assert(ptl[OBJ(t)] == T_MOVER + 1);
		if :: pte[OBJ(t)] != orig_dst -> goto unstable
#if RECHECK_PMD
		   :: else -> goto check_pmd
#else
		   :: else -> goto move
#endif
		fi
	};
#if RECHECK_PMD
check_pmd:
	atomic { if :: dst_pmd != t -> goto unstable :: else -> goto move fi };
#endif
unstable:
	atomic { DEREF(t); SPIN_UNLOCK(ptl[OBJ(t)], T_MOVER) };
	atomic { DEREF(s); SPIN_UNLOCK(ptl[OBJ(s)], T_MOVER) };
	atomic { rcu_unlock(T_MOVER); goto again };
move:
	atomic {                            /* ptep_clear_flush(src) */
		DEREF(s); assert(ptl[OBJ(s)] == T_MOVER + 1); assert(linked[OBJ(s)]);
		pte[OBJ(s)] = 0; in_flight = 1; INV
	};
	atomic {                            /* set_pte_at(dst) */
		DEREF(t); assert(ptl[OBJ(t)] == T_MOVER + 1); assert(linked[OBJ(t)]);
		pte[OBJ(t)] = 1; in_flight = 0; INV
	};
	atomic { DEREF(t); SPIN_UNLOCK(ptl[OBJ(t)], T_MOVER) };
	atomic { DEREF(s); SPIN_UNLOCK(ptl[OBJ(s)], T_MOVER) };
	atomic { rcu_unlock(T_MOVER) };
out:
	atomic { UP_READ(T_MOVER) };
end:	(0)
}

#if RACER == RACER_zap
proctype zap()
{
	byte t;
	bool reclaim;
	DOWN_READ(T_ZAP);
retry:
	atomic { rcu_lock(T_ZAP) };
	atomic {
		t = dst_pmd;
		if :: t == 0 -> goto nothing :: else -> goto lock_t fi
	};
nothing:
	atomic { rcu_unlock(T_ZAP); goto out };
lock_t:
	atomic { ptl[OBJ(t)] == 0 -> DEREF(t); ptl[OBJ(t)] = T_ZAP + 1 };
	atomic { if :: dst_pmd != t -> goto changed :: else -> goto read_pte fi };
changed:
	atomic { DEREF(t); SPIN_UNLOCK(ptl[OBJ(t)], T_ZAP) };
	atomic { rcu_unlock(T_ZAP); goto retry };
read_pte:
	atomic {
		DEREF(t); assert(ptl[OBJ(t)] == T_ZAP + 1);
		if :: pte[OBJ(t)] -> goto clear_pte :: else -> goto try_reclaim fi
	};
clear_pte:
	atomic {                            /* get_and_clear_full_ptes() */
		DEREF(t); assert(ptl[OBJ(t)] == T_ZAP + 1); assert(linked[OBJ(t)]);
		pte[OBJ(t)] = 0; zapped = 1; INV
	};
try_reclaim:
	atomic {                            /* reclaim = spin_trylock(pml) */
		if
		:: pml == 0 -> pml = T_ZAP + 1; reclaim = 1
		:: else -> reclaim = 0
		fi;
		if :: reclaim -> goto clear_pmd :: else -> goto unlock_t fi
	};
clear_pmd:
	atomic { dst_pmd = 0; linked[OBJ(t)] = 0; INV };
	atomic { SPIN_UNLOCK(pml, T_ZAP) };
unlock_t:
	atomic { DEREF(t); SPIN_UNLOCK(ptl[OBJ(t)], T_ZAP) };
	atomic { rcu_unlock(T_ZAP); if :: reclaim -> goto free_t :: else -> goto out fi };
free_t:
	atomic { free_rcu(t) };
out:
	atomic { UP_READ(T_ZAP) };
end:	(0)
}
#endif

#if RACER == RACER_retract
proctype khugepaged()
{
	byte t;
	atomic {
		t = dst_pmd;                    /* find_pmd_or_thp_or_none() */
		if :: t == 0 -> goto out :: else -> goto take_pml fi
	};
take_pml:
	SPIN_LOCK(pml, T_KHUGE);
	atomic { if :: dst_pmd != t -> goto changed :: else -> goto lock_t fi };
changed:
	atomic { SPIN_UNLOCK(pml, T_KHUGE); goto out };
lock_t:
	atomic { ptl[OBJ(t)] == 0 -> DEREF(t); ptl[OBJ(t)] = T_KHUGE + 1 };   /* spin_lock_nested */
	atomic {
		DEREF(t); assert(ptl[OBJ(t)] == T_KHUGE + 1);
		if :: pte[OBJ(t)] -> goto abort :: else -> goto retract fi
	};
abort:
	atomic { DEREF(t); SPIN_UNLOCK(ptl[OBJ(t)], T_KHUGE) };
	atomic { SPIN_UNLOCK(pml, T_KHUGE); goto out };
retract:
	atomic { dst_pmd = 0; linked[OBJ(t)] = 0; INV };   /* pmdp_collapse_flush() */
	atomic { DEREF(t); SPIN_UNLOCK(ptl[OBJ(t)], T_KHUGE) };
	atomic { SPIN_UNLOCK(pml, T_KHUGE) };
	atomic { free_rcu(t) };            /* pte_free_defer() */
out:
end:	(0)
}
#endif

proctype rcu()                          /* the RCU callback steps */
{
end:	do
	:: d_step { status[0] == PENDING && rcu_wait[0] == 0 -> status[0] = FREED }
	:: d_step { status[1] == PENDING && rcu_wait[1] == 0 -> status[1] = FREED }
	:: d_step { status[2] == PENDING && rcu_wait[2] == 0 -> status[2] = FREED }
	od
}
