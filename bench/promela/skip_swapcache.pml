/* bench/promela/skip_swapcache.pml: Promela translation of specs/skip_swapcache.spec, step for
 * step: every step of the spec (a shared access, a lock operation, an atomic { }, alloc() or
 * free()) is one d_step here; the thread-local work that modelcheck runs together with a step
 * is folded into that d_step or into the guard of the next one.
 *
 * Two swap-ins of one entry that skip the swap cache, against a swap-out that reuses the freed
 * entry (ABA on the swap pte); the fix is 13ddaf26be32 "mm/swap: fix race when skipping
 * swapcache" (swapcache_prepare() / swapcache_clear() around the skip-swapcache read).
 *
 * Processes:
 *   fault[2]      a user load of the page: handle_pte_fault() -> do_swap_page(), the
 *                 SWP_SYNCHRONOUS_IO "skip swapcache" branch (vma_alloc_folio(),
 *                 swap_read_folio()), pte_same() under the ptl, swap_free(), set_pte_at();
 *                 with FIXED swapcache_prepare() before and swapcache_clear() after.
 *                 (mm/memory.c; mm/swapfile.c __swap_duplicate(SWAP_HAS_CACHE),
 *                 __swap_entry_free(), swapcache_clear() as the inlines below)
 *   user_reclaim  the user's store to the mapped page, then shrink_folio_list(): add_to_swap()
 *                 (folio_alloc_swap() takes the only, freed, slot), try_to_unmap_one()
 *                 (swap_duplicate(), swap pte), pageout() (swap_writepage()), __remove_mapping().
 *
 * Macros (same names and defaults as the spec's params; e.g. spin -DFIXED=0 -a):
 *   FIXED=1  do_swap_page() with 13ddaf26be32; 0: before it.
 *   ZRAM=0   1: the device discards a slot's data when the slot is freed.
 *   MC_RET_SLOT=0  1: also keep swapcache_prepare()'s `<ret>` slot, which modelcheck never
 *            resets (a dead value: whether the last prepare failed). Only for comparing
 *            state counts exactly: 2,702 with it, 1,602 without (FIXED=1).
 *
 * Properties (asserts): user_reads_latest (the spec's assert), BUG_ON(folio == null), the
 * invariant no_stale_mapping (asserted in every d_step that writes pte_page, a page's
 * data_version or latest), and the spec's implicit use_after_free checks on each page
 * dereference and free.
 * Pools: a status byte per object (0 unallocated, 1 live, 3 freed, modelcheck's encoding);
 * alloc() takes the lowest unallocated-or-freed page and resets its data to 0; free() keeps it.
 * The one-slot swap device is a set of scalars; a ref to it is 1 (0 = null).
 */
#ifndef FIXED
#define FIXED 1
#endif
#ifndef ZRAM
#define ZRAM 0
#endif

#ifndef NFAULT
#define NFAULT 2    /* faulting threads: the spec's param NFAULT */
#endif
#define NPAGES   (NFAULT + 1)
#define UNALLOC  0
#define LIVE     1
#define FREED    3

byte ptl;                       /* pt.ptl: 0 free, else owner pid+1 */
byte pte_page;                  /* pt.pte.page: 0 null, else page index+1 (present) */
byte pte_entry = 1;             /* pt.pte.entry: the swap entry, slots[0] (not present) */
byte latest = 1;                /* ghost: the version of the data the user last wrote */
byte pg_st[NPAGES];             /* pages[i].<status> */
byte pg_ver[NPAGES];            /* pages[i].data_version */
byte slot_count = 1;            /* slots[0].count: swap_count() */
bool slot_has_cache;            /* slots[0].has_cache: SWAP_HAS_CACHE */
byte slot_cache;                /* slots[0].cache: the folio in the swap cache, or 0 */
byte slot_ver = 1;              /* slots[0].data_version: the data on the device */
hidden byte k;                  /* scratch for alloc(), not part of the state */

#define INV_NO_STALE_MAPPING  assert(pte_page == 0 || pg_ver[pte_page - 1] == latest)
#define ASSERT_LIVE(p)        assert((p) != 0 && pg_st[(p) - 1] == LIVE)   /* null_deref, use_after_free */

/* the slot's usage dropped to 0: free_swap_slot() -> swap_range_free() */
#if ZRAM
#define SLOT_FREED  slot_ver = 0        /* swap_slot_free_notify(): zram frees the data */
#else
#define SLOT_FREED  skip
#endif

/* folio = alloc(pages): vma_alloc_folio() */
inline alloc_page(r) {
	k = 0;
	do
	:: k < NPAGES && pg_st[k] != UNALLOC && pg_st[k] != FREED -> k++
	:: else -> break
	od;
	if
	:: k < NPAGES -> pg_st[k] = LIVE; pg_ver[k] = 0; r = k + 1
	:: else -> r = 0
	fi;
	k = 0
}

/* swapcache_clear(): __swap_entry_free_locked(si, offset, SWAP_HAS_CACHE) */
inline swapcache_clear() {
	slot_has_cache = 0;
	if :: slot_count == 0 -> SLOT_FREED :: else -> skip fi
}

