/* Unit tests for the 16550A model: registers, divisor latch, FIFO, loopback, and the
 * interrupt identification and line behaviour Linux's 8250 driver depends on. */
#include "devices/uart.h"

#include "tests/unit/unit.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

struct fake_irq {
    struct irq_line line;
    bool level;
    int changes;
};

static void fake_set(struct irq_line *l, bool level)
{
    struct fake_irq *f = (struct fake_irq *)l;
    f->level = level;
    f->changes++;
}

static void fake_pulse(struct irq_line *l)
{
    (void)l;
}

struct sink {
    uint8_t buf[256];
    size_t len;
    int rx_ready;
};

static void sink_tx(void *opaque, const uint8_t *b, size_t n)
{
    struct sink *s = opaque;
    memcpy(s->buf + s->len, b, n);
    s->len += n;
}

static void sink_rx_ready(void *opaque)
{
    ((struct sink *)opaque)->rx_ready++;
}

static const struct uart_ops sink_ops = {sink_tx, sink_rx_ready};
static struct fake_irq irq;
static struct sink sink;
static struct uart *u;

static void setup(void)
{
    memset(&irq, 0, sizeof(irq));
    irq.line = (struct irq_line){fake_set, fake_pulse, NULL, 4, -1};
    memset(&sink, 0, sizeof(sink));
    u = uart_create(&sink_ops, &sink, &irq.line);
}

static void teardown(void)
{
    uart_destroy(u);
}

START_TEST(test_reset_state)
{
    ck_assert_uint_eq(uart_read_reg(u, UART_LSR), 0x60); /* THRE | TEMT */
    ck_assert_uint_eq(uart_read_reg(u, UART_IIR), 0x01); /* no interrupt */
    ck_assert_uint_eq(uart_read_reg(u, UART_IER), 0);
    ck_assert_uint_eq(uart_read_reg(u, UART_MSR) & 0xb0, 0xb0); /* DCD DSR CTS */
    ck_assert(!irq.level);
}
END_TEST

START_TEST(test_transmit_and_scratch_and_divisor)
{
    uart_write_reg(u, UART_THR, 'h');
    uart_write_reg(u, UART_THR, 'i');
    ck_assert_uint_eq(sink.len, 2);
    ck_assert_int_eq(memcmp(sink.buf, "hi", 2), 0);
    uart_write_reg(u, UART_SCR, 0x5a);
    ck_assert_uint_eq(uart_read_reg(u, UART_SCR), 0x5a);
    /* DLAB: offsets 0 and 1 become the divisor latch, and THR writes do not transmit. */
    uart_write_reg(u, UART_LCR, 0x83);
    uart_write_reg(u, UART_DLL, 0x01);
    uart_write_reg(u, UART_DLM, 0x02);
    ck_assert_uint_eq(uart_read_reg(u, UART_DLL), 0x01);
    ck_assert_uint_eq(uart_read_reg(u, UART_DLM), 0x02);
    ck_assert_uint_eq(sink.len, 2);
    uart_write_reg(u, UART_LCR, 0x03);
    ck_assert_uint_eq(uart_read_reg(u, UART_IER), 0);
    ck_assert_uint_eq(uart_read_reg(u, UART_LCR), 0x03);
    /* Read-only registers ignore writes. */
    uart_write_reg(u, UART_LSR, 0);
    ck_assert_uint_eq(uart_read_reg(u, UART_LSR), 0x60);
}
END_TEST

START_TEST(test_thre_interrupt)
{
    /* Enabling THRI with an empty THR raises the interrupt; reading IIR acknowledges it. */
    uart_write_reg(u, UART_IER, 0x02);
    ck_assert(irq.level);
    ck_assert_uint_eq(uart_read_reg(u, UART_IIR), 0x02);
    ck_assert(!irq.level);
    ck_assert_uint_eq(uart_read_reg(u, UART_IIR), 0x01);
    /* Each transmitted byte makes THR empty again: a new interrupt. */
    uart_write_reg(u, UART_THR, 'x');
    ck_assert(irq.level);
    uart_write_reg(u, UART_IER, 0x00);
    ck_assert(!irq.level);
}
END_TEST

