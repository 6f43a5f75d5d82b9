/* 16550A model. Interrupt identification follows the datasheet's priority order (table IV):
 * receiver line status, received data (or character timeout below the trigger level),
 * transmitter holding register empty, modem status. */
#include "devices/uart.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    IER_RDI = 0x01,
    IER_THRI = 0x02,
    IER_RLSI = 0x04,
    IER_MSI = 0x08,
    IIR_NO_INT = 0x01,
    IIR_MSI = 0x00,
    IIR_THRI = 0x02,
    IIR_RDI = 0x04,
    IIR_RLSI = 0x06,
    IIR_CTI = 0x0c,
    IIR_FIFO_ON = 0xc0,
    FCR_ENABLE = 0x01,
    FCR_CLEAR_RX = 0x02,
    FCR_CLEAR_TX = 0x04,
    LCR_DLAB = 0x80,
    MCR_DTR = 0x01,
    MCR_RTS = 0x02,
    MCR_OUT1 = 0x04,
    MCR_OUT2 = 0x08,
    MCR_LOOP = 0x10,
    LSR_DR = 0x01,
    LSR_OE = 0x02,
    LSR_BI = 0x10,
    LSR_THRE = 0x20,
    LSR_TEMT = 0x40,
    LSR_ERRORS = 0x1e,
    MSR_DCTS = 0x01,
    MSR_DDSR = 0x02,
    MSR_TERI = 0x04,
    MSR_DDCD = 0x08,
    MSR_CTS = 0x10,
    MSR_DSR = 0x20,
    MSR_RI = 0x40,
    MSR_DCD = 0x80,
    MSR_DELTAS = 0x0f,
};

struct uart {
    pthread_mutex_t lock;
    const struct uart_ops *ops;
    void *opaque;
    struct irq_line *irq;
    bool irq_level;
    uint8_t dll, dlm, ier, fcr, lcr, mcr, lsr, msr, scr;
    bool thre_pending; /* THR-empty interrupt not yet acknowledged */
    bool rx_refused;   /* uart_receive() turned bytes away: call rx_ready on space */
    uint8_t fifo[UART_FIFO_SIZE];
    unsigned head, count;
};

static void uart_reset(struct uart *u)
{
    u->dll = 0x0c; /* 9600 baud from a 1.8432 MHz clock */
    u->dlm = 0;
    u->ier = u->fcr = u->lcr = u->mcr = u->scr = 0;
    u->lsr = LSR_THRE | LSR_TEMT;
    u->msr = MSR_DCD | MSR_DSR | MSR_CTS; /* a connected terminal */
    u->thre_pending = false;
    u->head = u->count = 0;
}

struct uart *uart_create(const struct uart_ops *ops, void *opaque, struct irq_line *irq)
{
    struct uart *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    pthread_mutex_init(&u->lock, NULL);
    u->ops = ops;
    u->opaque = opaque;
    u->irq = irq;
    uart_reset(u);
    return u;
}

void uart_destroy(struct uart *u)
{
    if (!u)
        return;
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static unsigned rx_trigger(const struct uart *u)
{
    static const unsigned level[4] = {1, 4, 8, 14};
    return (u->fcr & FCR_ENABLE) ? level[u->fcr >> 6] : 1;
}

/* The interrupt the IIR reports now (IIR_NO_INT if none), by datasheet priority. */
static uint8_t uart_iir_source(const struct uart *u)
{
    if ((u->ier & IER_RLSI) && (u->lsr & LSR_ERRORS))
        return IIR_RLSI;
    if ((u->ier & IER_RDI) && u->count)
        return u->count >= rx_trigger(u) ? IIR_RDI : IIR_CTI;
    if ((u->ier & IER_THRI) && u->thre_pending)
        return IIR_THRI;
    if ((u->ier & IER_MSI) && (u->msr & MSR_DELTAS))
        return IIR_MSI;
    return IIR_NO_INT;
}

/* Drives the interrupt line from the register state; the line only changes on a real
 * change so that register reads do not cost an ioctl each. Caller holds the lock. */
static void uart_update_irq(struct uart *u)
{
    bool level = uart_iir_source(u) != IIR_NO_INT;
    if (u->irq && level != u->irq_level)
        irq_set(u->irq, level);
    u->irq_level = level;
}

static void fifo_push(struct uart *u, uint8_t byte)
{
    if (u->count == UART_FIFO_SIZE) {
        u->lsr |= LSR_OE; /* overrun: the byte is lost, as on the chip */
        return;
    }
    u->fifo[(u->head + u->count) % UART_FIFO_SIZE] = byte;
    u->count++;
    u->lsr |= LSR_DR;
}

static uint8_t fifo_pop(struct uart *u)
{
    if (!u->count)
        return 0;
    uint8_t b = u->fifo[u->head];
    u->head = (u->head + 1) % UART_FIFO_SIZE;
    if (--u->count == 0)
        u->lsr &= (uint8_t)~LSR_DR;
    return b;
}

/* In loopback mode the modem outputs drive the inputs (datasheet, MCR bit 4). */
static uint8_t loopback_msr(const struct uart *u)
{
    uint8_t m = u->mcr;
    return (uint8_t)(((m & MCR_RTS) ? MSR_CTS : 0) | ((m & MCR_DTR) ? MSR_DSR : 0) |
                     ((m & MCR_OUT1) ? MSR_RI : 0) | ((m & MCR_OUT2) ? MSR_DCD : 0));
}

static void uart_set_msr_inputs(struct uart *u, uint8_t inputs)
{
    uint8_t old = u->msr, delta = 0;
    if ((old ^ inputs) & MSR_CTS)
        delta |= MSR_DCTS;
    if ((old ^ inputs) & MSR_DSR)
        delta |= MSR_DDSR;
    if ((old & MSR_RI) && !(inputs & MSR_RI))
        delta |= MSR_TERI; /* trailing edge of ring indicator */
    if ((old ^ inputs) & MSR_DCD)
        delta |= MSR_DDCD;
    u->msr = (uint8_t)(inputs | (old & MSR_DELTAS) | delta);
}

/* Returns true if rx_ready must be called once the lock is dropped. */
static bool uart_read_locked(struct uart *u, unsigned reg, uint8_t *out)
{
    bool notify = false;
    switch (reg) {
    case UART_RBR:
        if (u->lcr & LCR_DLAB) {
            *out = u->dll;
        } else {
            *out = fifo_pop(u);
            notify = u->rx_refused;
            u->rx_refused = false;
        }
        break;
    case UART_IER: *out = (u->lcr & LCR_DLAB) ? u->dlm : u->ier; break;
    case UART_IIR: {
        uint8_t src = uart_iir_source(u);
        if (src == IIR_THRI)
            u->thre_pending = false; /* reading IIR acknowledges THRE (table IV) */
        *out = (uint8_t)(src | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0));
        break;
    }
    case UART_LCR: *out = u->lcr; break;
    case UART_MCR: *out = u->mcr; break;
    case UART_LSR:
        *out = u->lsr;
        u->lsr &= (uint8_t) ~(LSR_ERRORS); /* error bits clear on read */
        break;
    case UART_MSR:
        *out = u->msr;
        u->msr &= (uint8_t)~MSR_DELTAS;
        break;
    default: *out = u->scr; break;
    }
    uart_update_irq(u);
    return notify;
}

