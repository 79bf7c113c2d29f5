/* bench/promela/shmem_marker.pml: Promela translation of specs/shmem_marker.spec,
 * SCENARIO=retract only (the default; SCENARIO=hugetlb_share is NOT translated, see
 * bench/promela/README-part-B.md).
 *
 * The uffd-wp protection of a shmem page lives in the page table (a PTE bit or
 * PTE_MARKER_UFFD_WP); khugepaged's retract_page_tables() must not drop the table under it.
 *
 * Granularity: each process is written as a state machine over a local `pc`, one
 * `d_step { pc == N && guard -> ...; pc = M }` per step of the spec (a shared access, a lock
 * operation, an RCU operation, alloc/free/free_rcu), with the thread-local work that
 * modelcheck runs together with a step (branches on locals, ghost writes, local asserts)
 * inside that d_step. The pc numbers are those of `modelcheck dump --stage ir` for the
 * default setting, so traces can be compared step by step. The spec's procs are macros
 * expanded once per call site (modelcheck inlines them the same way); their locals are
 * separate variables reset when the proc returns, as modelcheck does.
 *
 * Processes (SCENARIO=retract):
 *   user        UFFDIO_REGISTER(WP) (userfaultfd_register() -> userfaultfd_set_ctx(), mmap_lock W);
 *               UFFDIO_WRITEPROTECT (mwriteprotect_range() -> change_protection() ->
 *               change_pmd_range(): change_pmd_prepare() -> pte_alloc(), change_pte_range());
 *               madvise(MADV_DONTNEED) (zap_pte_range() -> zap_install_uffd_wp_if_needed() ->
 *               pte_install_uffd_wp_if_needed()); a write (handle_pte_fault() -> do_wp_page() or
 *               do_pte_missing()/handle_pte_marker() -> do_shared_fault() -> finish_fault() ->
 *               set_pte_range()), retried until it maps or faults to userspace.
 *   khugepaged  collapse_file(): folio_lock, try_to_unmap_one() (pte_install_uffd_wp_if_needed()),
 *               retract_page_tables(): RETRACT=no_mmap_lock: today's (pmd lock + ptl, recheck of
 *               VM_UFFD_WP under them when FIXED, pte_free_defer()); RETRACT=mmap_trylock: the
 *               v5.19..v6.5 one (mmap_write_trylock(), collapse_and_free_pmd(), pte_free()).
 *   rcu         the RCU callbacks of free_rcu() (modelcheck's `rcu` column): frees a table
 *               once every thread that was in a read section at free_rcu() has left it.
 *   (the spec's toucher thread does nothing in SCENARIO=retract: not instantiated)
 *
 * Macros (same names and defaults as the spec's params; e.g. spin -DFIXED=0 -a):
 *   FIXED=1                    0: VM_UFFD_WP only checked before the locks (pre deb4c93a9871)
 *   RETRACT=no_mmap_lock       or mmap_trylock
 *   WP_PMD_NONE=skip_page      change_pmd_range() skips the page when *pmd is none after
 *                              change_pmd_prepare(); retry_prepare: the candidate fix (goto again)
 *   SCENARIO=retract           (hugetlb_share: #error, not translated)
 *   MC_RET_SLOT=0              1: also keep the `<ret>` slots that modelcheck keeps (never reset)
 *                              for each call site of pte_offset_map_lock() and
 *                              pte_install_uffd_wp_if_needed(): dead values that make modelcheck's
 *                              state count larger; with 1 the counts can be compared exactly
 *
 * Properties (asserts): the invariant uffd_wp_never_lost (asserted in every d_step that writes
 * wp_user, pmd or a table's pte, or allocates a table), write_must_fault, BUG_ON(fresh == null),
 * the contracts of page_table.pte (guarded_by ptl on plain reads and writes, requires linked on
 * writes), and use_after_free on each table dereference / free.
 * Locks: spinlocks and mutexes are owner bytes (0 free, else thread index + 1); the rwsem
 * mmap_lock is a writer byte plus a reader count. lock_misuse / lock_order are not modelled
 * (deadlock is: Spin's invalid end states).
 */
