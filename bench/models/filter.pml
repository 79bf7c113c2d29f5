/* bench/models/filter.pml: the filter lock (Peterson's algorithm for N threads), each
 * thread entering the critical section ITER times (G. L. Peterson, IPL 12(3), 1981;
 * Herlihy and Shavit, "The Art of Multiprocessor Programming", 2.4). Step for step
 * bench/models/filter.spec: one d_step per modelcheck step; a local dead at a step
 * boundary is reset to 0 there, as modelcheck does. */
#ifndef N
#define N 3
#endif
#ifndef ITER
#define ITER 1
#endif
#define OTHER(k) ((k) >= _pid -> (k) + 1 : (k))   /* the k-th thread other than this one */

byte level[N];      /* level[i]: the level thread i is at (0: not trying) */
byte victim[N];     /* victim[L]: the last thread to reach level L */
byte incs;          /* threads in the critical section */

active [N] proctype P()
{
	byte it, k;
	byte l = 1;
LV:	if :: d_step { level[_pid] = l } fi;
	d_step { victim[l] = _pid };
SC:	if      /* scan the others: one read of level[k] per step */
	:: d_step { level[OTHER(k)] >= l; k = 0 }; goto VC
	:: d_step { level[OTHER(k)] < l && k < N - 2; k++ }; goto SC
	:: d_step { level[OTHER(k)] < l && k == N - 2 && l < N - 1; k = 0; l++ }; goto LV
	:: d_step { level[OTHER(k)] < l && k == N - 2 && l == N - 1; k = 0; l = 0; incs++; assert(incs <= 1) }; goto CS
	fi;
VC:	if      /* someone is at my level or above: am I still the victim? */
	:: d_step { victim[l] == _pid }; goto SC
	:: d_step { victim[l] != _pid && l < N - 1; l++ }; goto LV
	:: d_step { victim[l] != _pid && l == N - 1; l = 0; incs++; assert(incs <= 1) }; goto CS
	fi;
CS:	if
	:: d_step { it < ITER - 1; level[_pid] = 0; incs--; it++; l = 1 }; goto LV
	:: d_step { it == ITER - 1; level[_pid] = 0; incs--; it++ }; goto Ldone
	fi;
Ldone:
end:	(0)
}
