/* bench/promela/collapse_wp.pml: Promela translation of specs/collapse_wp.spec (khugepaged's
 * anon collapse against UFFDIO_WRITEPROTECT of one 4K page), step for step.
 *
 * Granularity: every step of the spec (a lock operation, one shared read or write, the xchg
 * of the pmd, the user's atomic { } MMU walk, each read of the BUG_ON condition) is one
 * `atomic { }` here, whose first statement is the only one that can block; the thread-local
 * work modelcheck runs with a step (loop counters and loop tests, branches on locals, the
 * asserts on locals, ghost writes) is folded into that atomic, which ends with the goto to
 * the next step.  pan does not store states inside an atomic sequence, so one atomic == one
 * modelcheck step.  Locals start at the defaults of their type, as in the spec (pteval, a
 * pte_t, starts present and writable).
 *
 * Processes (as in the spec; mm/khugepaged.c, mm/userfaultfd.c, mm/mprotect.c,
 * mm/huge_memory.c, mm/memory.c):
 *   khugepaged  hpage_collapse_scan_pmd() under mmap_read_lock + ptl (rejects uffd-wp, needs
 *               a writable pte), drop the lock, revalidate under mmap_read_lock, then
 *               mmap_write_lock: check_pmd_still_valid(), pmdp_collapse_flush() under
 *               pmd_lock, __collapse_huge_page_isolate() under the ptl (FIXED: rechecks
 *               pte_uffd_wp()), on failure pmd_populate() back, else
 *               __collapse_huge_page_copy() clears each pte and set_pmd_at() installs a
 *               writable huge pmd.
 *   user        UFFDIO_WRITEPROTECT on pte[0] (__split_huge_pmd() if the pmd is huge, then
 *               change_pte_range()), then a store to that page: the MMU walk (one atomic step)
 *               and, if it faults, do_huge_pmd_wp_page() / do_wp_page()'s uffd-wp check.
 *
 * Macros (same names and defaults as the spec's params; e.g. spin -DFIXED=0 -a):
 *   FIXED=1     0: __collapse_huge_page_isolate() before dd47ac428c3f (no uffd-wp recheck)
 *   NR_PTES=2   PTEs under the pmd (1 or 2); the user protects pte[0]
 *
 * Properties (asserts): uffd_wp_write_faults and uffd_wp_write_faults_slow (the spec's
 * asserts), BUG_ON (both BUG_ON(!pmd_none(*pmd)) reads, and BUG_ON(h.kind != TABLE) on a
 * local), the invariant uffd_wp_never_lost (asserted at the end of every step that writes
 * pmd, a pte or protected), lock_misuse on unlocks.  Deadlock = SPIN's invalid end state.
 * Not checked: lock_order.
 *
 * pmd_t {kind, write, uffd_wp} and pte_t {present, write, uffd_wp} are packed into bytes, so
 * a whole-entry read, xchg or store is one access, as in the spec.
 */
#ifndef FIXED
#define FIXED 1
#endif
#ifndef NR_PTES
#define NR_PTES 2
#endif

/* pmd_kind */
#define TABLE 0
#define NONE  1
#define HUGE  2
#define KIND(m)     ((m) & 3)
#define PMD_W(m)    (((m) >> 2) & 1)
#define PMD_UWP(m)  (((m) >> 3) & 1)
#define MKPMD(k, w, u)  ((k) + 4 * (w) + 8 * (u))
#define PRES(p)     ((p) & 1)
#define WR(p)       (((p) >> 1) & 1)
#define UWP(p)      (((p) >> 2) & 1)
#define MKPTE(pr, w, u)  ((pr) + 2 * (w) + 4 * (u))

#define T_KHUGE 0
#define T_USER  1

byte pmd = MKPMD(TABLE, 0, 0);
byte table_ptl;                             /* 0 free, else owner id + 1 */
byte table_pte[NR_PTES] = MKPTE(1, 1, 0);   /* every pte maps a writable small anon page */
byte pml;
byte mmap_w;                                /* mmap_lock writer: owner id + 1 */
byte mmap_r;                                /* mmap_lock readers: bitmask of thread ids */
bool protected;                             /* ghost */

