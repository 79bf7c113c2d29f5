/* bench/promela/dirtycow.pml: Promela translation of specs/dirtycow.spec (Dirty COW,
 * CVE-2016-5195), step for step: every step of the spec (a shared access, a lock operation
 * or an atomic { }) is one d_step here, and the thread-local work that modelcheck runs
 * together with a step (branches on locals, the ret_write handling, the assert after
 * follow_page_pte()) is folded into that d_step or into the guard of the next one.
 *
 * Processes (as in the spec, v4.0..v4.8 era mm/gup.c, mm/memory.c, mm/madvise.c):
 *   gup_writer  write(2) to /proc/self/mem: __access_remote_vm(): down_read(mmap_sem),
 *               __get_user_pages() retry loop of follow_page_pte() and faultin_page() ->
 *               handle_mm_fault() -> handle_pte_fault() -> do_read_fault() / do_cow_fault() /
 *               do_wp_page(); then copy_to_user_page() into the page GUP returned; up_read().
 *   madvise     while (1) madvise(MADV_DONTNEED): down_read(mmap_sem), zap_pte_range()
 *               under the ptl, up_read().
 *   reader      (only with USER_READ) a user load: handle_mm_fault(read) -> do_read_fault().
 *
 * Macros (same names and defaults as the spec's params; pass e.g. spin -DFIXED=0 -a):
 *   FIXED=1        mm/gup.c after 19be0eaffa3a (FOLL_COW, can_follow_write_pte());
 *                  0: before it (faultin_page() drops FOLL_WRITE: "retry as a read").
 *   DIRTY_CHECK=1  can_follow_write_pte() also asks for pte_dirty() (0: ablation).
 *   USER_READ=0    1: add the reader process.
 *
 * Properties (asserts): write_never_reaches_page_cache (the spec's assert),
 * the invariants file_never_written (asserted where file_written is set) and
 * pte_never_writable (asserted in every d_step that stores the pte).
 * Locks: the ptl is an owner byte (0 free, else pid+1); mmap_sem (taken for read only)
 * is a writer byte plus a reader count.
 */
#ifndef FIXED
#define FIXED 1
#endif
#ifndef DIRTY_CHECK
#define DIRTY_CHECK 1
#endif
#ifndef USER_READ
#define USER_READ 0
#endif

/* page_id */
#define NOPAGE    0
#define PAGECACHE 1
#define ANON      2

/* a pte_t {present, page, write, dirty} packed into one byte, so that a whole-pte read,
 * store or pte_same() is one access, as in the spec */
#define MKPTE(pres, pg, w, d)  ((pres) + 2 * (w) + 4 * (d) + 8 * (pg))
#define PRESENT(p)  ((p) & 1)
#define WRITE(p)    (((p) >> 1) & 1)
#define DIRTY(p)    (((p) >> 2) & 1)
#define PAGE(p)     ((p) >> 3)

byte pt_pte;            /* pt.pte: starts none */
byte ptl;               /* pt.ptl: 0 free, else owner pid+1 */
byte mmap_w;            /* mmap_sem held for write (never, here) */
byte mmap_r;            /* mmap_sem readers */
bool file_written;      /* ghost: /proc/self/mem wrote into the page-cache page */

/* set_pte(): every pte store is made under the ptl; asserts the invariant pte_never_writable */
#define SET_PTE(v)  pt_pte = (v); assert(!WRITE(pt_pte))

/* follow_page_pte(): "cannot follow this pte for the (forced) access" */
#if FIXED
#define CANNOT_FOLLOW(p)  (foll_write && !(WRITE(p) || (foll_cow && (!DIRTY_CHECK || DIRTY(p)))))
#else
#define CANNOT_FOLLOW(p)  (foll_write && !WRITE(p))
#endif

/* faultin_page(): after handle_mm_fault() returned VM_FAULT_WRITE on the read-only VMA */
#if FIXED
#define ON_FAULT_WRITE  foll_cow = 1          /* *flags |= FOLL_COW */
#else
#define ON_FAULT_WRITE  foll_write = 0        /* *flags &= ~FOLL_WRITE */
#endif

/* the return of handle_mm_fault(): the unlock step, then (locally) faultin_page()'s flags */
#define HMF_RETURN(rw)  entry = 0; fault_write = 0; ret_write = rw; \
	if :: ret_write -> ON_FAULT_WRITE :: else -> skip fi

