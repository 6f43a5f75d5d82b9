/* The exit benchmark's guest: ITERATIONS 4-byte MMIO writes to the null-mmio device at
 * 0xd8000000 (one exit each), then isa-debug-exit with (0x10 << 1) | 1 = 33. */
    .code64
    .globl _start
_start:
    mov $0xd8000000, %rbx
    mov $ITERATIONS, %ecx
    test %ecx, %ecx
    jz 2f
1:  movl %ecx, (%rbx)
    dec %ecx
    jnz 1b
2:  mov $0x501, %dx
    mov $0x10, %al
    outb %al, %dx
3:  hlt
    jmp 3b
