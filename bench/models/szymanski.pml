/* bench/models/szymanski.pml: Szymanski's mutual exclusion for N threads, each entering
 * the critical section ITER times (B. K. Szymanski, "A simple solution to Lamport's
 * concurrent programming problem with linear wait", ICS 1988); every "for all j" and
 * "exists j" reads one flag[j] per step. Step for step bench/models/szymanski.spec: one
 * d_step per modelcheck step; a local dead at a step boundary is reset to 0 there, as
 * modelcheck does. */
#ifndef N
#define N 3
#endif
#ifndef ITER
#define ITER 1
#endif
#define OTHER(k) ((k) >= _pid -> (k) + 1 : (k))   /* the k-th thread other than this one */
#define ENTER incs++; assert(incs <= 1)

byte flag[N];
byte incs;          /* threads in the critical section */

active [N] proctype P()
{
	byte it, k;
A:	if :: d_step { flag[_pid] = 1 } fi;
B:	if      /* await (for all j != i: flag[j] < 3) */
	:: d_step { flag[OTHER(k)] >= 3 }; goto B
	:: d_step { flag[OTHER(k)] < 3 && k < N - 2; k++ }; goto B
	:: d_step { flag[OTHER(k)] < 3 && k == N - 2; k = 0 }
	fi;
	d_step { flag[_pid] = 3 };
D:	if      /* if (exists j != i: flag[j] == 1) */
	:: d_step { flag[OTHER(k)] == 1; k = 0 }
	:: d_step { flag[OTHER(k)] != 1 && k < N - 2; k++ }; goto D
	:: d_step { flag[OTHER(k)] != 1 && k == N - 2; k = 0 }; goto G
	fi;
	d_step { flag[_pid] = 2 };
F:	if      /* await (exists j != i: flag[j] == 4) */
	:: d_step { flag[OTHER(k)] == 4; k = 0 }; goto G
	:: d_step { flag[OTHER(k)] != 4; k = (k + 1) % (N - 1) }; goto F
	fi;
G:	if      /* the door is closed */
	:: d_step { _pid == 0; flag[_pid] = 4; ENTER; k = 1 }; goto X
	:: d_step { _pid > 0; flag[_pid] = 4 }
	fi;
H:	if      /* await (for all j < i: flag[j] < 2) */
	:: d_step { flag[k] >= 2 }; goto H
	:: d_step { flag[k] < 2 && k < _pid - 1; k++ }; goto H
	:: d_step { flag[k] < 2 && k == _pid - 1 && _pid < N - 1; k = _pid + 1; ENTER }; goto X
	:: d_step { flag[k] < 2 && k == _pid - 1 && _pid == N - 1; k = 0; ENTER }; goto Z
	fi;
X:	if      /* await (for all j > i: flag[j] < 2 or flag[j] > 3) */
	:: d_step { flag[k] >= 2 && flag[k] <= 3 }; goto X
	:: d_step { (flag[k] < 2 || flag[k] > 3) && k < N - 1; k++ }; goto X
	:: d_step { (flag[k] < 2 || flag[k] > 3) && k == N - 1; k = 0 }; goto Z
	fi;
Z:	if      /* leave */
	:: d_step { it < ITER - 1; flag[_pid] = 0; incs--; it++ }; goto A
	:: d_step { it == ITER - 1; flag[_pid] = 0; incs--; it++ }; goto Ldone
	fi;
Ldone:
end:	(0)
}
