/* bench/models/seqlock.pml: a seqlock_t (include/linux/seqlock.h) protecting two data
 * words, NW writers (WITER updates each) and NR readers (RITER reads each); a reader that
 * passes read_seqretry() must not use a torn pair. -DBUGGY=1 drops read_seqbegin()'s spin
 * while the sequence is odd. Step for step bench/models/seqlock.spec: one d_step per
 * modelcheck step; a local dead at a step boundary is reset to 0 there, as modelcheck does.
 * Writers are declared first, so _pid 0..NW-1 are the writers, as in modelcheck. */
#ifndef NW
#define NW 2
#endif
#ifndef NR
#define NR 2
#endif
#ifndef WITER
#define WITER 1
#endif
#ifndef RITER
#define RITER 1
#endif
#ifndef BUGGY
#define BUGGY 0     /* -DBUGGY=1 (modelcheck: -D BUGGY=1) */
#endif
#define SPIN_ODD (!BUGGY)

byte sl;            /* seqlock_t.lock: owner + 1 */
byte seq;           /* seqlock_t.seqcount.sequence */
byte d1, d2;        /* the data: both words get the number of the write */

active [NW] proctype Writer()
{
	byte it, s;
L:	if :: d_step { sl == 0; sl = _pid + 1 } fi;     /* write_seqlock() */
	d_step { s = seq };
	d_step { seq = s + 1 };
	d_step { d1 = s / 2 + 1 };
	d_step { d2 = s / 2 + 1 };
	d_step { seq = s + 2; s = 0 };
	if      /* write_sequnlock() */
	:: d_step { it < WITER - 1; sl = 0; it++ }; goto L
	:: d_step { it == WITER - 1; sl = 0; it++ }; goto Ldone
	fi;
Ldone:
end:	(0)
}

active [NR] proctype Reader()
{
	byte it, s, r1, r2;
B:	if      /* read_seqbegin() */
	:: d_step { SPIN_ODD && seq % 2 == 1 }; goto B
	:: d_step { !SPIN_ODD || seq % 2 == 0; s = seq }
	fi;
	d_step { r1 = d1 };
	d_step { r2 = d2 };
	if      /* read_seqretry() */
	:: d_step { seq != s; s = 0; r1 = 0; r2 = 0 }; goto B
	:: d_step { seq == s && it < RITER - 1; assert(r1 == r2); s = 0; r1 = 0; r2 = 0; it++ }; goto B
	:: d_step { seq == s && it == RITER - 1; assert(r1 == r2); s = 0; r1 = 0; r2 = 0; it++ }; goto Ldone
	fi;
Ldone:
end:	(0)
}
