/* A hostile virtio-net driver (checklist section 3 through real KVM exits): circular chains,
 * a next index past the queue, queue registers written after DRIVER_OK, an avail entry past
 * the queue (the device must set DEVICE_NEEDS_RESET), then rings outside RAM and inside the
 * device's own window (activation refused: NEEDS_RESET). Between the attacks it checks that
 * the device still answers and still completes a valid chain. Exits 0x21 (status 67) when
 * every outcome is the safe one; another code names the step that failed. */
#include "guest.h"

#define VBASE   0xd0000000
#define TXDESC  0x200000
#define TXAVAIL 0x201000
#define TXUSED  0x202000
#define RXDESC  0x210000
#define RXAVAIL 0x211000
#define RXUSED  0x212000
#define BUF     0x300000
#define SPIN    200000000

/* Writes a 32-bit value to a virtio-mmio register. */
#define WR(off, val) movl $(val), (off)(%rbx)

/* Descriptor i of the TX table: addr, len, flags, next. */
#define DESC(i, addr, len, flags, next)                                                            \
    movq $(addr), TXDESC + 16 * (i);                                                               \
    movl $(len), TXDESC + 16 * (i) + 8;                                                            \
    movw $(flags), TXDESC + 16 * (i) + 12;                                                         \
    movw $(next), TXDESC + 16 * (i) + 14

/* Posts head h as avail entry n (avail.idx becomes n + 1), kicks the TX queue. */
#define POST(n, h)                                                                                 \
    movw $(h), TXAVAIL + 4 + 2 * (n);                                                              \
    movw $((n) + 1), TXAVAIL + 2;                                                                  \
    WR(0x50, 1)

/* Waits (bounded) until used.idx reaches n, else exits with code. */
#define WAIT_USED(n, code)                                                                         \
    mov $SPIN, %ecx;                                                                               \
1:  cmpw $(n), TXUSED + 2;                                                                         \
    je 2f;                                                                                         \
    pause;                                                                                         \
    dec %ecx;                                                                                      \
    jnz 1b;                                                                                        \
    EXIT(code);                                                                                    \
2:

/* Waits (bounded) until the status register has NEEDS_RESET (0x40), else exits with code. */
#define WAIT_NEEDS_RESET(code)                                                                     \
    mov $SPIN, %ecx;                                                                               \
1:  testl $0x40, 0x70(%rbx);                                                                       \
    jnz 2f;                                                                                        \
    pause;                                                                                         \
    dec %ecx;                                                                                      \
    jnz 1b;                                                                                        \
    EXIT(code);                                                                                    \
2:

/* Reset, features (VERSION_1 | MAC), FEATURES_OK; then both queues (8 entries) at
 * (txdesc, TXAVAIL, TXUSED) and the RX rings, then DRIVER_OK. */
#define BRINGUP(txdesc)                                                                            \
    WR(0x70, 0);                                                                                   \
    WR(0x70, 3);                                                                                   \
    WR(0x24, 1);                                                                                   \
    WR(0x20, 1);                                                                                   \
    WR(0x24, 0);                                                                                   \
    WR(0x20, 0x20);                                                                                \
    WR(0x70, 11);                                                                                  \
    WR(0x30, 0);                                                                                   \
    WR(0x38, 8);                                                                                   \
    WR(0x80, RXDESC);                                                                              \
    WR(0x90, RXAVAIL);                                                                             \
    WR(0xa0, RXUSED);                                                                              \
    WR(0x44, 1);                                                                                   \
    WR(0x30, 1);                                                                                   \
    WR(0x38, 8);                                                                                   \
    WR(0x80, txdesc);                                                                              \
    WR(0x90, TXAVAIL);                                                                             \
    WR(0xa0, TXUSED);                                                                              \
    WR(0x44, 1);                                                                                   \
    WR(0x70, 15)

    .code64
    .globl _start
_start:
    mov $VBASE, %rbx
    cmpl $0x74726976, (%rbx) /* "virt" */
    je 0f
    EXIT(0x30)
0:  /* Clean rings, a 12-byte header and a broadcast frame at BUF. */
    mov $TXDESC, %rdi
    xor %eax, %eax
    mov $0x20000 / 8, %ecx
    rep stosq
    movl $0xffffffff, BUF + 12
    movw $0xffff, BUF + 16
    BRINGUP(TXDESC)
    cmpl $15, 0x70(%rbx)
    je 0f
    EXIT(0x31)
0:  /* 1: a descriptor chained to itself; the head must come back. */
    DESC(0, BUF, 64, 1, 0)
    POST(0, 0)
    WAIT_USED(1, 0x32)
    /* 2: a two-descriptor cycle. */
    DESC(1, BUF, 64, 1, 2)
    DESC(2, BUF, 64, 1, 1)
    POST(1, 1)
    WAIT_USED(2, 0x33)
    /* 3: next past the queue size. */
    DESC(3, BUF, 64, 1, 200)
    POST(2, 3)
    WAIT_USED(3, 0x34)
    /* 4: queue registers after DRIVER_OK are ignored: a valid chain still completes. */
    WR(0x30, 1)
    WR(0x38, 1024)
    WR(0x80, 0xfff00000)
    WR(0x44, 0)
    DESC(4, BUF, 12, 1, 5)
    DESC(5, BUF + 12, 60, 0, 0)
    POST(3, 4)
    WAIT_USED(4, 0x35)
    testl $0x40, 0x70(%rbx) /* no NEEDS_RESET so far */
    jz 0f
    EXIT(0x36)
0:  /* 5: an avail entry past the queue size: the queue is broken, NEEDS_RESET. */
    POST(4, 100)
    WAIT_NEEDS_RESET(0x37)
    movl 0x60(%rbx), %eax   /* interrupt status: acknowledge whatever is pending */
    movl %eax, 0x64(%rbx)
    /* 6: after a reset, rings outside RAM: activation refused. */
    BRINGUP(0xfff00000)
    WAIT_NEEDS_RESET(0x38)
    /* 7: rings inside the device's own window. */
    BRINGUP(VBASE)
    WAIT_NEEDS_RESET(0x39)
    /* 8: a kick of 0xffffffff and a reset: the device answers and comes back. */
    WR(0x50, 0xffffffff)
    BRINGUP(TXDESC)
    cmpl $15, 0x70(%rbx)
    je 0f
    EXIT(0x3a)
0:  EXIT(0x21)
