/* bench/promela/swap_wp.pml: Promela translation of specs/swap_wp.spec (the uffd-wp bit of
 * one anonymous PTE across swap, migration and device-private memory), step for step.
 *
 * Granularity: every step of the spec (a lock operation, one whole-pte read or write, the
 * writer's atomic { } MMU access, the await) is one `atomic { }` here, whose first statement
 * is the only one that can block; the thread-local work modelcheck runs with a step
 * (building the new pte in a local, ghost writes, branches on locals, the proc return and the
 * caller's branch on the result) is folded into the same atomic, which ends with the goto to
 * the next step.  pan does not store states inside an atomic sequence, so one atomic == one
 * modelcheck step.  The procs are inlines with their locals declared per call site (as the
 * spec's inlining does) and zeroed when the proc returns, as modelcheck does.
 *
 * Processes (as in the spec; mm/rmap.c, mm/memory.c, mm/migrate.c, mm/migrate_device.c,
 * mm/mprotect.c):
 *   uffd     UFFDIO_WRITEPROTECT (WP): change_pte_range() with MM_CP_UFFD_WP, present and
 *            swap-like ptes.
 *   reclaim  try_to_unmap_one(): present -> swap entry.
 *   migrate  try_to_migrate_one() (present -> migration entry), then remove_migration_pte()
 *            back to a present pte.
 *   device   migrate_vma_collect_pmd() (present -> migration entry), then
 *            remove_migration_pte() to a device-private entry.
 *   writer   the user's store: the MMU (one atomic step), else handle_pte_fault() ->
 *            do_wp_page() / do_swap_page() (swap-in, migration_entry_wait(), or
 *            migrate_to_ram() = migrate_vma_collect_pmd() + remove_migration_pte()).
 *
 * Macro (same name and default as the spec's param; e.g. spin -DBUG=BUG_swapin -a):
 *   BUG=BUG_none  the code after f45ec5ff16a7; BUG_swapout, BUG_swapin, BUG_migrate,
 *                 BUG_remove_migration, BUG_device_private, BUG_wrprotect: the bugs the spec
 *                 describes (each drops or mishandles the uffd-wp bit in one conversion).
 *
 * Properties (asserts): no_silent_write (the spec's assert, in the writer's MMU step),
 * page_table.pte.requires (lockdep_is_held(ptl), asserted on each pte write), lock_misuse on
 * unlocks, and the invariants wp_not_lost and wp_implies_readonly, asserted at the end of
 * every step that writes pt.pte, carried or protected.  Deadlock = SPIN's invalid end state.
 * Not checked: lock_order (a single lock here, so it cannot fail).
 *
 * A pte_t {kind, write, uffd_wp, swp_uffd_wp} is packed into one byte, so a whole-pte read,
 * store or pte_same() is one access, as in the spec.
 */
#define BUG_none             0
#define BUG_swapout          1
#define BUG_swapin           2
#define BUG_migrate          3
#define BUG_remove_migration 4
#define BUG_device_private   5
#define BUG_wrprotect        6
#ifndef BUG
#define BUG BUG_none
#endif

/* pte_kind */
#define NONE           0
#define PRESENT        1
#define SWAP           2
#define MIGRATION      3
#define DEVICE_PRIVATE 4

#define KIND(p)   ((p) & 7)
#define WR(p)     (((p) >> 3) & 1)
#define UWP(p)    (((p) >> 4) & 1)
#define SWP(p)    (((p) >> 5) & 1)
#define MKPTE(k, w, u, s)  ((k) + 8 * (w) + 16 * (u) + 32 * (s))
#define SET_W(p, b)    p = ((p) & ~8) | (8 * (b))
#define SET_UWP(p, b)  p = ((p) & ~16) | (16 * (b))
#define SET_SWP(p, b)  p = ((p) & ~32) | (32 * (b))

/* thread ids (modelcheck's thread index) */
#define T_UFFD    0
#define T_RECLAIM 1
#define T_MIGRATE 2
#define T_DEVICE  3
#define T_WRITER  4

byte pt_ptl;                                    /* pt.ptl: 0 free, else owner id + 1 */
byte pt_pte = MKPTE(PRESENT, 1, 0, 0);          /* a written, exclusive anon page */
bool protected;                                 /* ghost */
bool carried;                                   /* ghost */
bool userfault;                                 /* ghost */

#define INV  assert(!protected || carried || KIND(pt_pte) == PRESENT && UWP(pt_pte) || \
                    KIND(pt_pte) != PRESENT && KIND(pt_pte) != NONE && SWP(pt_pte)); \
             assert((!(KIND(pt_pte) == PRESENT && UWP(pt_pte)) || !WR(pt_pte)) && \
                    (!(KIND(pt_pte) != PRESENT && SWP(pt_pte)) || !WR(pt_pte)))

#define LOCK(me)    atomic { pt_ptl == 0 -> pt_ptl = (me) + 1 }
#define UNLOCK(me)  assert(pt_ptl == (me) + 1); pt_ptl = 0
#define SET_PTE(me, v)  assert(pt_ptl == (me) + 1); pt_pte = (v)   /* requires lockdep_is_held(ptl) */

