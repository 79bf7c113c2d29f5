/* bench/models/peterson.pml: Peterson's mutual exclusion for two threads, each entering
 * the critical section ITER times (G. L. Peterson, "Myths about the mutual exclusion
 * problem", IPL 12(3), 1981). Step for step bench/models/peterson.spec: one d_step per
 * modelcheck step, so pan -DNOREDUCE stores as many states (and counts one more transition,
 * the initial one). */
#ifndef ITER
#define ITER 3
#endif

bool flag[2];
byte turn;
byte incs;          /* threads in the critical section */

active [2] proctype P()
{
	byte it;
L0:	if :: d_step { flag[_pid] = true } fi;   /* a goto may not target a d_step itself */
	d_step { turn = 1 - _pid };
L2:	if      /* while (flag[other] && turn == other) */
	:: d_step { flag[1 - _pid] }; goto L3
	:: d_step { !flag[1 - _pid]; incs++; assert(incs <= 1) }; goto CS
	fi;
L3:	if
	:: d_step { turn == 1 - _pid }; goto L2
	:: d_step { turn != 1 - _pid; incs++; assert(incs <= 1) }; goto CS
	fi;
CS:	if
	:: d_step { it < ITER - 1; flag[_pid] = false; incs--; it++ }; goto L0
	:: d_step { it == ITER - 1; flag[_pid] = false; incs--; it++ }; goto Ldone
	fi;
Ldone:
end:	(0)
}
