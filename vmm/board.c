/* The device model table and the built-in legacy devices. NIC models add one entry each. */
#include "vmm/board.h"
#include "vmm/cli.h"
#include "devices/e1000.h"
#include "devices/legacy.h"
#include "devices/pci.h"
#include "devices/uart.h"
#include "devices/virtio_net.h"
#include "net/netdev.h"
#include "vmm/kvm.h"
#include "vmm/console.h"
#include "vmm/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COM1_PORT 0x3f8
#define COM1_IRQ  4

int board_register_io(struct vm *vm, struct machine_device *d, enum iobus_space space,
                      uint64_t base, uint64_t len, iobus_fn fn, void *opaque, char *err,
                      size_t errlen)
{
    int id = iobus_register(vm->bus, space, base, len, d->id, fn, opaque);
    if (id < 0)
        snprintf(err, errlen, "%s: cannot claim %s 0x%llx+0x%llx: %s", d->id,
                 space == IOBUS_PIO ? "ports" : "MMIO", (unsigned long long)base,
                 (unsigned long long)len,
                 id == -EEXIST ? "overlaps another device" : strerror(-id));
    return id;
}

/* --- COM1 ---------------------------------------------------------------------------- */

static int uart_place(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    (void)o;
    if (!machine_add_isa(&vm->machine, "uart", "com1", COM1_PORT, UART_REG_SPAN, COM1_IRQ)) {
        snprintf(err, errlen, "cannot place COM1 at 0x3f8, IRQ 4");
        return -EBUSY;
    }
    return 0;
}

static int uart_create_dev(struct vm *vm, struct machine_device *d, char *err, size_t errlen)
{
    vm->uart = uart_create(&console_uart_ops, vm->console, &vm->irq[d->irq]);
    if (!vm->uart)
        return -ENOMEM;
    d->state = vm->uart;
    int id = board_register_io(vm, d, IOBUS_PIO, d->pio_base, d->pio_size, uart_io, vm->uart, err,
                               errlen);
    return id < 0 ? id : 0;
}

static void uart_destroy_dev(struct vm *vm, struct machine_device *d)
{
    uart_destroy(d->state);
    vm->uart = NULL;
}

/* --- i8042 reset line, POST port, isa-debug-exit -------------------------------------- */

static void legacy_reset(void *opaque)
{
    struct vm *vm = opaque;
    log_info("guest reset through the i8042; stopping (nicvm does not reboot)");
    vm_request_stop(vm, VM_STOP_RESET, NICVM_EXIT_OK);
}

static void legacy_debug_exit(void *opaque, int code)
{
    vm_request_stop(opaque, VM_STOP_DEBUG_EXIT, code);
}

static const struct legacy_ops board_legacy_ops = {legacy_reset, legacy_debug_exit};

static int i8042_place(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    (void)o;
    if (!machine_add_isa(&vm->machine, "i8042", "i8042", I8042_DATA_PORT, 5, -1)) {
        snprintf(err, errlen, "cannot place the i8042 at 0x60");
        return -EBUSY;
    }
    return 0;
}

static int legacy_create_dev(struct vm *vm, struct machine_device *d, iobus_fn fn, char *err,
                             size_t errlen)
{
    vm->legacy.ops = &board_legacy_ops;
    vm->legacy.opaque = vm;
    d->state = &vm->legacy;
    int id =
        board_register_io(vm, d, IOBUS_PIO, d->pio_base, d->pio_size, fn, &vm->legacy, err, errlen);
    return id < 0 ? id : 0;
}

static int i8042_create(struct vm *vm, struct machine_device *d, char *err, size_t errlen)
{
    return legacy_create_dev(vm, d, i8042_io, err, errlen);
}

static int post_place(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    (void)o;
    if (!machine_add_isa(&vm->machine, "post", "post", POST_PORT, 1, -1)) {
        snprintf(err, errlen, "cannot place the POST port at 0x80");
        return -EBUSY;
    }
    return 0;
}

static int post_create(struct vm *vm, struct machine_device *d, char *err, size_t errlen)
{
    return legacy_create_dev(vm, d, post_io, err, errlen);
}

static int debug_exit_place(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    uint64_t base, size;
    int rc = opts_get_u64(o, "iobase", DEBUG_EXIT_PORT, 0, 0xffff, &base, err, errlen);
    if (!rc)
        rc = opts_get_u64(o, "iosize", 1, 1, 4, &size, err, errlen);
    if (rc)
        return rc;
    const char *id = opts_get(o, "id");
    if (!machine_add_isa(&vm->machine, "isa-debug-exit", id, (uint16_t)base, (uint16_t)size, -1)) {
        snprintf(err, errlen, "isa-debug-exit: ports 0x%llx+%llu are taken (choose iobase=)",
                 (unsigned long long)base, (unsigned long long)size);
        return -EBUSY;
    }
    return 0;
}

