/* Console: stdin/stdout plumbing for the UART. The terminal is restored on every way out,
 * including fatal signals, so a crash never leaves the user's shell in raw mode. */
#include "vmm/console.h"
#include "vmm/log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

struct console {
    struct evloop *loop;
    const struct console_ops *ops;
    void *opaque;
    struct uart *uart;
    bool reading;
    bool paused;
    bool escape;
    uint8_t pending[256];
    size_t pending_off, pending_len;
};

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

static void console_restore_terminal(void)
{
    if (termios_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
        termios_saved = 0;
    }
}

void console_emergency_restore(void)
{
    console_restore_terminal();
}

static void console_fatal_signal(int sig)
{
    console_restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void console_raw_mode(void)
{
    if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) != getpgrp())
        return;
    if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
        return;
    struct termios t = saved_termios;
    /* Characters pass through unchanged (Ctrl-C goes to the guest); output keeps OPOST so
     * nicvm's own "\n" lines still return the carriage. */
    t.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
        return;
    termios_saved = 1;
    atexit(console_restore_terminal);
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        signal(fatal[i], console_fatal_signal);
}

static void console_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* stdout closed: drop output rather than stall the guest */
        buf += n;
        len -= (size_t)n;
    }
}

static void console_tx(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    console_write_all(STDOUT_FILENO, buf, len);
}

/* Offers pending bytes to the UART; pauses stdin while some remain. Loop thread. */
static void console_flush_pending(struct console *c)
{
    while (c->pending_off < c->pending_len) {
        size_t n =
            uart_receive(c->uart, c->pending + c->pending_off, c->pending_len - c->pending_off);
        if (n == 0)
            break;
        c->pending_off += n;
    }
    bool full = c->pending_off < c->pending_len;
    if (full != c->paused && c->reading) {
        evloop_mod_fd(c->loop, STDIN_FILENO, full ? 0 : EPOLLIN);
        c->paused = full;
    }
}

static void console_resume(void *opaque)
{
    console_flush_pending(opaque);
}

static void console_rx_ready(void *opaque)
{
    struct console *c = opaque;
    /* Called on a vCPU thread: move the work to the loop thread. */
    evloop_call(c->loop, console_resume, c);
}

const struct uart_ops console_uart_ops = {console_tx, console_rx_ready};

static const char console_help[] =
    "\r\nnicvm console escapes (Ctrl-A then):\r\n"
    "  x  quit nicvm\r\n  s  print exit statistics\r\n  r  print vCPU registers\r\n"
    "  a  send Ctrl-A to the guest\r\n"
    "  h  this help\r\n";

/* Applies the escape state machine to one input byte; returns true if it goes to the guest. */
static bool console_filter(struct console *c, uint8_t *b)
{
    if (!c->escape) {
        if (*b == CONSOLE_ESCAPE) {
            c->escape = true;
            return false;
        }
        return true;
    }
    c->escape = false;
    switch (*b) {
    case 'x':
    case 'X':
        if (c->ops && c->ops->quit)
            c->ops->quit(c->opaque);
        return false;
    case 's':
    case 'S':
        if (c->ops && c->ops->stats)
            c->ops->stats(c->opaque);
        return false;
    case 'r':
    case 'R':
        if (c->ops && c->ops->regs)
            c->ops->regs(c->opaque);
        return false;
    case 'a':
    case CONSOLE_ESCAPE: *b = CONSOLE_ESCAPE; return true;
    case 'h':
    case '?':
        console_write_all(STDERR_FILENO, (const uint8_t *)console_help, sizeof(console_help) - 1);
        return false;
    default: return false;
    }
}

static void console_on_stdin(void *opaque, uint32_t events)
{
    struct console *c = opaque;
    uint8_t buf[sizeof(c->pending)];
    (void)events;
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        /* EOF or error: the guest just gets no more input. */
        evloop_del_fd(c->loop, STDIN_FILENO);
        c->reading = false;
        return;
    }
    size_t len = 0;
    for (ssize_t i = 0; i < n; i++) {
        uint8_t b = buf[i];
        if (console_filter(c, &b))
            c->pending[len++] = b;
    }
    c->pending_off = 0;
    c->pending_len = len;
    console_flush_pending(c);
}

struct console *console_create(struct evloop *loop, const struct console_ops *ops, void *opaque)
{
    struct console *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->loop = loop;
    c->ops = ops;
    c->opaque = opaque;
    return c;
}

int console_start(struct console *c, struct uart *uart)
{
    c->uart = uart;
    /* A background job must not read the terminal (SIGTTIN would stop nicvm). */
    if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) != getpgrp())
        return 0;
    console_raw_mode();
    int rc = evloop_add_fd(c->loop, STDIN_FILENO, EPOLLIN, console_on_stdin, c);
    if (rc == 0)
        evloop_set_name(c->loop, STDIN_FILENO, "console stdin");
    if (rc == -EPERM)
        return 0; /* stdin is a regular file or /dev/null: epoll refuses it; no input */
    if (rc == 0)
        c->reading = true;
    return rc;
}

void console_destroy(struct console *c)
{
    if (!c)
        return;
    if (c->reading)
        evloop_del_fd(c->loop, STDIN_FILENO);
    console_restore_terminal();
    free(c);
}
