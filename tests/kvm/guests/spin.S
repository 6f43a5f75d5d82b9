/* Halts forever with interrupts off: only the host can stop this VM (Ctrl-A x, signals). */
#include "guest.h"
    .code64
    .globl _start
_start:
    cli
1:  hlt
    jmp 1b