static int debug_exit_create(struct vm *vm, struct machine_device *d, char *err, size_t errlen)
{
    return legacy_create_dev(vm, d, debug_exit_io, err, errlen);
}

/* --- PCI host bridge --------------------------------------------------------------------- */

static int pci_host_place(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    (void)o;
    if (!machine_add_isa(&vm->machine, "pci-host", "pci", PCI_CONFIG_ADDR_PORT, 8, -1)) {
        snprintf(err, errlen, "cannot place the PCI host bridge at 0xcf8");
        return -EBUSY;
    }
    return 0;
}

static int pci_host_create(struct vm *vm, struct machine_device *d, char *err, size_t errlen)
{
    vm->pci = calloc(1, sizeof(*vm->pci));
    if (!vm->pci)
        return -ENOMEM;
    d->state = vm->pci;
    int rc = pci_bus_init(vm->pci, vm->bus, MACHINE_PCI_MMIO_START, MACHINE_PCI_MMIO_SIZE,
                          MACHINE_PCI_IO_START, MACHINE_PCI_IO_SIZE);
    if (rc < 0)
        snprintf(err, errlen, "PCI host bridge: %s", strerror(-rc));
    return rc;
}

static void pci_host_destroy(struct vm *vm, struct machine_device *d)
{
    free(d->state);
    vm->pci = NULL;
}

/* --- NICs ------------------------------------------------------------------------------ */

/* Checks a NIC's netdev= and mac= options; returns the netdev or NULL with a message. */
static struct netdev *nic_check_opts(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    const char *nid = opts_get(o, "netdev");
    const char *mac = opts_get(o, "mac");
    uint8_t m[6];
    if (!nid) {
        snprintf(err, errlen, "netdev= is required (the id of a -netdev)");
        return NULL;
    }
    struct netdev *nd = vm_find_netdev(vm, nid);
    if (!nd) {
        snprintf(err, errlen, "netdev=%s: no -netdev with that id", nid);
        return NULL;
    }
    for (unsigned i = 0; i < vm->machine.nr_devices; i++) {
        struct opts *other = vm->machine.dev[i].opts;
        const char *used = other ? opts_get(other, "netdev") : NULL;
        if (used && strcmp(used, nid) == 0) {
            snprintf(err, errlen, "netdev=%s is already used by %s", nid, vm->machine.dev[i].id);
            return NULL;
        }
    }
    if (mac && (parse_mac(mac, m) < 0 || (m[0] & 1))) {
        snprintf(err, errlen, "mac=%s: expected a unicast address like 52:54:00:12:34:56", mac);
        return NULL;
    }
    return nd;
}

