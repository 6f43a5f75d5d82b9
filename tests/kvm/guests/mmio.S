/* MMIO accesses of every width to the test device at known offsets, then reads back a
 * value the device supplies and writes it to another offset, so the test sees both
 * directions. Exits with status (0x11 << 1) | 1 = 35. */
#include "guest.h"
    .code64
    .globl _start
_start:
    mov $TESTDEV_BASE, %rbx
    movb $0x11, 0x10(%rbx)
    movw $0x2222, 0x20(%rbx)
    movl $0x33333333, 0x40(%rbx)
    movabs $0x4444444444444444, %rax
    mov %rax, 0x80(%rbx)
    mov 0x100(%rbx), %eax        /* device answers 0xcafef00d */
    mov %eax, 0x104(%rbx)
    movzbl 0xfff(%rbx), %eax     /* last byte of the window: device answers 0x5a */
    mov %al, 0x200(%rbx)
    EXIT(0x11)
