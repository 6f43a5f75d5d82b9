/* A hostile e1000 driver (checklist section 2 through real KVM exits): finds the 82540EM on
 * PCI bus 0, enables it, then: TDLEN 0 with TDH != TDT, TDT past the ring, a TX ring outside
 * RAM, and MAC loopback (RCTL.LBM) of a frame whose receive buffers point at the NIC's own
 * register window (no DMA into the BAR, no recursion). After each step the device must still
 * answer: a register written earlier reads back unchanged, and a valid frame is sent.
 * Exits 0x22 (status 69) when every outcome is the safe one; another code names the step. */
#include "guest.h"

#define TXRING 0x200000
#define RXRING 0x210000
#define BUF    0x300000
#define SPIN   200000000

#define CFG_ADDR 0xcf8
#define CFG_DATA 0xcfc

#define WR(off, val) movl $(val), (off)(%rbx)

/* A legacy TX descriptor i: BUF, 60 bytes, EOP | IFCS | RS. */
#define TXD(i)                                                                                     \
    movq $BUF, TXRING + 16 * (i);                                                                  \
    movl $(60 | 0x0b000000), TXRING + 16 * (i) + 8;                                                \
    movl $0, TXRING + 16 * (i) + 12

/* Waits (bounded) until TDH equals n, else exits with code. */
#define WAIT_TDH(n, code)                                                                          \
    mov $SPIN, %ecx;                                                                               \
1:  cmpl $(n), 0x3810(%rbx);                                                                       \
    je 2f;                                                                                         \
    pause;                                                                                         \
    dec %ecx;                                                                                      \
    jnz 1b;                                                                                        \
    EXIT(code);                                                                                    \
2:

/* The device still answers: RDBAL reads back what was written last. */
#define ALIVE(code)                                                                                \
    cmpl $RXRING, 0x2800(%rbx);                                                                    \
    je 3f;                                                                                         \
    EXIT(code);                                                                                    \
3:

/* A valid ring of 8 descriptors from TDH = TDT = 0, one frame sent, TDH must reach 1. */
#define TX_ONE(code)                                                                               \
    WR(0x3800, TXRING);                                                                            \
    WR(0x3808, 128);                                                                               \
    WR(0x3810, 0);                                                                                 \
    WR(0x3818, 0);                                                                                 \
    TXD(0);                                                                                        \
    WR(0x3818, 1);                                                                                 \
    WAIT_TDH(1, code)

    .code64
    .globl _start
_start:
    /* Find vendor 0x8086 device 0x100e on bus 0. */
    mov $0x80000000, %esi
0:  mov %esi, %eax
    mov $CFG_ADDR, %dx
    outl %eax, %dx
    mov $CFG_DATA, %dx
    inl %dx, %eax
    cmp $0x100e8086, %eax
    je 1f
    add $0x800, %esi
    cmp $0x80010000, %esi
    jb 0b
    EXIT(0x40)
1:  /* BAR0 (offset 0x10), then the command register: I/O, memory, bus master. */
    lea 0x10(%rsi), %eax
    mov $CFG_ADDR, %dx
    outl %eax, %dx
    mov $CFG_DATA, %dx
    inl %dx, %eax
    and $0xfffffff0, %eax
    mov %eax, %ebx
    test %ebx, %ebx
    jnz 0f
    EXIT(0x41)
0:  lea 0x4(%rsi), %eax
    mov $CFG_ADDR, %dx
    outl %eax, %dx
    mov $CFG_DATA, %dx
    mov $0x7, %eax
    outl %eax, %dx
    /* A broadcast frame at BUF; link up; transmitter on. */
    movl $0xffffffff, BUF
    movw $0xffff, BUF + 4
    movl $0x56341200, BUF + 6
    WR(0x0000, 0x60)
    WR(0x2800, RXRING)
    WR(0x0400, 0x400fa)
    ALIVE(0x42)
    /* 1: TDLEN 0 with TDH != TDT: nothing is walked. */
    WR(0x3800, TXRING)
    WR(0x3808, 0)
    WR(0x3810, 0)
    WR(0x3818, 5)
    ALIVE(0x43)
    TX_ONE(0x44)
    /* 2: TDT past the ring (and above 0xffff). */
    WR(0x3818, 200)
    WR(0x3818, 0x12345)
    ALIVE(0x45)
    TX_ONE(0x46)
    /* 3: the TX ring outside RAM. */
    WR(0x3800, 0xfff00000)
    WR(0x3818, 3)
    ALIVE(0x47)
    TX_ONE(0x48)
    /* 4: MAC loopback into receive buffers at the NIC's own BAR (and at address 0). */
    mov $RXRING, %rdi
    mov %rbx, (%rdi)
    movq $0, 8(%rdi)
    movq $0, 16(%rdi)
    movq $0, 24(%rdi)
    mov %rbx, 32(%rdi)
    movq $0, 40(%rdi)
    WR(0x2804, 0)
    WR(0x2808, 128)
    WR(0x2810, 0)
    WR(0x2818, 3)
    WR(0x0100, 0x8000 | 0x40 | 0x2) /* BAM | LBM (MAC loopback) | EN */
    TX_ONE(0x49)
    WR(0x3818, 1) /* again, with TDT unchanged: nothing more */
    ALIVE(0x4a)
    cmpl $0x400fa, 0x0400(%rbx) /* TCTL untouched by any looped-back DMA */
    je 0f
    EXIT(0x4b)
0:  /* 5: a reset in the middle, then a normal frame. */
    WR(0x0000, 0x04000000)
    WR(0x0000, 0x60)
    WR(0x2800, RXRING)
    WR(0x0400, 0x400fa)
    TX_ONE(0x4c)
    EXIT(0x22)
