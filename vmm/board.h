/* The board: which device models exist, how each is placed in the machine description
 * (addresses, IRQs, slots) and how it is instantiated. Every device, built-in or named with
 * -device, goes through the one table in board.c. */
#ifndef NICVM_BOARD_H
#define NICVM_BOARD_H

#include "vmm/vm.h"

#include <jansson.h>
#include <stdio.h>

struct board_model {
    const char *name;
    const char *summary;
    bool user; /* may be named with -device */
    /* place: adds the device to the machine description from its options (o may be NULL
     * for built-ins). Returns 0 or -errno with a message naming the option. */
    int (*place)(struct vm *vm, struct opts *o, char *err, size_t errlen);
    /* create: instantiates the device `d` in a VM whose memory, bus and IRQs exist. */
    int (*create)(struct vm *vm, struct machine_device *d, char *err, size_t errlen);
    /* destroy: frees d->state (may be NULL). */
    void (*destroy)(struct vm *vm, struct machine_device *d);
    /* info: the device's report for --exit-stats and the monitor; may be NULL. */
    json_t *(*info)(struct machine_device *d);
};

/* board_place: adds the built-in devices (COM1, i8042, POST port) and every -device of the
 * VM's configuration to vm->machine (network backends must be open: NICs name them).
 * Returns 0 or -errno with a one-line message naming the -device. */
int board_place(struct vm *vm, char *err, size_t errlen);

/* board_create: instantiates every device in vm->machine, in order. Returns 0 or -errno. */
int board_create(struct vm *vm, char *err, size_t errlen);

/* board_destroy: tears down every instantiated device, in reverse order. */
void board_destroy(struct vm *vm);

/* board_register_io: claims a device's fixed port or MMIO window on the VM's bus, reporting
 * an overlap as an error naming the device. Returns the region id or -errno. */
int board_register_io(struct vm *vm, struct machine_device *d, enum iobus_space space,
                      uint64_t base, uint64_t len, iobus_fn fn, void *opaque, char *err,
                      size_t errlen);

/* board_print_models: writes the models -device accepts, one per line with a summary, to f. */
void board_print_models(FILE *f);

/* board_device_info: a device's report (new jansson reference; NIC counters, features, queue
 * state), or NULL for devices that have none. */
json_t *board_device_info(struct machine_device *d);

#endif