#define retract        0
#define hugetlb_share  1
#define no_mmap_lock   0
#define mmap_trylock   1
#define skip_page      0
#define retry_prepare  1

#ifndef FIXED
#define FIXED 1
#endif
#ifndef SCENARIO
#define SCENARIO retract
#endif
#ifndef RETRACT
#define RETRACT no_mmap_lock
#endif
#ifndef WP_PMD_NONE
#define WP_PMD_NONE skip_page
#endif
#ifndef MC_RET_SLOT
#define MC_RET_SLOT 0
#endif

#if SCENARIO != retract
#error "SCENARIO=hugetlb_share is not translated (see README-part-B.md)"
#endif

/* pte kinds */
#define NONE     0
#define PRESENT  1
#define MARKER   2

/* pool status, modelcheck's encoding */
#define UNALLOC      0
#define LIVE         1
#define RCU_PENDING  2
#define FREED        3

/* thread indexes (modelcheck's), owner value = index + 1 */
#define USER        0
#define KHUGEPAGED  1
#define END       255

/* pool tables: page_table[3] allocated 1; a ref is index + 1, 0 is null (arrays have a
 * dummy element 0) */
#define NT 4
byte tst[NT]      = { 0, LIVE, UNALLOC, UNALLOC };   /* <status> */
byte rcu_wait[NT];                                   /* <rcu_wait>: readers the grace period waits for */
bool linked[NT]   = { 0, 1, 0, 0 };                  /* ghost linked */
byte tptl[NT];                                       /* ptl */
byte pkind[NT]    = { 0, PRESENT, NONE, NONE };      /* pte.kind */
bool pwp[NT];                                        /* pte.uffd_wp */

byte pmd = 1;           /* *pmd: tables[0] */
bool vm_uffd_wp;        /* VM_UFFD_WP */
byte folio_lk;          /* folio.lock (PG_locked) */
byte mmap_w;            /* mmap_lock: writer */
byte mmap_r;            /* mmap_lock: readers */
byte pml;               /* pmd_lock() */
bool wp_user;           /* ghost: UFFDIO_WRITEPROTECT returned */
byte in_rcu[2];         /* <rcu_depth> of user, khugepaged */
hidden byte k;          /* scratch for alloc() */

#define INV  assert(!wp_user || (pmd != 0 && (pkind[pmd] == MARKER || (pkind[pmd] == PRESENT && pwp[pmd]))))

#define ASSERT_LIVE(t)     assert((t) != 0 && (tst[t] == LIVE || tst[t] == RCU_PENDING))
#define PTE_READ(me, t)    ASSERT_LIVE(t); assert(tptl[t] == (me) + 1)            /* guarded_by ptl */
#define PTE_WRITE(me, t)   PTE_READ(me, t); assert(linked[t])                      /* requires linked */

#define RCU_LOCK(me)    in_rcu[me]++
#define RCU_UNLOCK(me)  assert(in_rcu[me] > 0); in_rcu[me]--; \
	if :: in_rcu[me] == 0 -> \
		rcu_wait[1] = rcu_wait[1] & ~(1 << (me)); \
		rcu_wait[2] = rcu_wait[2] & ~(1 << (me)); \
		rcu_wait[3] = rcu_wait[3] & ~(1 << (me)) \
	   :: else -> skip fi
#define FREE(t)      ASSERT_LIVE(t); assert(tst[t] == LIVE); tst[t] = FREED
#define FREE_RCU(t)  ASSERT_LIVE(t); assert(tst[t] == LIVE); tst[t] = RCU_PENDING; \
	rcu_wait[t] = (in_rcu[0] > 0 -> 1 : 0) + (in_rcu[1] > 0 -> 2 : 0)

/* alloc(tables): the lowest unallocated or freed table, reset to the defaults */
#define ALLOC(r) \
	k = 1; \
	do \
	:: k < NT && tst[k] != UNALLOC && tst[k] != FREED -> k++ \
	:: else -> break \
	od; \
	if \
	:: k < NT -> tst[k] = LIVE; linked[k] = 0; tptl[k] = 0; pkind[k] = NONE; pwp[k] = 0; r = k \
	:: else -> r = 0 \
	fi; \
	k = 0; INV

