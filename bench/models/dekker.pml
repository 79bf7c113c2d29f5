/* bench/models/dekker.pml: Dekker's algorithm for two threads, each entering the critical
 * section ITER times (E. W. Dijkstra, "Cooperating sequential processes", EWD123, 1965).
 * Step for step bench/models/dekker.spec: one d_step per modelcheck step. */
#ifndef ITER
#define ITER 3
#endif

bool flag[2];
byte turn;
byte incs;          /* threads in the critical section */

active [2] proctype P()
{
	byte it;
F1:	if :: d_step { flag[_pid] = true } fi;
W:	if      /* while (flag[other]) */
	:: d_step { flag[1 - _pid] }; goto T
	:: d_step { !flag[1 - _pid]; incs++; assert(incs <= 1) }; goto CS
	fi;
T:	if      /* if (turn != me) */
	:: d_step { turn != _pid }; goto F0
	:: d_step { turn == _pid }; goto W
	fi;
F0:	if :: d_step { flag[_pid] = false } fi;
TW:	if      /* while (turn != me) */
	:: d_step { turn != _pid }; goto TW
	:: d_step { turn == _pid }; goto F2
	fi;
F2:	if :: d_step { flag[_pid] = true } fi; goto W;
CS:	if :: d_step { turn = 1 - _pid; incs-- } fi;
	if
	:: d_step { it < ITER - 1; flag[_pid] = false; it++ }; goto F1
	:: d_step { it == ITER - 1; flag[_pid] = false; it++ }; goto Ldone
	fi;
Ldone:
end:	(0)
}