#define INV  assert(!protected || UWP(table_pte[0]) || KIND(pmd) == HUGE && PMD_UWP(pmd))

#define DOWN_READ(me)    atomic { mmap_w == 0 -> mmap_r = mmap_r | (1 << (me)) }
#define UP_READ(me)      assert(mmap_r & (1 << (me))); mmap_r = mmap_r & ~(1 << (me))
#define LOCK(l, me)      atomic { l == 0 -> l = (me) + 1 }
#define UNLOCK(l, me)    assert(l == (me) + 1); l = 0

active proctype khugepaged()
{
	byte i;
	byte pteval = MKPTE(1, 1, 0);           /* a pte_t local starts at the struct defaults */
	bool writable, fail;
	byte h;

	DOWN_READ(T_KHUGE);
	atomic {                                /* find_pmd_or_thp_or_none() */
		h = pmd;
		if :: KIND(h) != TABLE -> goto scan_bail :: else -> goto scan fi
	};
scan_bail:
	atomic { UP_READ(T_KHUGE); goto out };
scan:
	atomic {
		table_ptl == 0 -> table_ptl = T_KHUGE + 1;
		i = 0;
		if :: i < NR_PTES -> goto scan_pte :: else -> goto scan_done fi
	};
scan_pte:
	atomic {
		pteval = table_pte[i];
		if
		:: UWP(pteval) -> fail = 1; goto scan_done         /* SCAN_PTE_UFFD_WP */
		:: else
		fi;
		if :: WR(pteval) -> writable = 1 :: else fi;
		i++;
		if :: i < NR_PTES -> goto scan_pte :: else -> goto scan_done fi
	};
scan_done:
	atomic {
		UNLOCK(table_ptl, T_KHUGE);
		if :: fail || !writable -> goto no_collapse :: else -> goto collapse fi
	};
no_collapse:
	atomic { UP_READ(T_KHUGE); goto out };
collapse:                                   /* collapse_huge_page() */
	atomic { UP_READ(T_KHUGE) };
	DOWN_READ(T_KHUGE);
	atomic { h = pmd; if :: KIND(h) != TABLE -> goto reval_bail :: else -> goto reval_ok fi };
reval_bail:
	atomic { UP_READ(T_KHUGE); goto out };
reval_ok:
	atomic { UP_READ(T_KHUGE) };
	atomic { mmap_w == 0 && mmap_r == 0 -> mmap_w = T_KHUGE + 1 };     /* down_write */
	atomic { h = pmd; if :: KIND(h) != TABLE -> goto still_bail :: else -> goto still_ok fi };
still_bail:
	atomic { assert(mmap_w == T_KHUGE + 1); mmap_w = 0; goto out };
still_ok:
	LOCK(pml, T_KHUGE);
	atomic { h = pmd; pmd = MKPMD(NONE, 0, 0); INV };    /* pmdp_collapse_flush() */
	atomic { UNLOCK(pml, T_KHUGE) };
	atomic {                                /* __collapse_huge_page_isolate() */
		table_ptl == 0 -> table_ptl = T_KHUGE + 1;
		writable = 0;
		i = 0;
		if :: i < NR_PTES -> goto iso_pte :: else -> goto iso_done fi
	};
iso_pte:
	atomic {
		pteval = table_pte[i];
		if
		:: FIXED && UWP(pteval) -> fail = 1; goto iso_done   /* dd47ac428c3f */
		:: else
		fi;
		if :: WR(pteval) -> writable = 1 :: else fi;
		i++;
		if :: i < NR_PTES -> goto iso_pte :: else -> goto iso_done fi
	};
iso_done:
	atomic {
		if :: !writable -> fail = 1 :: else fi;     /* SCAN_PAGE_RO */
		UNLOCK(table_ptl, T_KHUGE);
		if
		:: fail -> goto iso_fail
		:: else -> i = 0; goto copy         /* NR_PTES >= 1: the copy loop runs */
		fi
	};
iso_fail:
	LOCK(pml, T_KHUGE);
	assert(!(KIND(pmd) != NONE));           /* BUG_ON(!pmd_none(*pmd)) */
	atomic { pmd = MKPMD(TABLE, 0, 0); INV };           /* pmd_populate() */
	atomic { UNLOCK(pml, T_KHUGE) };
	atomic { assert(mmap_w == T_KHUGE + 1); mmap_w = 0; goto out };
copy:                                       /* __collapse_huge_page_copy_succeeded() */
	LOCK(table_ptl, T_KHUGE);
	atomic { table_pte[i] = MKPTE(0, 0, 0); INV };       /* ptep_clear() */
	atomic {
		UNLOCK(table_ptl, T_KHUGE);
		i++;
		if :: i < NR_PTES -> goto copy :: else -> goto install fi
	};
install:
	LOCK(pml, T_KHUGE);
	assert(!(KIND(pmd) != NONE));           /* BUG_ON(!pmd_none(*pmd)) */
	atomic { pmd = MKPMD(HUGE, 1, 0); INV };             /* set_pmd_at() */
	atomic { UNLOCK(pml, T_KHUGE) };
	atomic { assert(mmap_w == T_KHUGE + 1); mmap_w = 0 };
out:
end:	(0)
}

