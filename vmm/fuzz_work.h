/* A work counter for the fuzzers' hang oracle: every loop over guest data calls
 * NICVM_FUZZ_WORK() once per iteration. It compiles to nothing unless NICVM_FUZZING is
 * defined (only tests/fuzz/ builds the device sources that way); there the harness resets
 * the counter before each operation and aborts when it passes a fixed bound, so a loop that
 * a guest can make unbounded is a finding even when it would eventually end. */
#ifndef NICVM_FUZZ_WORK_H
#define NICVM_FUZZ_WORK_H

#ifdef NICVM_FUZZING
extern unsigned long nicvm_fuzz_work_count;
extern unsigned long nicvm_fuzz_work_limit;
/* nicvm_fuzz_work_exceeded: defined by the harness; reports and aborts. */
void nicvm_fuzz_work_exceeded(void);
#define NICVM_FUZZ_WORK()                                                                          \
    do {                                                                                           \
        if (++nicvm_fuzz_work_count > nicvm_fuzz_work_limit)                                       \
            nicvm_fuzz_work_exceeded();                                                            \
    } while (0)
#else
#define NICVM_FUZZ_WORK()                                                                          \
    do {                                                                                           \
    } while (0)
#endif

#endif
