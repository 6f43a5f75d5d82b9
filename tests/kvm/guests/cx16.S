/* Executes cmpxchg16b, which hardware runs and PVM's instruction emulator cannot (see the
 * project notes). Hardware: exits with (0x33 << 1) | 1 = 103. PVM: KVM reports an emulation
 * failure and nicvm stops with status 4 after disassembling the instruction. */
#include "guest.h"
    .code64
    .globl _start
_start:
    lea slot(%rip), %rdi
    xor %eax, %eax
    xor %edx, %edx
    xor %ebx, %ebx
    xor %ecx, %ecx
    lock cmpxchg16b (%rdi)
    EXIT(0x33)
    .balign 16
slot: .quad 0, 0
