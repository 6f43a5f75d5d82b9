/* Echoes what arrives on COM1 (polling LSR.DR) until a newline, then exits with
 * (0x22 << 1) | 1 = 69: the console's stdin path into the guest. */
#include "guest.h"
    .code64
    .globl _start
_start:
1:  mov $(COM1 + 5), %dx
2:  inb %dx, %al
    test $1, %al
    jz 2b
    mov $COM1, %dx
    inb %dx, %al
    outb %al, %dx
    cmp $10, %al
    jne 1b
    EXIT(0x22)
