/* A 16550A UART (National Semiconductor PC16550D datasheet): divisor latch, IER, IIR/FCR,
 * LCR, MCR (with loopback), LSR, MSR and scratch, a 16-byte receive FIFO, and interrupts for
 * line status, received data, transmitter empty and modem status. Transmitted bytes go to a
 * sink callback at once; received bytes come from uart_receive(). Thread-safe: vCPU threads
 * access registers while the event loop delivers input. */
#ifndef NICVM_UART_H
#define NICVM_UART_H

#include "vmm/irq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_REG_SPAN  8
#define UART_FIFO_SIZE 16

/* Register offsets (datasheet table II). */
enum {
    UART_RBR = 0, /* read, DLAB=0 */
    UART_THR = 0, /* write, DLAB=0 */
    UART_DLL = 0, /* DLAB=1 */
    UART_IER = 1,
    UART_DLM = 1, /* DLAB=1 */
    UART_IIR = 2, /* read */
    UART_FCR = 2, /* write */
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};

struct uart;

struct uart_ops {
    /* tx: bytes the guest transmitted (not called in loopback mode). */
    void (*tx)(void *opaque, const uint8_t *buf, size_t len);
    /* rx_ready: the receive FIFO has room again after uart_receive() refused bytes. Called
     * from the thread that read RBR, without the UART's lock held. May be NULL. */
    void (*rx_ready)(void *opaque);
};

/* uart_create: a UART in its reset state. irq may be NULL (no interrupts). Returns NULL on
 * allocation failure. */
struct uart *uart_create(const struct uart_ops *ops, void *opaque, struct irq_line *irq);
/* uart_destroy: frees it. */
void uart_destroy(struct uart *u);

/* uart_io: the iobus handler for the 8 registers (any access width; each byte of a wider
 * access goes to consecutive registers, as on an 8-bit ISA bus). */
void uart_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* uart_receive: offers len bytes from the host. Returns how many the FIFO took; the rest
 * should be offered again after the rx_ready callback. */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);

/* uart_read_reg / uart_write_reg: one register access (for tests and the I/O handler). */
uint8_t uart_read_reg(struct uart *u, unsigned reg);
void uart_write_reg(struct uart *u, unsigned reg, uint8_t value);

/* uart_irq_pending: true when the UART asserts its interrupt. */
bool uart_irq_pending(struct uart *u);

#endif
