\* Copied from the issue-10 benchmark set (/work/shared/bench/TicketLock.tla); the same model as bench/ticketlock.spec and bench/promela/ticketlock.pml.
---------------------------- MODULE TicketLock ----------------------------
(* (c1) N processes each do ITER increments of a shared counter under a
   kernel-style ticket spinlock (next/owner).  Same granularity as
   ticketlock.pml: one action = one d_step there.
   pcs: 0 loop head, 1 spinning, 2 in CS (read next), 3 write next,
        4 unlock next, 5 done.
   BUGGY = TRUE: the ticket is taken by a non-atomic read (pc 6) then write. *)
EXTENDS Naturals
CONSTANTS N, ITER, BUGGY
Procs == 0 .. (N - 1)
VARIABLES nxt, owner, counter, finished, incs, pc, my, tmp, it
vars == <<nxt, owner, counter, finished, incs, pc, my, tmp, it>>

Init == /\ nxt = 0 /\ owner = 0 /\ counter = 0 /\ finished = 0 /\ incs = 0
        /\ pc = [i \in Procs |-> 0] /\ my = [i \in Procs |-> 0]
        /\ tmp = [i \in Procs |-> 0] /\ it = [i \in Procs |-> 0]

Take(i) == /\ pc[i] = 0 /\ it[i] < ITER
           /\ my' = [my EXCEPT ![i] = nxt]
           /\ IF BUGGY THEN /\ pc' = [pc EXCEPT ![i] = 6] /\ UNCHANGED nxt
                       ELSE /\ pc' = [pc EXCEPT ![i] = 1] /\ nxt' = nxt + 1
           /\ UNCHANGED <<owner, counter, finished, incs, tmp, it>>
TakeW(i) == /\ pc[i] = 6 /\ nxt' = my[i] + 1 /\ pc' = [pc EXCEPT ![i] = 1]
            /\ UNCHANGED <<owner, counter, finished, incs, my, tmp, it>>
Finish(i) == /\ pc[i] = 0 /\ it[i] = ITER
             /\ finished' = finished + 1 /\ pc' = [pc EXCEPT ![i] = 5]
             /\ UNCHANGED <<nxt, owner, counter, incs, my, tmp, it>>
Acquire(i) == /\ pc[i] = 1 /\ owner = my[i]
              /\ incs' = incs + 1 /\ pc' = [pc EXCEPT ![i] = 2]
              /\ UNCHANGED <<nxt, owner, counter, finished, my, tmp, it>>
Read(i) == /\ pc[i] = 2 /\ tmp' = [tmp EXCEPT ![i] = counter]
           /\ pc' = [pc EXCEPT ![i] = 3]
           /\ UNCHANGED <<nxt, owner, counter, finished, incs, my, it>>
Write(i) == /\ pc[i] = 3 /\ counter' = tmp[i] + 1 /\ tmp' = [tmp EXCEPT ![i] = 0]
            /\ pc' = [pc EXCEPT ![i] = 4]
            /\ UNCHANGED <<nxt, owner, finished, incs, my, it>>
Release(i) == /\ pc[i] = 4 /\ owner' = owner + 1 /\ my' = [my EXCEPT ![i] = 0]
              /\ it' = [it EXCEPT ![i] = @ + 1] /\ incs' = incs - 1
              /\ pc' = [pc EXCEPT ![i] = 0]
              /\ UNCHANGED <<nxt, counter, finished, tmp>>
Terminated == (\A i \in Procs : pc[i] = 5) /\ UNCHANGED vars   \* no false deadlock

Next == \/ \E i \in Procs : Take(i) \/ TakeW(i) \/ Finish(i) \/ Acquire(i)
                            \/ Read(i) \/ Write(i) \/ Release(i)
        \/ Terminated
Spec == Init /\ [][Next]_vars

MutualExclusion == incs <= 1
FinalCounter == (finished = N) => (counter = N * ITER)
=============================================================================
