/* Pulses the reset line through the i8042 (command 0xFE to port 0x64), as Linux's reboot
 * does. nicvm stops with status 0. */
#include "guest.h"
    .code64
    .globl _start
_start:
    mov $0xfe, %al
    outb %al, $0x64
    EXIT(0x7e) /* not reached */