active [NFAULT] proctype fault()
{
	byte cur_page, cur_entry;       /* cur: vmf->orig_pte */
	byte entry;                     /* pte_to_swp_entry(orig_pte) */
	byte folio;
	bool need_clear_cache;
	byte tmp;                       /* the value read by the first step of a two-step statement */
#if MC_RET_SLOT
	bool prep_ret;                  /* modelcheck's swapcache_prepare.<ret> slot (see the header) */
#define PREP_RET(v)  ; prep_ret = v
#else
#define PREP_RET(v)
#endif

again:	/* The load through the MMU: a present pte is a hit; otherwise handle_pte_fault():
	 * vmf->orig_pte = ptep_get_lockless(vmf->pte) */
	if
	:: d_step {
		cur_page = pte_page; cur_entry = pte_entry;
		assert(cur_page == 0 || (pg_st[cur_page - 1] == LIVE && pg_ver[cur_page - 1] == latest)); /* user_reads_latest */
		if
		:: cur_page == 0 -> need_clear_cache = 0; entry = cur_entry   /* do_swap_page() */
		:: else -> skip                                                  /* the access completed: return */
		fi }
	fi;
end_ret:	/* with cur_page != 0 the thread has returned: nothing below is enabled */
	if
	/* folio = swap_cache_get_folio(): the swap-cache path is not modelled, refault */
	:: d_step { cur_page == 0 && slot_cache != 0 -> skip }; goto again
	:: d_step { cur_page == 0 && slot_cache == 0 -> skip }
	fi;
	/* if (data_race(si->flags & SWP_SYNCHRONOUS_IO) && __swap_count(entry) == 1) */
	if
	:: d_step { slot_count != 1 -> skip }; goto again   /* swapin_readahead(): pte_same() fails: back out */
	:: d_step { slot_count == 1 -> skip }
	fi;
#if FIXED
	/* swapcache_prepare(entry): __swap_duplicate(entry, SWAP_HAS_CACHE) */
	if
	:: d_step { !slot_has_cache && slot_count > 0 ->      /* set SWAP_HAS_CACHE */
		slot_has_cache = 1; need_clear_cache = 1 PREP_RET(0) }
	:: d_step { !(!slot_has_cache && slot_count > 0) -> skip PREP_RET(1) };   /* -EEXIST / -ENOENT */
		goto again                                        /* schedule_timeout_uninterruptible(1) */
	fi;
#endif
	d_step { alloc_page(folio); assert(folio != 0) }      /* vma_alloc_folio(); BUG_ON(folio == null) */
	/* swap_read_folio(folio, true): folio.data_version = READ_ONCE(entry.data_version) */
	d_step { tmp = slot_ver }
	d_step { ASSERT_LIVE(folio); pg_ver[folio - 1] = tmp; tmp = 0; INV_NO_STALE_MAPPING }
	d_step { ptl == 0 -> ptl = _pid + 1 }                 /* pte_offset_map_lock() */
	if
	:: d_step { pte_page != cur_page || pte_entry != cur_entry -> skip }  /* !pte_same() */
		d_step { ptl = 0 }                                /* out_nomap: pte_unmap_unlock() */
		d_step { ASSERT_LIVE(folio); pg_st[folio - 1] = FREED }   /* folio_put() */
#if FIXED
		d_step { swapcache_clear() }                      /* if (need_clear_cache) swapcache_clear() */
#endif
		goto again
	:: d_step { pte_page == cur_page && pte_entry == cur_entry -> skip }
	fi;
	d_step {                                              /* swap_free(entry): __swap_entry_free() */
		slot_count--;
		if :: slot_count == 0 && !slot_has_cache -> SLOT_FREED :: else -> skip fi }
	d_step { pte_page = folio; pte_entry = 0; INV_NO_STALE_MAPPING }   /* set_pte_at() */
	d_step { ptl = 0 }                                    /* pte_unmap_unlock() */
#if FIXED
	d_step { swapcache_clear() }                          /* out: swapcache_clear() after the ptl */
#endif
	goto again                                            /* return 0: the access is retried */
}

active proctype user_reclaim()
{
	byte folio;
	byte s;
	byte tmp;
	/* the user writes through the present pte (a TLB hit: one store) */
	d_step { pte_page != 0 ->
		folio = pte_page; ASSERT_LIVE(folio);
		pg_ver[folio - 1] = latest + 1; latest = latest + 1;
		assert(latest <= 2); INV_NO_STALE_MAPPING }
	/* add_to_swap() -> folio_alloc_swap(): a slot with swap_map == 0 (the await: no free slot yet) */
	d_step { slot_count == 0 && !slot_has_cache -> s = 1; slot_has_cache = 1 }
	d_step { slot_cache = folio }                         /* add_to_swap_cache() */
	d_step { ptl == 0 -> ptl = _pid + 1 }                 /* try_to_unmap_one(): the pte lock */
	d_step { slot_count++; assert(slot_count <= 1) }      /* swap_duplicate(entry) */
	d_step { pte_page = 0; pte_entry = s; INV_NO_STALE_MAPPING }   /* set_pte_at(swp_pte) */
	d_step { ptl = 0 }                                    /* page_vma_mapped_walk_done() */
	/* pageout() -> swap_writepage(): s.data_version = folio.data_version */
	d_step { ASSERT_LIVE(folio); tmp = pg_ver[folio - 1] }
	d_step { slot_ver = tmp; tmp = 0 }
	d_step { slot_cache = 0; slot_has_cache = 0 }         /* __remove_mapping(): put_swap_folio() */
	d_step { ASSERT_LIVE(folio); pg_st[folio - 1] = FREED }   /* free_unref_folios() */
end:	(0)
}