/* mm/rmap.c: try_to_migrate_one(); locals ttm_pteval, ttm_swp; result in res */
inline try_to_migrate_one(me, res) {  /* continues at the caller's labels ttm_true / ttm_false */
	LOCK(me);
	atomic {
		ttm_pteval = pt_pte;
		if :: KIND(ttm_pteval) != PRESENT -> goto ttm_nope :: else -> goto ttm_clear fi
	};
ttm_nope:
	atomic { UNLOCK(me); res = 0; ttm_pteval = 0; ttm_swp = 0; goto ttm_false };
ttm_clear:
	atomic {
		SET_PTE(me, 0);                 /* ptep_clear_flush() */
		carried = UWP(ttm_pteval);
		ttm_swp = MKPTE(MIGRATION, WR(ttm_pteval), 0, 0);
		if :: UWP(ttm_pteval) && BUG != BUG_migrate -> SET_SWP(ttm_swp, 1) :: else fi;
		INV
	};
	atomic { SET_PTE(me, ttm_swp); carried = 0; INV };
	atomic { UNLOCK(me); res = 1; ttm_pteval = 0; ttm_swp = 0; goto ttm_true }
}

/* mm/migrate_device.c: migrate_vma_collect_pmd(from_device); locals mvc_pte, mvc_swp */
inline migrate_vma_collect_pmd(me, from_device, res) {  /* continues at mvc_true / mvc_false */
	LOCK(me);
	atomic {
		mvc_pte = pt_pte;
		if
		:: from_device && KIND(mvc_pte) != DEVICE_PRIVATE ||
		   !from_device && KIND(mvc_pte) != PRESENT -> goto mvc_nope
		:: else -> goto mvc_clear
		fi
	};
mvc_nope:
	atomic { UNLOCK(me); res = 0; mvc_pte = 0; mvc_swp = 0; goto mvc_false };
mvc_clear:
	atomic {
		SET_PTE(me, 0);
		carried = UWP(mvc_pte) || SWP(mvc_pte);
		mvc_swp = MKPTE(MIGRATION, WR(mvc_pte), 0, 0);
		if
		:: KIND(mvc_pte) == PRESENT && UWP(mvc_pte) || KIND(mvc_pte) != PRESENT && SWP(mvc_pte) ->
			SET_SWP(mvc_swp, 1)
		:: else
		fi;
		INV
	};
	atomic { SET_PTE(me, mvc_swp); carried = 0; INV };
	atomic { UNLOCK(me); res = 1; mvc_pte = 0; mvc_swp = 0; goto mvc_true }
}

/* mm/migrate.c: remove_migration_pte(to_device); locals rmp_old, rmp_pte */
inline remove_migration_pte(me, to_device) {  /* continues at rmp_done */
	LOCK(me);
	atomic {
		rmp_old = pt_pte;
		if
		:: KIND(rmp_old) == MIGRATION ->
			rmp_pte = MKPTE(PRESENT, 0, 0, 0);
			if
			:: WR(rmp_old) -> SET_W(rmp_pte, 1)
			:: else ->
				if :: SWP(rmp_old) && BUG != BUG_remove_migration -> SET_UWP(rmp_pte, 1)
				   :: else fi
			fi;
			if
			:: to_device ->
				rmp_pte = MKPTE(DEVICE_PRIVATE, WR(rmp_pte), 0, 0);
				if :: SWP(rmp_old) && BUG != BUG_device_private -> SET_SWP(rmp_pte, 1)
				   :: else fi
			:: else
			fi;
			goto rmp_set
		:: else -> goto rmp_unlock
		fi
	};
rmp_set:
	atomic { SET_PTE(me, rmp_pte); INV };
rmp_unlock:
	atomic { UNLOCK(me); rmp_old = 0; rmp_pte = 0; goto rmp_done }
}

active proctype uffd()
{
	byte oldpte, newpte;
	LOCK(T_UFFD);
	atomic {
		oldpte = pt_pte;
		if
		:: KIND(oldpte) == PRESENT -> goto wp_present
		:: else ->
			newpte = oldpte;
			if
			:: KIND(oldpte) == MIGRATION && WR(oldpte) -> SET_W(newpte, 0)
			:: else ->
				if :: KIND(oldpte) == DEVICE_PRIVATE && WR(oldpte) -> SET_W(newpte, 0)
				   :: else fi
			fi;
			if :: BUG != BUG_wrprotect -> SET_SWP(newpte, 1) :: else fi;
			if
			:: newpte != oldpte -> goto wp_swap_set
			:: else -> protected = 1; INV; goto wp_unlock
			fi
		fi
	};
wp_present:
	atomic {                                    /* modify_prot_start_ptes(): get-and-clear */
		SET_PTE(T_UFFD, 0);
		carried = UWP(oldpte);
		newpte = oldpte;
		SET_UWP(newpte, 1);
		SET_W(newpte, 0);
		INV
	};
	atomic { SET_PTE(T_UFFD, newpte); carried = 0; protected = 1; INV; goto wp_unlock };
wp_swap_set:
	atomic { SET_PTE(T_UFFD, newpte); protected = 1; INV };
wp_unlock:
	atomic { UNLOCK(T_UFFD) };
end:	(0)
}