active proctype user()
{
	byte i, h;
	bool silent, wp;

	DOWN_READ(T_USER);                      /* mwriteprotect_range() */
	atomic { h = pmd; if :: KIND(h) == HUGE -> goto split :: else -> goto protect fi };
split:                                      /* __split_huge_pmd() */
	LOCK(pml, T_USER);
	atomic {
		h = pmd;
		if
		:: KIND(h) == HUGE ->
			i = 0;
			if :: i < NR_PTES -> goto split_pte :: else -> goto split_pmd fi
		:: else -> goto split_unlock
		fi
	};
split_pte:
	atomic {
		table_pte[i] = MKPTE(1, PMD_W(h) && !PMD_UWP(h), PMD_UWP(h));
		INV;
		i++;
		if :: i < NR_PTES -> goto split_pte :: else -> goto split_pmd fi
	};
split_pmd:
	atomic { pmd = MKPMD(TABLE, 0, 0); INV };            /* pmd_populate() */
split_unlock:
	atomic { UNLOCK(pml, T_USER) };
protect:                                    /* change_pte_range() */
	LOCK(table_ptl, T_USER);
	atomic { table_pte[0] = MKPTE(1, 0, 1); protected = 1; INV };
	atomic { UNLOCK(table_ptl, T_USER) };
	atomic { UP_READ(T_USER) };
	atomic {                                /* the store: the MMU walk */
		h = pmd;
		if
		:: KIND(h) == HUGE -> silent = PMD_W(h) && !PMD_UWP(h)
		:: KIND(h) == TABLE -> silent = PRES(table_pte[0]) && WR(table_pte[0])
		:: else
		fi;
		assert(!silent);                    /* uffd_wp_write_faults */
		if :: !silent -> goto fault :: else -> goto out fi
	};
fault:
	DOWN_READ(T_USER);
	atomic {
		h = pmd;
		if
		:: KIND(h) == HUGE -> goto huge_fault
		:: else -> assert(!(KIND(h) != TABLE)); goto pte_fault    /* BUG_ON(h.kind != TABLE) */
		fi
	};
huge_fault:
	LOCK(pml, T_USER);
	atomic { wp = PMD_UWP(pmd) };
	atomic { UNLOCK(pml, T_USER); goto fault_done };
pte_fault:
	LOCK(table_ptl, T_USER);
	atomic { wp = UWP(table_pte[0]) };
	atomic { UNLOCK(table_ptl, T_USER) };
fault_done:
	atomic { UP_READ(T_USER); assert(wp) };    /* uffd_wp_write_faults_slow */
out:
end:	(0)
}