/* ---- procs, one expansion per call site: the pc numbers are arguments ---- */

/* pte_alloc() -> __pte_alloc() -> pmd_install(); `fresh` is its local; continues at NEXT */
#define PTE_ALLOC(me, P, fresh, NEXT) \
	:: d_step { pc == P -> if :: pmd == 0 -> pc = P + 1 :: else -> pc = NEXT fi } \
	:: d_step { pc == P + 1 -> ALLOC(fresh); assert(fresh != 0); pc = P + 2 }   /* pte_alloc_one(); BUG_ON */ \
	:: d_step { pc == P + 2 && pml == 0 -> pml = (me) + 1; pc = P + 3 }         /* pmd_lock() */ \
	:: d_step { pc == P + 3 -> \
		if :: pmd == 0 -> linked[fresh] = 1; pc = P + 4 :: else -> pc = P + 5 fi } \
	:: d_step { pc == P + 4 -> pmd = fresh; fresh = 0; INV; pc = P + 5 }        /* pmd_populate() */ \
	:: d_step { pc == P + 5 -> pml = 0;                                          /* spin_unlock(pml) */ \
		if :: fresh != 0 -> pc = P + 6 :: else -> pc = NEXT fi } \
	:: d_step { pc == P + 6 -> FREE(fresh); fresh = 0; pc = NEXT }              /* pte_free() */

/* __pte_offset_map_lock(): its local `lt`; on return `res = lt` and the caller continues at
 * ONNULL (res == null) or ONOK (res != null, ptl held, in an RCU read section) */
#define POML(me, P, lt, res, rs, ONNULL, ONOK) \
	:: d_step { pc == P -> RCU_LOCK(me); pc = P + 1 }                           /* rcu_read_lock() */ \
	:: d_step { pc == P + 1 -> lt = pmd;                                         /* pmdp_get_lockless() */ \
		if :: lt == 0 -> pc = P + 2 :: else -> pc = P + 3 fi } \
	:: d_step { pc == P + 2 -> RCU_UNLOCK(me); res = 0; SETRET(rs, 0); pc = ONNULL }           /* return NULL */ \
	:: d_step { pc == P + 3 && tptl[lt] == 0 -> ASSERT_LIVE(lt); tptl[lt] = (me) + 1; pc = P + 4 }  /* spin_lock(ptl) */ \
	:: d_step { pc == P + 4 -> \
		if :: pmd != lt -> pc = P + 5                                            /* !pmd_same() */ \
		   :: else -> res = lt; SETRET(rs, lt); lt = 0; pc = ONOK fi } \
	:: d_step { pc == P + 5 -> tptl[lt] = 0; pc = P + 6 }                       /* spin_unlock(ptl) */ \
	:: d_step { pc == P + 6 -> RCU_UNLOCK(me); pc = P }                         /* goto again */

#if MC_RET_SLOT
#define SETRET(rs, v)  rs = v
#else
#define SETRET(rs, v)  skip
#endif

/* pte_unmap_unlock(t) */
#define PUU(me, P, t, NEXT) \
	:: d_step { pc == P -> tptl[t] = 0; pc = P + 1 } \
	:: d_step { pc == P + 1 -> RCU_UNLOCK(me); pc = NEXT }

/* the zap (user: MADV_DONTNEED) or unmap (khugepaged: try_to_unmap_one()) of a present pte:
 * pte_install_uffd_wp_if_needed(); steps P (e = t.pte), P+1 (its condition
 * `pteval.uffd_wp && READ_ONCE(vm_uffd_wp)`: one shared read, so one step in modelcheck's
 * lowering even when pteval.uffd_wp is false), P+2 (t.pte = result), then the unlock at P+3 */