/* The NIC's MAC: mac= or, like QEMU, 52:54:00:12:34:56 plus the NIC's index. */
static void nic_mac(struct vm *vm, const struct machine_device *d, uint8_t mac[6])
{
    const char *s = d->opts ? opts_get(d->opts, "mac") : NULL;
    if (s && parse_mac(s, mac) == 0)
        return;
    unsigned index = 0;
    for (const struct machine_device *o = vm->machine.dev; o < d; o++)
        index += o->opts && opts_get(o->opts, "netdev") != NULL;
    const uint8_t base[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    memcpy(mac, base, 6);
    mac[5] = (uint8_t)(base[5] + index);
}

static int virtio_net_place(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    if (!nic_check_opts(vm, o, err, errlen))
        return -EINVAL;
    if (!machine_add_virtio_mmio(&vm->machine, "virtio-net", opts_get(o, "id"))) {
        snprintf(err, errlen, "no free virtio-mmio window or interrupt (or the id is taken)");
        return -ENOSPC;
    }
    return 0;
}

static int board_bind_ioeventfd(void *opaque, uint64_t addr, unsigned len, uint64_t value, int fd)
{
    return kvm_ioeventfd(opaque, addr, len, true, value, fd, true);
}

static int virtio_net_create_dev(struct vm *vm, struct machine_device *d, char *err, size_t errlen)
{
    struct virtio_net_params p = {
        .netdev = vm_find_netdev(vm, opts_get(d->opts, "netdev")),
        .mem = &vm->mem,
        .irq = &vm->irq[d->irq],
        .loop = vm->loop,
        .base = d->mmio_base,
        .bind = vm->cfg->no_ioeventfd ? NULL : board_bind_ioeventfd,
        .bind_opaque = vm,
        .name = d->id,
    };
    nic_mac(vm, d, p.mac);
    char sub[200];
    struct virtio_net *vn = virtio_net_create(&p, sub, sizeof(sub));
    if (!vn) {
        snprintf(err, errlen, "%s: %s", d->id, sub);
        return -EINVAL;
    }
    d->state = vn;
    int id = board_register_io(vm, d, IOBUS_MMIO, d->mmio_base, d->mmio_size, virtio_mmio_io,
                               virtio_net_transport(vn), err, errlen);
    return id < 0 ? id : 0;
}

static void virtio_net_destroy_dev(struct vm *vm, struct machine_device *d)
{
    (void)vm;
    virtio_net_destroy(d->state);
}

static json_t *virtio_net_info_dev(struct machine_device *d)
{
    return virtio_net_info(d->state);
}

/* --- e1000 ------------------------------------------------------------------------------ */

/* A function on PCI bus 0 with INTA# routed to a free IOAPIC pin, level-triggered, as the MP
 * table says (boot/mptable.c); the BARs are assigned by pci_bus_add like firmware would. */
static int e1000_place(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    if (!nic_check_opts(vm, o, err, errlen))
        return -EINVAL;
    /* With a device tree the IOAPIC belongs to the tree (boot/mptable.c), and x86 Linux
     * routes PCI INTx from a tree only on CE4100 boards: the NIC would get no interrupt. */
    if (vm->machine.discovery & MACHINE_DISCOVERY_DTB) {
        snprintf(err, errlen,
                 "PCI interrupts are routed by the MP table, which a device tree "
                 "replaces: use --virtio-discovery cmdline (the default) with e1000");
        return -EINVAL;
    }
    if (!machine_add_pci(&vm->machine, "e1000", opts_get(o, "id"), true)) {
        snprintf(err, errlen, "no free PCI slot or interrupt (or the id is taken)");
        return -ENOSPC;
    }
    return 0;
}

static int e1000_create_dev(struct vm *vm, struct machine_device *d, char *err, size_t errlen)
{
    if (!vm->pci) {
        snprintf(err, errlen, "%s: no PCI bus", d->id);
        return -ENODEV;
    }
    struct e1000_params p = {
        .netdev = vm_find_netdev(vm, opts_get(d->opts, "netdev")),
        .mem = &vm->mem,
        .irq = &vm->irq[d->irq],
        .loop = vm->loop,
        .name = d->id,
    };
    nic_mac(vm, d, p.mac);
    char sub[200];
    struct e1000 *e = e1000_create(&p, sub, sizeof(sub));
    if (!e) {
        snprintf(err, errlen, "%s: %s", d->id, sub);
        return -EINVAL;
    }
    d->state = e;
    int rc = pci_bus_add(vm->pci, e1000_pci(e), d->pci_slot, d->irq);
    if (rc < 0)
        snprintf(err, errlen, "%s: cannot put it in PCI slot %d: %s", d->id, d->pci_slot,
                 strerror(-rc));
    return rc;
}

static void e1000_destroy_dev(struct vm *vm, struct machine_device *d)
{
    (void)vm;
    e1000_destroy(d->state);
}

static json_t *e1000_info_dev(struct machine_device *d)
{
    return e1000_info(d->state);
}

/* --- null-mmio ------------------------------------------------------------------------- */

/* A window that ignores writes and reads zeros: the cheapest possible device, for measuring
 * what an exit itself costs (bench/exit_bench). */
static void null_mmio_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    (void)opaque, (void)offset;
    if (!is_write)
        memset(data, 0, len);
}

static int null_mmio_place(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    uint64_t addr, size;
    int rc = opts_get_u64(o, "addr", 0xd8000000ull, 0, UINT64_MAX, &addr, err, errlen);
    if (!rc)
        rc = opts_get_u64(o, "size", 0x1000, 1, 1ull << 30, &size, err, errlen);
    if (rc)
        return rc;
    struct machine_device *d =
        machine_add_isa(&vm->machine, "null-mmio", opts_get(o, "id"), 0, 0, -1);
    if (!d) {
        snprintf(err, errlen, "cannot add the device (table full or id taken)");
        return -ENOSPC;
    }
    d->mmio_base = addr;
    d->mmio_size = size;
    return 0;
}

static int null_mmio_create(struct vm *vm, struct machine_device *d, char *err, size_t errlen)
{
    int id = board_register_io(vm, d, IOBUS_MMIO, d->mmio_base, d->mmio_size, null_mmio_io, NULL,
                               err, errlen);
    return id < 0 ? id : 0;
}

/* --- the table ------------------------------------------------------------------------ */

