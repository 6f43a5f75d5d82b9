/* Legacy port handlers: the minimum a firmware-less PC needs for reboot and test exits. */
#include "devices/legacy.h"
#include "vmm/iobus.h"

#include <string.h>

void i8042_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct legacy *l = opaque;
    if (!is_write) {
        /* Status: output buffer full and input buffer empty, forever; data: 0xff. Linux's
         * i8042 driver then flushes 16 bytes and reports "No controller found" at once,
         * while the reboot path's wait for an empty input buffer passes immediately. */
        bool status = offset == I8042_COMMAND_PORT - I8042_DATA_PORT;
        memset(data, status ? I8042_STATUS_OBF : 0xff, len);
        return;
    }
    if (offset == I8042_COMMAND_PORT - I8042_DATA_PORT && data[0] == I8042_CMD_RESET && l->ops &&
        l->ops->reset)
        l->ops->reset(l->opaque);
}

void post_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct legacy *l = opaque;
    (void)offset;
    if (is_write)
        l->last_post = data[0];
    else
        memset(data, l->last_post, len);
}

void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct legacy *l = opaque;
    (void)offset;
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    uint64_t v = iobus_get_le(data, len);
    if (l->ops && l->ops->debug_exit)
        l->ops->debug_exit(l->opaque, (int)(((v << 1) | 1) & 0xff));
}