#if MC_RET_SLOT
#define KEEP_RET(me)  ret_kind = ins_kind; ret_wp = ins_wp
#else
#define KEEP_RET(me)  skip
#endif
#define ZAP_PTE(me, P, t) \
	:: d_step { pc == P -> PTE_READ(me, t); e_kind = pkind[t]; e_wp = pwp[t];  /* e = t.pte */ \
		if :: e_kind == PRESENT -> pc = P + 1 :: else -> pc = P + 3 fi } \
	:: d_step { pc == P + 1 ->           /* if (pteval.uffd_wp && READ_ONCE(vm_uffd_wp)): one step */ \
		if :: e_wp && vm_uffd_wp -> ins_kind = MARKER; ins_wp = 1 :: else -> ins_kind = NONE; ins_wp = 0 fi; \
		KEEP_RET(me); pc = P + 2 } \
	:: d_step { pc == P + 2 -> PTE_WRITE(me, t); pkind[t] = ins_kind; pwp[t] = ins_wp; \
		ins_kind = 0; ins_wp = 0; INV; pc = P + 3 }

active proctype user()
{
	byte pc;
	byte t;                         /* user's t */
	byte e_kind; bool e_wp;         /* user's e */
	byte lt;                        /* pte_offset_map_lock()'s t */
	byte fresh;                     /* pte_alloc()'s fresh */
	byte ins_kind; bool ins_wp;     /* pte_install_uffd_wp_if_needed()'s result */
	byte wf_t;                      /* shmem_write_fault()'s t */
	byte o_kind; bool o_wp;         /* shmem_write_fault()'s orig */
	byte r;                         /* fault_result: 0 FAULT_RETRY, 1 FAULT_MAPPED, 2 FAULT_USERFAULT */
#if MC_RET_SLOT
	byte ret_kind; bool ret_wp;     /* modelcheck's stale <ret> slots: pte_install_uffd_wp_if_needed() */
	byte rs1, rs2, rs3, rs4;        /* ... and pte_offset_map_lock() at each call site */
#endif

	do
	/* UFFDIO_REGISTER, mode WP */
	:: d_step { pc == 0 && mmap_w == 0 && mmap_r == 0 -> mmap_w = USER + 1; pc = 1 }   /* down_write(mmap_lock) */
	:: d_step { pc == 1 -> vm_uffd_wp = 1; pc = 2 }                                      /* userfaultfd_set_ctx() */
	:: d_step { pc == 2 -> mmap_w = 0; pc = 3 }                                          /* up_write(mmap_lock) */
	/* UFFDIO_WRITEPROTECT: mwriteprotect_range() */
	:: d_step { pc == 3 && mmap_w == 0 -> mmap_r++; pc = 4 }                             /* down_read(mmap_lock) */
	PTE_ALLOC(USER, 4, fresh, 11)                                                        /* wp_again: change_pmd_prepare() */
	:: d_step { pc == 11 ->                                                              /* if (pmd_none(*pmd)) */
		if :: pmd == 0 -> pc = (WP_PMD_NONE == retry_prepare -> 4 : 24)                  /* goto again / goto next */
		   :: else -> pc = 12 fi }
	POML(USER, 12, lt, t, rs1, 4, 19)                                                         /* change_pte_range() */
	:: d_step { pc == 19 -> PTE_READ(USER, t); e_kind = pkind[t]; e_wp = pwp[t];         /* oldpte = ptep_get(pte) */
		if :: e_kind == PRESENT -> pc = 20 :: e_kind == NONE -> pc = 21 :: else -> pc = 22 fi }
	:: d_step { pc == 20 -> PTE_WRITE(USER, t); pkind[t] = PRESENT; pwp[t] = 1; INV; pc = 22 }   /* pte_mkuffd_wp() */
	:: d_step { pc == 21 -> PTE_WRITE(USER, t); pkind[t] = MARKER; pwp[t] = 1; INV; pc = 22 }    /* PTE_MARKER_UFFD_WP */
	PUU(USER, 22, t, 24)
	:: d_step { pc == 24 -> mmap_r--; wp_user = 1; INV; pc = 25 }                        /* wp_done: up_read; the ioctl returned */
	/* madvise(MADV_DONTNEED) */
	:: d_step { pc == 25 && mmap_w == 0 -> mmap_r++; pc = 26 }
	POML(USER, 26, lt, t, rs2, 38, 33)
	ZAP_PTE(USER, 33, t)
	PUU(USER, 36, t, 38)
	:: d_step { pc == 38 -> mmap_r--; pc = 39 }
	/* the write: shmem_write_fault(), retried while it returns FAULT_RETRY */
	:: d_step { pc == 39 && mmap_w == 0 -> mmap_r++; pc = 40 }
	POML(USER, 40, lt, wf_t, rs3, 50, 47)                                                     /* write_again: */
	:: d_step { pc == 47 -> PTE_READ(USER, wf_t); o_kind = pkind[wf_t]; o_wp = pwp[wf_t]; pc = 48 }   /* orig = t.pte */
	:: d_step { pc == 48 -> tptl[wf_t] = 0; pc = 49 }                                    /* pte_unmap_unlock() */
	:: d_step { pc == 49 -> RCU_UNLOCK(USER);
		if
		:: o_kind == PRESENT && o_wp -> o_kind = 0; o_wp = 0; wf_t = 0; r = 2; pc = 70    /* do_wp_page(): handle_userfault() */
		:: o_kind == PRESENT && !o_wp -> o_kind = 0; wf_t = 0; r = 1;
			assert(!wp_user); pc = 70                                                     /* write_must_fault: mapped writable */
		:: else -> pc = 50
		fi }
	:: d_step { pc == 50 && folio_lk == 0 -> folio_lk = USER + 1; pc = 51 }             /* shmem_fault(): folio_lock */
	PTE_ALLOC(USER, 51, fresh, 58)                                                       /* finish_fault(): pte_alloc() */
	POML(USER, 58, lt, wf_t, rs4, 69, 65)                                                     /* finish_fault(): pte_offset_map_lock() */
	:: d_step { pc == 65 -> PTE_READ(USER, wf_t);                                        /* !vmf_pte_changed() */
		if :: pkind[wf_t] == o_kind && pwp[wf_t] == o_wp -> pc = 66 :: else -> pc = 67 fi }
	:: d_step { pc == 66 -> PTE_WRITE(USER, wf_t); pkind[wf_t] = PRESENT;                /* set_pte_range() */
		pwp[wf_t] = (o_kind == MARKER); INV; pc = 67 }
	PUU(USER, 67, wf_t, 69)
	:: d_step { pc == 69 -> folio_lk = 0; o_kind = 0; o_wp = 0; wf_t = 0; pc = 40 }     /* folio_unlock(); FAULT_RETRY */
	:: d_step { pc == 70 -> mmap_r--; pc = END }; break                                  /* up_read(mmap_lock) */
	od;
end:	(0)
}

