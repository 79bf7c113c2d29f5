/* bench/models/lamport_fast.pml: Lamport's fast mutual exclusion for N threads (ids
 * 1..N), each entering the critical section ITER times (L. Lamport, "A fast mutual
 * exclusion algorithm", ACM TOCS 5(1), 1987, Algorithm 2). Step for step
 * bench/models/lamport_fast.spec: one d_step per modelcheck step; a local dead at a step
 * boundary is reset to 0 there, as modelcheck does. */
#ifndef N
#define N 3
#endif
#ifndef ITER
#define ITER 1
#endif
#define ME (_pid + 1)

bool b[N];
byte x, y;
byte incs;          /* threads in the critical section */

active [N] proctype P()
{
	byte it, j;
S1:	if :: d_step { b[_pid] = true } fi;
	d_step { x = ME };
	if      /* if (y != 0) */
	:: d_step { y != 0 }; goto S4
	:: d_step { y == 0 }; goto S6
	fi;
S4:	if :: d_step { b[_pid] = false } fi;
S5:	if      /* await (y == 0); goto start */
	:: d_step { y != 0 }; goto S5
	:: d_step { y == 0 }; goto S1
	fi;
S6:	if :: d_step { y = ME } fi;
	if      /* if (x != i) */
	:: d_step { x != ME }; goto S8
	:: d_step { x == ME; incs++; assert(incs <= 1) }; goto CS
	fi;
S8:	if :: d_step { b[_pid] = false } fi;
S9:	if      /* for j: await (!b[j]) */
	:: d_step { b[j] }; goto S9
	:: d_step { !b[j] && j < N - 1; j++ }; goto S9
	:: d_step { !b[j] && j == N - 1; j = 0 }; goto S10
	fi;
S10:	if      /* if (y != i) { await (y == 0); goto start } */
	:: d_step { y != ME }; goto S11
	:: d_step { y == ME; incs++; assert(incs <= 1) }; goto CS
	fi;
S11:	if
	:: d_step { y != 0 }; goto S11
	:: d_step { y == 0 }; goto S1
	fi;
CS:	if :: d_step { y = 0; incs-- } fi;
	if
	:: d_step { it < ITER - 1; b[_pid] = false; it++ }; goto S1
	:: d_step { it == ITER - 1; b[_pid] = false; it++ }; goto Ldone
	fi;
Ldone:
end:	(0)
}