/* Returns the byte to transmit through ops->tx, or -1. Caller holds the lock. */
static int uart_write_locked(struct uart *u, unsigned reg, uint8_t v)
{
    int tx = -1;
    switch (reg) {
    case UART_THR:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
            break;
        }
        if (u->mcr & MCR_LOOP)
            fifo_push(u, v);
        else
            tx = v;
        /* Transmission is instantaneous: THR is empty again at once. */
        u->lsr |= LSR_THRE | LSR_TEMT;
        u->thre_pending = true;
        break;
    case UART_IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
        } else {
            /* Enabling THRI while THR is empty raises the interrupt (16550 behaviour that
             * Linux's 8250 driver relies on to start transmission). */
            if ((v & IER_THRI) && !(u->ier & IER_THRI) && (u->lsr & LSR_THRE))
                u->thre_pending = true;
            u->ier = v & 0x0f;
        }
        break;
    case UART_FCR:
        if (v & FCR_CLEAR_RX) {
            u->head = u->count = 0;
            u->lsr &= (uint8_t)~LSR_DR;
        }
        u->fcr = v & (uint8_t) ~(FCR_CLEAR_RX | FCR_CLEAR_TX | 0x08);
        break;
    case UART_LCR: u->lcr = v; break;
    case UART_MCR:
        u->mcr = v & 0x1f;
        uart_set_msr_inputs(u,
                            (u->mcr & MCR_LOOP) ? loopback_msr(u) : (MSR_DCD | MSR_DSR | MSR_CTS));
        break;
    case UART_LSR: break; /* read-only (factory test register on some parts) */
    case UART_MSR: break; /* read-only */
    default: u->scr = v; break;
    }
    uart_update_irq(u);
    return tx;
}

uint8_t uart_read_reg(struct uart *u, unsigned reg)
{
    uint8_t v;
    pthread_mutex_lock(&u->lock);
    bool notify = uart_read_locked(u, reg & 7, &v);
    pthread_mutex_unlock(&u->lock);
    if (notify && u->ops && u->ops->rx_ready)
        u->ops->rx_ready(u->opaque);
    return v;
}

void uart_write_reg(struct uart *u, unsigned reg, uint8_t value)
{
    pthread_mutex_lock(&u->lock);
    int tx = uart_write_locked(u, reg & 7, value);
    if (tx >= 0 && u->ops && u->ops->tx) {
        uint8_t b = (uint8_t)tx;
        /* Under the lock so that bytes from several vCPUs leave in register order. */
        u->ops->tx(u->opaque, &b, 1);
    }
    pthread_mutex_unlock(&u->lock);
}

void uart_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct uart *u = opaque;
    for (unsigned i = 0; i < len; i++) {
        if (offset + i >= UART_REG_SPAN) {
            if (!is_write)
                data[i] = 0xff;
            continue;
        }
        if (is_write)
            uart_write_reg(u, (unsigned)(offset + i), data[i]);
        else
            data[i] = uart_read_reg(u, (unsigned)(offset + i));
    }
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    /* In loopback mode the receiver is disconnected from the line. */
    if (!(u->mcr & MCR_LOOP)) {
        while (n < len && u->count < UART_FIFO_SIZE)
            fifo_push(u, buf[n++]);
    }
    if (n < len)
        u->rx_refused = true;
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

bool uart_irq_pending(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    bool p = uart_iir_source(u) != IIR_NO_INT;
    pthread_mutex_unlock(&u->lock);
    return p;
}