active proctype khugepaged()
{
	byte pc;
	byte t;
	byte e_kind; bool e_wp;
	bool retractable;
	byte lt;
	byte ins_kind; bool ins_wp;
#if MC_RET_SLOT
	byte ret_kind; bool ret_wp;     /* modelcheck's stale <ret> slots: pte_install_uffd_wp_if_needed() */
	byte rs1, rs2, rs3, rs4;        /* ... and pte_offset_map_lock() at each call site */
#endif
/* pc numbers after the pre-check (they shift with FIXED / RETRACT, as in modelcheck's IR) */
#if RETRACT == no_mmap_lock || !FIXED
#define K_PRE 14
#define K_L   15
#else
#define K_L   14
#endif

	do
	:: d_step { pc == 0 && folio_lk == 0 -> folio_lk = KHUGEPAGED + 1; pc = 1 }          /* collapse_file(): folio_lock */
	POML(KHUGEPAGED, 1, lt, t, rs1, 13, 8)                                                    /* try_to_unmap_one(): page_vma_mapped_walk() */
	ZAP_PTE(KHUGEPAGED, 8, t)                                                            /* ptep_clear_flush(); pte_install_uffd_wp_if_needed() */
	PUU(KHUGEPAGED, 11, t, 13)
	/* retract_page_tables() */
	:: d_step { pc == 13 ->                                                              /* find_pmd_or_thp_or_none() */
		if :: pmd == 0 -> pc = 99
#if RETRACT == no_mmap_lock || !FIXED
		   :: else -> pc = K_PRE fi }
	:: d_step { pc == K_PRE ->                                                           /* file_backed_vma_is_retractable(), unlocked */
		if :: vm_uffd_wp -> pc = 99 :: else -> pc = K_L fi }
#else
		   :: else -> pc = K_L fi }