static const struct board_model board_models[] = {
    {"uart", "16550A UART on COM1", false, uart_place, uart_create_dev, uart_destroy_dev, NULL},
    {"i8042", "reset line only", false, i8042_place, i8042_create, NULL, NULL},
    {"post", "port 0x80", false, post_place, post_create, NULL, NULL},
    {"pci-host", "PCI host bridge, configuration mechanism #1", false, pci_host_place,
     pci_host_create, pci_host_destroy, NULL},
    {"isa-debug-exit", "QEMU-compatible test exit port", true, debug_exit_place, debug_exit_create,
     NULL, NULL},
    {"null-mmio", "MMIO window that does nothing (exit-cost measurements)", true, null_mmio_place,
     null_mmio_create, NULL, NULL},
    {"virtio-net", "virtio-net over virtio-mmio", true, virtio_net_place, virtio_net_create_dev,
     virtio_net_destroy_dev, virtio_net_info_dev},
    {"virtio-net-device", "alias of virtio-net (QEMU's name)", true, virtio_net_place,
     virtio_net_create_dev, virtio_net_destroy_dev, virtio_net_info_dev},
    {"e1000", "Intel 82540EM gigabit Ethernet on PCI", true, e1000_place, e1000_create_dev,
     e1000_destroy_dev, e1000_info_dev},
};

#define BOARD_NR_MODELS (sizeof(board_models) / sizeof(board_models[0]))

static const struct board_model *board_find(const char *name)
{
    for (size_t i = 0; i < BOARD_NR_MODELS; i++)
        if (strcmp(board_models[i].name, name) == 0)
            return &board_models[i];
    return NULL;
}

static void board_list_user_models(char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < BOARD_NR_MODELS && off < len; i++)
        if (board_models[i].user)
            off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
                                    board_models[i].name);
}

void board_print_models(FILE *f)
{
    fprintf(f, "Device models for -device MODEL,OPTION=VALUE,...:\n");
    for (size_t i = 0; i < BOARD_NR_MODELS; i++)
        if (board_models[i].user)
            fprintf(f, "  %-18s %s\n", board_models[i].name, board_models[i].summary);
    fprintf(f,
            "NICs take netdev=ID (a -netdev's id) and mac=52:54:00:xx:xx:xx.\n"
            "-nic TYPE,model=MODEL,... takes a NIC model (default %s) and a backend at once.\n",
            CLI_NIC_DEFAULT_MODEL);
}

static int board_place_device(struct vm *vm, struct opts *o, char *err, size_t errlen)
{
    struct machine *m = &vm->machine;
    const char *driver = opts_get(o, "driver");
    const struct board_model *bm = driver ? board_find(driver) : NULL;
    if (!bm || !bm->user) {
        char list[256];
        board_list_user_models(list, sizeof(list));
        snprintf(err, errlen, "%s %s: unknown device model '%s' (available: %s)",
                 opts_origin(o, "-device"), o->text, driver ? driver : "", list);
        return -EINVAL;
    }
    unsigned before = m->nr_devices;
    char sub[256];
    int rc = bm->place(vm, o, sub, sizeof(sub));
    if (rc == 0)
        rc = opts_check_unused(o, driver, sub, sizeof(sub));
    if (rc) {
        snprintf(err, errlen, "%s %s: %s", opts_origin(o, "-device"), o->text, sub);
        return rc;
    }
    for (unsigned i = before; i < m->nr_devices; i++)
        m->dev[i].opts = o;
    return 0;
}

int board_place(struct vm *vm, char *err, size_t errlen)
{
    static const char *const builtin[] = {"uart", "i8042", "post", "pci-host"};
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        int rc = board_find(builtin[i])->place(vm, NULL, err, errlen);
        if (rc)
            return rc;
    }
    for (unsigned i = 0; i < vm->cfg->nr_device; i++) {
        int rc = board_place_device(vm, vm->cfg->device[i], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int board_create(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->machine.nr_devices; i++) {
        struct machine_device *d = &vm->machine.dev[i];
        const struct board_model *bm = board_find(d->model);
        if (!bm) {
            snprintf(err, errlen, "%s: no model '%s'", d->id, d->model);
            return -EINVAL;
        }
        int rc = bm->create(vm, d, err, errlen);
        if (rc) {
            if (!err[0])
                snprintf(err, errlen, "%s: %s", d->id, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

void board_destroy(struct vm *vm)
{
    for (unsigned i = vm->machine.nr_devices; i-- > 0;) {
        struct machine_device *d = &vm->machine.dev[i];
        const struct board_model *bm = board_find(d->model);
        if (bm && bm->destroy && d->state)
            bm->destroy(vm, d);
        d->state = NULL;
    }
}

json_t *board_device_info(struct machine_device *d)
{
    const struct board_model *bm = board_find(d->model);
    return bm && bm->info && d->state ? bm->info(d) : NULL;
}
