/* bench/models/mcs.pml: the MCS queue spinlock with a node per CPU, as in the kernel's
 * kernel/locking/mcs_spinlock.h (mcs_spin_lock, mcs_spin_unlock); Mellor-Crummey and Scott,
 * ACM TOCS 9(1), 1991. N CPUs each take and release the lock ITER times; pointers are node
 * numbers + 1. Step for step bench/models/mcs.spec: one d_step per modelcheck step; a
 * local dead at a step boundary is reset to 0 there, as modelcheck does. */
#ifndef N
#define N 3
#endif
#ifndef ITER
#define ITER 1
#endif
#define ME (_pid + 1)

byte tail;          /* the lock: the last node in the queue */
bool locked[N];     /* node->locked */
byte next[N];       /* node->next */
byte incs;          /* CPUs in the critical section */

active [N] proctype CPU()
{
	byte it, prev, nxt;
A:	if :: d_step { locked[_pid] = false } fi;
	d_step { next[_pid] = 0 };
	if      /* prev = xchg(lock, node) */
	:: d_step { tail == 0; tail = ME; incs++; assert(incs <= 1) }; goto U
	:: d_step { tail != 0; prev = tail; tail = ME }
	fi;
	d_step { next[prev - 1] = ME; prev = 0 };
W:	if      /* wait until node->locked */
	:: d_step { !locked[_pid] }; goto W
	:: d_step { locked[_pid]; incs++; assert(incs <= 1) }; goto U
	fi;
U:	if      /* next = READ_ONCE(node->next) */
	:: d_step { next[_pid] != 0; nxt = next[_pid] }; goto H
	:: d_step { next[_pid] == 0 }
	fi;
	if      /* cmpxchg_release(lock, node, NULL) == node: no successor */
	:: d_step { tail == ME && it < ITER - 1; tail = 0; incs--; it++ }; goto A
	:: d_step { tail == ME && it == ITER - 1; tail = 0; incs--; it++ }; goto Ldone
	:: d_step { tail != ME }
	fi;
Y:	if      /* wait for the successor to link in */
	:: d_step { next[_pid] == 0 }; goto Y
	:: d_step { next[_pid] != 0; nxt = next[_pid] }; goto H
	fi;
H:	if      /* hand over: WRITE_ONCE(next->locked, 1) */
	:: d_step { it < ITER - 1; locked[nxt - 1] = true; incs--; nxt = 0; it++ }; goto A
	:: d_step { it == ITER - 1; locked[nxt - 1] = true; incs--; nxt = 0; it++ }; goto Ldone
	fi;
Ldone:
end:	(0)
}
