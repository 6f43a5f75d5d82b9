/* Legacy PC ports that a kernel touches with no firmware behind it: the i8042 only as far as
 * its reset line (port 0x64, command 0xFE), port 0x80 for POST codes and I/O delays, and
 * QEMU's isa-debug-exit so that test guests can stop the VM with a status. */
#ifndef NICVM_LEGACY_H
#define NICVM_LEGACY_H

#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET    0xfe
#define I8042_STATUS_OBF   0x01
#define POST_PORT          0x80
#define DEBUG_EXIT_PORT    0x501

/* Callbacks into the VM; both stop it, so no device state follows them. */
struct legacy_ops {
    void (*reset)(void *opaque);                /* the guest pulsed the reset line */
    void (*debug_exit)(void *opaque, int code); /* isa-debug-exit: exit status */
};

struct legacy {
    const struct legacy_ops *ops;
    void *opaque;
    uint8_t last_post; /* last byte written to port 0x80 */
};

/* i8042_io: iobus handler for ports 0x60-0x64 (register at 0x60, length 5). The status port
 * reads "output full, input empty" and data reads 0xff, so a kernel finds no controller
 * quickly and a reboot's wait loop passes at once; writing 0xFE to port 0x64 calls
 * ops->reset. */
void i8042_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* post_io: iobus handler for port 0x80: remembers the last code, reads return it. */
void post_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* debug_exit_io: iobus handler for isa-debug-exit: a write of V calls ops->debug_exit with
 * (V << 1) | 1, QEMU's status encoding. Reads return 0. */
void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

#endif