START_TEST(test_receive_fifo_and_interrupt)
{
    uart_write_reg(u, UART_FCR, 0x01 | 0x80); /* FIFO on, trigger 8 */
    uart_write_reg(u, UART_IER, 0x01);
    ck_assert(!irq.level);
    ck_assert_uint_eq(uart_receive(u, (const uint8_t *)"abc", 3), 3);
    ck_assert(irq.level);
    /* Below the trigger level: character timeout (0xC), FIFO bits set. */
    ck_assert_uint_eq(uart_read_reg(u, UART_IIR), 0xcc);
    ck_assert_uint_eq(uart_read_reg(u, UART_LSR) & 0x01, 1);
    ck_assert_uint_eq(uart_receive(u, (const uint8_t *)"defghijklmnopqrstu", 18), 13);
    ck_assert_uint_eq(uart_read_reg(u, UART_IIR), 0xc4); /* at trigger: data available */
    char got[17] = {0};
    for (int i = 0; i < 16; i++)
        got[i] = (char)uart_read_reg(u, UART_RBR);
    ck_assert_str_eq(got, "abcdefghijklmnop");
    ck_assert_uint_eq(uart_read_reg(u, UART_LSR) & 0x01, 0);
    ck_assert(!irq.level);
    /* The host was refused bytes: it is told once there is room. */
    ck_assert_int_eq(sink.rx_ready, 1);
    /* FCR clear-RX empties the FIFO. */
    uart_receive(u, (const uint8_t *)"zz", 2);
    uart_write_reg(u, UART_FCR, 0x03);
    ck_assert_uint_eq(uart_read_reg(u, UART_LSR) & 0x01, 0);
    ck_assert(!irq.level);
}
END_TEST

START_TEST(test_priority_line_status)
{
    /* Overrun needs the FIFO to overflow, which only loopback can do (uart_receive refuses
     * instead). Line status outranks received data. */
    uart_write_reg(u, UART_MCR, 0x10);
    for (int i = 0; i < 17; i++)
        uart_write_reg(u, UART_THR, (uint8_t)i);
    ck_assert_uint_eq(sink.len, 0); /* loopback does not reach the line */
    uart_write_reg(u, UART_IER, 0x05);
    ck_assert_uint_eq(uart_read_reg(u, UART_IIR) & 0x0f, 0x06);
    ck_assert_uint_eq(uart_read_reg(u, UART_LSR) & 0x02, 0x02); /* OE, cleared by reading */
    ck_assert_uint_eq(uart_read_reg(u, UART_IIR) & 0x0f, 0x04);
    ck_assert_uint_eq(uart_read_reg(u, UART_RBR), 0);
}
END_TEST

START_TEST(test_loopback_msr)
{
    /* Linux's 8250 probe: MCR = LOOP | RTS | OUT2 must read MSR top nibble 0x90. */
    uart_write_reg(u, UART_MCR, 0x10 | 0x02 | 0x08);
    ck_assert_uint_eq(uart_read_reg(u, UART_MSR) & 0xf0, 0x90);
    uart_write_reg(u, UART_MCR, 0x10 | 0x01 | 0x04);
    ck_assert_uint_eq(uart_read_reg(u, UART_MSR) & 0xf0, 0x60);
    /* Modem status interrupt on the deltas; reading MSR clears them. */
    uart_write_reg(u, UART_IER, 0x08);
    uart_write_reg(u, UART_MCR, 0x10);
    ck_assert(irq.level);
    ck_assert_uint_eq(uart_read_reg(u, UART_IIR) & 0x0f, 0x00);
    ck_assert(uart_read_reg(u, UART_MSR) & 0x0f);
    ck_assert(!irq.level);
    uart_write_reg(u, UART_MCR, 0x00);
    ck_assert_uint_eq(uart_read_reg(u, UART_MSR) & 0xf0, 0xb0);
}
END_TEST

START_TEST(test_io_handler_widths)
{
    /* A 2-byte write at offset 3 writes LCR and MCR; past the end reads all ones. */
    uint8_t d[4] = {0x03, 0x0b, 0, 0};
    uart_io(u, 3, d, 2, true);
    ck_assert_uint_eq(uart_read_reg(u, UART_LCR), 0x03);
    ck_assert_uint_eq(uart_read_reg(u, UART_MCR), 0x0b);
    memset(d, 0, sizeof(d));
    uart_io(u, 6, d, 4, false);
    ck_assert_uint_eq(d[2], 0xff);
    ck_assert_uint_eq(d[3], 0xff);
    /* The irq line is only driven on changes. */
    int before = irq.changes;
    for (int i = 0; i < 10; i++)
        uart_read_reg(u, UART_LSR);
    ck_assert_int_eq(irq.changes, before);
}
END_TEST

static Suite *uart_suite(void)
{
    Suite *s = suite_create("uart");
    TCase *tc = tcase_create("16550a");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_reset_state);
    tcase_add_test(tc, test_transmit_and_scratch_and_divisor);
    tcase_add_test(tc, test_thre_interrupt);
    tcase_add_test(tc, test_receive_fifo_and_interrupt);
    tcase_add_test(tc, test_priority_line_status);
    tcase_add_test(tc, test_loopback_msr);
    tcase_add_test(tc, test_io_handler_widths);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(uart_suite)