#endif
#if RETRACT == no_mmap_lock
	:: d_step { pc == K_L && pml == 0 -> pml = KHUGEPAGED + 1; pc = K_L + 1 }           /* pml = pmd_lock() */
	:: d_step { pc == K_L + 1 -> t = pmd;                                                /* check_pmd_state() */
		if :: t == 0 -> pc = K_L + 2 :: else -> pc = K_L + 3 fi }
	:: d_step { pc == K_L + 2 -> pml = 0; pc = 99 }
	:: d_step { pc == K_L + 3 && tptl[t] == 0 -> ASSERT_LIVE(t);                         /* spin_lock_nested(ptl) */
		tptl[t] = KHUGEPAGED + 1; retractable = 1;
		pc = (FIXED -> K_L + 4 : K_L + 5) }
	:: d_step { pc == K_L + 4 -> retractable = !vm_uffd_wp;                               /* the re-check under pml + ptl */
		pc = (retractable -> K_L + 5 : K_L + 6) }
	:: d_step { pc == K_L + 5 -> pmd = 0; linked[t] = 0; INV; pc = K_L + 6 }             /* pmdp_collapse_flush() */
	:: d_step { pc == K_L + 6 -> tptl[t] = 0; pc = K_L + 7 }                             /* spin_unlock(ptl) */
	:: d_step { pc == K_L + 7 -> pml = 0; pc = (retractable -> K_L + 8 : 99) }           /* drop_pml: */
	:: d_step { pc == K_L + 8 -> FREE_RCU(t); pc = 99 }                                  /* pte_free_defer() */
#else
	:: d_step { pc == K_L ->                                                             /* mmap_write_trylock() */
		if :: mmap_w == 0 && mmap_r == 0 -> mmap_w = KHUGEPAGED + 1; retractable = 1;
			pc = (FIXED -> K_L + 1 : K_L + 2)
		   :: else -> pc = 99 fi }
	:: d_step { pc == K_L + 1 -> retractable = !vm_uffd_wp;                               /* !userfaultfd_wp(vma) */
		pc = (retractable -> K_L + 2 : K_L + 7) }
	:: d_step { pc == K_L + 2 && pml == 0 -> pml = KHUGEPAGED + 1; pc = K_L + 3 }       /* collapse_and_free_pmd(): pmd_lock() */
	:: d_step { pc == K_L + 3 -> t = pmd; pc = K_L + 4 }
	:: d_step { pc == K_L + 4 -> pmd = 0; ASSERT_LIVE(t); linked[t] = 0; INV; pc = K_L + 5 }   /* pmdp_collapse_flush() */
	:: d_step { pc == K_L + 5 -> pml = 0; pc = K_L + 6 }
	:: d_step { pc == K_L + 6 -> FREE(t); pc = K_L + 7 }                                 /* pte_free() */
	:: d_step { pc == K_L + 7 -> mmap_w = 0; pc = 99 }                                   /* mmap_write_unlock() */
#endif
	:: d_step { pc == 99 -> folio_lk = 0; pc = END }; break                              /* out: folio_unlock() */
	od;
end:	(0)
}

active proctype rcu()           /* the RCU callbacks: one per table, once its grace period is over */
{
end:	do
	:: d_step { tst[1] == RCU_PENDING && rcu_wait[1] == 0 -> tst[1] = FREED }
	:: d_step { tst[2] == RCU_PENDING && rcu_wait[2] == 0 -> tst[2] = FREED }
	:: d_step { tst[3] == RCU_PENDING && rcu_wait[3] == 0 -> tst[3] = FREED }
	od
}
