/* Loads an empty IDT and touches a non-canonical address: #GP cannot be delivered, nor
 * the double fault that follows, so the CPU shuts down (triple fault). */
#include "guest.h"
    .code64
    .globl _start
_start:
    lidt idt(%rip)
    movabs $0x8000000000000000, %rax
    mov (%rax), %rax
    EXIT(0x7f)       /* not reached */
idt: .word 0
     .quad 0
