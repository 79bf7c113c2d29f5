/* Copied from the issue-10 benchmark set (/work/shared/bench/ticketlock_localwork.pml); bench/ticketlock_localwork.spec is this model step for step. */
/* (c3) = (c1) ticket-lock counter + LW steps of purely thread-local work after each
 * unlock (think: computing the next PTE value).  Used only to show what SPIN's
 * partial-order reduction (and statement merging, -o3 disables it) buy when a
 * model has local steps; in (c1)/(c2) every step touches a global, so POR is a no-op.
 */
#ifndef N
#define N 3
#endif
#ifndef ITER
#define ITER 1
#endif
#ifndef LW
#define LW 3
#endif

byte next_t, owner, counter, finished, incs;

active [N] proctype W()
{
	byte my, tmp, it, lw;
L0:	if
	:: d_step { it < ITER; my = next_t; next_t++ }
	:: d_step { it == ITER; finished++;
		assert(finished < N || counter == N * ITER) }; goto Ldone
	fi;
	d_step { owner == my; incs++ }
	d_step { assert(incs == 1); tmp = counter }
	d_step { counter = tmp + 1; tmp = 0 }
	d_step { owner++; my = 0; it++; incs-- };
LW1:	if
	:: lw < LW -> lw++; goto LW1     /* thread-local work */
	:: else -> lw = 0
	fi;
	goto L0;
Ldone:
end:	(0)
}
