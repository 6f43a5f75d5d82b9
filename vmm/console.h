/* The serial console: guest UART output to stdout, host stdin to the UART (raw mode when
 * stdin is a terminal), and the Ctrl-A escapes (x quit, s statistics, r registers,
 * a send Ctrl-A, h help). Input runs on the event loop with back-pressure from the UART's FIFO. */
#ifndef NICVM_CONSOLE_H
#define NICVM_CONSOLE_H

#include "devices/uart.h"
#include "vmm/evloop.h"

struct console;

struct console_ops {
    void (*quit)(void *opaque);  /* Ctrl-A x */
    void (*stats)(void *opaque); /* Ctrl-A s */
    void (*regs)(void *opaque);  /* Ctrl-A r */
};

/* console_create: a console on stdin/stdout. Input starts with console_start(). Returns
 * NULL on allocation failure. */
struct console *console_create(struct evloop *loop, const struct console_ops *ops, void *opaque);

/* console_uart_ops: the UART callbacks that connect a UART to this console; pass them with
 * the console as opaque to uart_create(). */
extern const struct uart_ops console_uart_ops;

/* console_start: attaches the UART and starts reading stdin (raw mode if it is a terminal
 * in the foreground). Returns 0 or -errno. */
int console_start(struct console *c, struct uart *uart);

/* console_emergency_restore: restores the terminal without touching the console object
 * (for an exit from another thread). Async-signal-safe. */
void console_emergency_restore(void);

/* console_destroy: stops reading and restores the terminal. */
void console_destroy(struct console *c);

#endif
