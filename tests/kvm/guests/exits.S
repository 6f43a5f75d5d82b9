/* A known mix of exits for the --exit-stats test:
 *   10 one-byte writes to port 0x80 (post), 5 one-byte reads of COM1's LSR (com1),
 *   3 four-byte MMIO writes and 2 two-byte MMIO reads at an unclaimed address,
 *   4 two-byte writes to unclaimed port 0x510, and the isa-debug-exit write.
 * Unclaimed reads must return all ones: otherwise it exits with code 0x66. */
#include "guest.h"
    .code64
    .globl _start
_start:
    mov $POST_PORT, %dx
    mov $10, %ecx
1:  outb %al, %dx
    loop 1b
    mov $(COM1 + 5), %dx
    mov $5, %ecx
2:  inb %dx, %al
    loop 2b
    mov $UNCLAIMED_MMIO, %rbx
    movl $1, (%rbx)
    movl $2, 4(%rbx)
    movl $3, 8(%rbx)
    movw (%rbx), %ax
    cmp $0xffff, %ax
    jne bad
    movw 2(%rbx), %ax
    cmp $0xffff, %ax
    jne bad
    mov $0x510, %dx
    mov $4, %ecx
3:  outw %ax, %dx
    loop 3b
    EXIT(0x21)
bad:
    EXIT(0x66)
