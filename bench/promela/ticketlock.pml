/* Copied from the issue-10 benchmark set (/work/shared/bench/ticketlock.pml); bench/ticketlock.spec is this model step for step. */
/* (c1) Scalable model: N processes each do ITER increments of a shared counter
 * under a kernel-style ticket spinlock (arch_spinlock_t: next/owner).
 * Every transition is one d_step so Promela, Python BFS and TLA+ versions
 * have the same granularity (one state per atomic step).
 *   per process pcs:  0 = idle/loop head, 1 = spinning, 2 = in CS (about to read),
 *                     3 = read done (tmp), 4 = about to unlock, 5 = done (end)
 * Properties: mutual exclusion (assert in CS), final counter == N*ITER.
 * -DBUGGY : ticket taken with a non-atomic read/write of 'next' (two steps) -> lost update.
 */
#ifndef N
#define N 3
#endif
#ifndef ITER
#define ITER 1
#endif

byte next_t;            /* lock->next   */
byte owner;             /* lock->owner  */
byte counter;           /* protected shared counter */
byte finished;
byte incs;              /* # processes in CS, for the mutex assertion */

active [N] proctype W()
{
	byte my, tmp, it;
L0:	if
	:: d_step { it < ITER;
#ifdef BUGGY
		my = next_t }           /* read next (not atomic with the increment) */
		d_step { next_t = my + 1 }
#else
		my = next_t; next_t++ } /* atomic fetch_add(&lock->next, 1) */
#endif
	:: d_step { it == ITER; finished++;
		assert(finished < N || counter == N * ITER) }; goto Ldone
	fi;
	d_step { owner == my; incs++ }     /* spin until lock->owner == my ticket */
	d_step { assert(incs == 1); tmp = counter }
	d_step { counter = tmp + 1; tmp = 0 }
	d_step { owner++; my = 0; it++; incs-- };   /* spin_unlock */
	goto L0;
Ldone:
end:	(0)        /* park forever in a valid end state (avoids process-deletion states) */
}
