/* Shared definitions for the tiny test guests (assembler). */
#define COM1           0x3f8
#define POST_PORT      0x80
#define DEBUG_EXIT     0x501
#define TESTDEV_BASE   0xd8000000 /* the MMIO test device the kvm tests register */
#define UNCLAIMED_MMIO 0xd9000000

/* Stops the VM through isa-debug-exit with status (code << 1) | 1. */
#define EXIT(code)                                                                                 \
    mov $DEBUG_EXIT, % dx;                                                                         \
    mov $(code), % al;                                                                             \
    outb % al, % dx;                                                                               \
    9 : hlt;                                                                                       \
    jmp 9b
