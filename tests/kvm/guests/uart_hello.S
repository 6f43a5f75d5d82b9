/* Writes a line to COM1 one `out` at a time, then the same line with one `rep outsb`
 * (a single exit carrying several bytes), then exits with status (0x2a << 1) | 1 = 85. */
#include "guest.h"
    .code64
    .globl _start
_start:
    lea msg(%rip), %rsi
    mov $msg_len, %ecx
    mov $COM1, %dx
1:  lodsb
    outb %al, %dx
    loop 1b
    lea msg2(%rip), %rsi
    mov $msg2_len, %ecx
    mov $COM1, %dx
    cld
    rep outsb
    EXIT(0x2a)
msg:  .ascii "nicvm tiny guest: hello over PIO\n"
msg_len = . - msg
msg2: .ascii "nicvm tiny guest: rep outsb\n"
msg2_len = . - msg2