active proctype reclaim()
{
	byte pteval, swp_pte;
	LOCK(T_RECLAIM);
	atomic {
		pteval = pt_pte;
		if :: KIND(pteval) == PRESENT -> goto unmap :: else -> goto done fi
	};
unmap:
	atomic {                                    /* get_and_clear_ptes() */
		SET_PTE(T_RECLAIM, 0);
		carried = UWP(pteval);
		swp_pte = MKPTE(SWAP, 0, 0, 0);
		if :: UWP(pteval) && BUG != BUG_swapout -> SET_SWP(swp_pte, 1) :: else fi;
		INV
	};
	atomic { SET_PTE(T_RECLAIM, swp_pte); carried = 0; INV };
done:
	atomic { UNLOCK(T_RECLAIM) };
end:	(0)
}

active proctype migrate()
{
	bool unmapped;
	byte ttm_pteval, ttm_swp, rmp_old, rmp_pte;
	try_to_migrate_one(T_MIGRATE, unmapped);
ttm_true:
	remove_migration_pte(T_MIGRATE, 0);
ttm_false:
rmp_done:
end:	(0)
}

active proctype device()
{
	bool collected;
	byte mvc_pte, mvc_swp, rmp_old, rmp_pte;
	migrate_vma_collect_pmd(T_DEVICE, 0, collected);
mvc_true:
	remove_migration_pte(T_DEVICE, 1);
mvc_false:
rmp_done:
end:	(0)
}

active proctype writer()
{
	byte orig, np;
	bool stored, mkwrite, collected;
	byte mvc_pte, mvc_swp, rmp_old, rmp_pte;
retry:
mvc_false:
rmp_done:
	atomic {                                    /* the store: the MMU walk */
		if
		:: KIND(pt_pte) == PRESENT && WR(pt_pte) ->
			assert(!protected);                 /* no_silent_write */
			stored = 1
		:: else
		fi;
		if :: stored -> goto out :: else -> goto fault fi
	};
fault:
	atomic {                                    /* vmf->orig_pte = ptep_get_lockless() */
		orig = pt_pte;
		if
		:: KIND(orig) == NONE -> goto retry
		:: KIND(orig) == PRESENT -> goto wp
		:: KIND(orig) == MIGRATION -> goto mig_wait
		:: KIND(orig) == DEVICE_PRIVATE -> goto devpriv
		:: KIND(orig) == SWAP -> goto swapin
		fi
	};
wp:
	LOCK(T_WRITER);
	atomic {
		if
		:: pt_pte != orig -> goto wp_changed
		:: else ->
			if
			:: !WR(orig) ->
				if :: UWP(orig) -> goto wp_userfault :: else -> goto wp_reuse fi
			:: else -> goto wp_unlock
			fi
		fi
	};
wp_changed:
	atomic { UNLOCK(T_WRITER); goto retry };
wp_userfault:
	atomic { UNLOCK(T_WRITER); userfault = 1; goto out };
wp_reuse:
	atomic { SET_PTE(T_WRITER, MKPTE(PRESENT, 1, 0, 0)); INV };
wp_unlock:
	atomic { UNLOCK(T_WRITER); goto retry };
mig_wait:
	atomic { KIND(pt_pte) != MIGRATION -> goto retry };   /* migration_entry_wait() */
devpriv:
	LOCK(T_WRITER);
	atomic { if :: pt_pte != orig -> goto dp_changed :: else -> goto dp_unlock fi };
dp_changed:
	atomic { UNLOCK(T_WRITER); goto retry };
dp_unlock:
	atomic { UNLOCK(T_WRITER) };
	/* pgmap->ops->migrate_to_ram() */
	migrate_vma_collect_pmd(T_WRITER, 1, collected);
mvc_true:
	remove_migration_pte(T_WRITER, 0);
swapin:
	LOCK(T_WRITER);
	atomic {
		if
		:: pt_pte != orig -> goto si_changed
		:: else ->
			np = MKPTE(PRESENT, 0, 0, 0);
			SET_UWP(np, SWP(orig));
			mkwrite = !UWP(np) || BUG == BUG_swapin;
			if :: mkwrite -> SET_W(np, 1) :: else fi;
			goto si_set
		fi
	};
si_changed:
	atomic { UNLOCK(T_WRITER); goto retry };
si_set:
	atomic {
		SET_PTE(T_WRITER, np); INV;
		if :: !mkwrite -> goto si_userfault :: else -> goto si_unlock fi
	};
si_userfault:
	atomic { UNLOCK(T_WRITER); userfault = 1; goto out };
si_unlock:
	atomic { UNLOCK(T_WRITER); goto retry };
out:
end:	(0)
}