active proctype gup_writer()
{
	bool foll_write = 1;    /* foll_flags & FOLL_WRITE */
	bool foll_cow = 0;      /* foll_flags & FOLL_COW */
	byte page;              /* what __get_user_pages() returns */
	bool ret_write;         /* ret & VM_FAULT_WRITE */
	byte pte;               /* follow_page_pte(): pte = *ptep */
	byte entry;             /* handle_mm_fault(): orig_pte */
	bool fault_write;       /* handle_mm_fault(): FAULT_FLAG_WRITE */

	d_step { mmap_w == 0 -> mmap_r++ }                  /* down_read(&mm->mmap_sem) */
retry:	/* follow_page_pte(vma, address, pmd, foll_flags); (a label cannot sit on a d_step) */
	if :: d_step { ptl == 0 -> ptl = _pid + 1 } fi     /* pte_offset_map_lock() */
	d_step { pte = pt_pte }                             /* pte = *ptep */
	if
	:: d_step { !PRESENT(pte) ->                        /* no_page: */
		ptl = 0; pte = 0; page = NOPAGE }               /* pte_unmap_unlock(); return NULL */
	:: d_step { PRESENT(pte) && CANNOT_FOLLOW(pte) ->
		ptl = 0; pte = 0; page = NOPAGE }               /* pte_unmap_unlock(); return NULL */
	:: d_step { PRESENT(pte) && !CANNOT_FOLLOW(pte) ->
		ptl = 0; page = PAGE(pte); pte = 0;             /* out: pte_unmap_unlock(); return page */
		assert(page != PAGECACHE);                      /* write_never_reaches_page_cache */
		if
		:: page == PAGECACHE -> file_written = 1; assert(!file_written)  /* file_never_written */
		:: else -> skip
		fi }
	fi;
	if
	:: d_step { page == NOPAGE ->                       /* faultin_page() -> handle_mm_fault(foll_write) */
		fault_write = foll_write;
		entry = pt_pte }                                /* handle_pte_fault(): entry = *pte (lockless) */
	:: d_step { page != NOPAGE -> mmap_r-- };           /* copy_to_user_page(); up_read(&mm->mmap_sem) */
		goto done
	fi;
	d_step { ptl == 0 -> ptl = _pid + 1 }               /* pte_offset_map_lock() / spin_lock(ptl) */
	if
	/* pte_none(entry): do_fault() -> do_read_fault() (!fault_write) or do_cow_fault() */
	:: d_step { !PRESENT(entry) && pt_pte == entry -> skip }       /* pte_same(*pte, orig_pte) */
		d_step {
			if
			:: fault_write -> SET_PTE(MKPTE(1, ANON, 0, 1))         /* do_cow_fault(): do_set_pte(new_page): dirty, RO */
			:: else -> SET_PTE(MKPTE(1, PAGECACHE, 0, 0))          /* do_read_fault(): clean, RO */
			fi }
		d_step { ptl = 0; HMF_RETURN(0) }                         /* pte_unmap_unlock() */
	:: d_step { !PRESENT(entry) && pt_pte != entry -> skip }
		d_step { ptl = 0; HMF_RETURN(0) }                         /* pte_unmap_unlock() */
	/* present: handle_pte_fault() under the ptl */
	:: d_step { PRESENT(entry) && pt_pte != entry -> skip }        /* !pte_same(*pte, entry) */
		d_step { ptl = 0; HMF_RETURN(0) }                         /* unlock: */
	:: d_step { PRESENT(entry) && pt_pte == entry -> skip }
		if
		:: d_step { fault_write && !WRITE(entry) && PAGE(entry) == ANON ->
			SET_PTE(MKPTE(1, ANON, 0, 1)) }                       /* do_wp_page(): reuse: ptep_set_access_flags() */
			d_step { ptl = 0; HMF_RETURN(1) }                     /* VM_FAULT_WRITE */
		:: d_step { fault_write && !WRITE(entry) && PAGE(entry) != ANON ->
			ptl = 0 }                                             /* do_wp_page(): gotten: pte_unmap_unlock() */
			d_step { ptl == 0 -> ptl = _pid + 1 }                 /* cow_user_page(); pte_offset_map_lock() */
			if
			:: d_step { pt_pte == entry -> skip }                 /* pte_same(*page_table, orig_pte) */
				d_step { SET_PTE(MKPTE(1, ANON, 0, 1)) }          /* set_pte_at_notify(new_page): dirty, RO */
				d_step { ptl = 0; HMF_RETURN(1) }                 /* VM_FAULT_WRITE */
			:: d_step { pt_pte != entry -> skip }
				d_step { ptl = 0; HMF_RETURN(0) }
			fi
		:: d_step { !(fault_write && !WRITE(entry)) ->
			ptl = 0; HMF_RETURN(0) }                              /* pte_mkyoung(); unlock */
		fi
	fi;
	goto retry;
done:
end:	(0)              /* park: the thread has ended */
}

active proctype madvise()   /* the PoC's madviseThread: while (1) madvise(map, 100, MADV_DONTNEED) */
{
	byte ptent;
end:	do
	:: d_step { mmap_w == 0 -> mmap_r++ }               /* sys_madvise(): down_read(&mm->mmap_sem) */
		d_step { ptl == 0 -> ptl = _pid + 1 }           /* zap_pte_range(): pte_offset_map_lock() */
		d_step { ptent = pt_pte }                       /* ptent = *pte */
		if
		:: d_step { PRESENT(ptent) -> SET_PTE(0) }      /* ptep_get_and_clear_full() */
			d_step { ptl = 0 }                          /* pte_unmap_unlock() */
		:: d_step { !PRESENT(ptent) -> ptl = 0 }        /* pte_none(): pte_unmap_unlock() */
		fi;
		d_step { mmap_r-- }                             /* up_read(&mm->mmap_sem) */
	od
}

#if USER_READ
active proctype reader()    /* a user load: __do_page_fault() -> handle_mm_fault(read) */
{
	byte entry;
	d_step { mmap_w == 0 -> mmap_r++ }                  /* down_read(&mm->mmap_sem) */
	d_step { entry = pt_pte }                           /* handle_pte_fault(): entry = *pte */
	d_step { ptl == 0 -> ptl = _pid + 1 }
	if
	:: d_step { !PRESENT(entry) && pt_pte == entry -> skip }       /* do_read_fault(): pte_same() */
		d_step { SET_PTE(MKPTE(1, PAGECACHE, 0, 0)) }             /* do_set_pte(): clean, RO */
		d_step { ptl = 0; entry = 0 }
	:: d_step { !PRESENT(entry) && pt_pte != entry -> skip }
		d_step { ptl = 0; entry = 0 }
	:: d_step { PRESENT(entry) && pt_pte != entry -> skip }        /* !pte_same(): unlock */
		d_step { ptl = 0; entry = 0 }
	:: d_step { PRESENT(entry) && pt_pte == entry -> skip }        /* a read: pte_mkyoung(); unlock */
		d_step { ptl = 0; entry = 0 }
	fi;
	d_step { mmap_r-- }                                 /* up_read(&mm->mmap_sem) */
end:	(0)
}
#endif
