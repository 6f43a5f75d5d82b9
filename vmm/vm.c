/* VM lifetime: prepare (inputs), create (KVM and devices), run (threads), destroy. The
 * statistics and NIC reports are in vm_report.c. */
#define _GNU_SOURCE
#include "vmm/vm.h"
#include "boot/cmdline.h"
#include "boot/fdt.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "boot/x86tables.h"
#include "boot/zeropage.h"
#include "vmm/board.h"
#include "vmm/console.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/monitor.h"
#include "vmm/trace.h"
#include "vmm/vcpu.h"
#include "net/backend.h"
#include "net/dump.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#define VM_CMDLINE_BUF 8192

static int read_file(const char *what, const char *path, uint8_t **out, size_t *len, char *err,
                     size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -ENOENT;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        snprintf(err, errlen, "%s '%s' is not a regular, non-empty file", what, path);
        close(fd);
        return -EINVAL;
    }
    uint8_t *buf = malloc((size_t)st.st_size);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        snprintf(err, errlen, "cannot read %s '%s'", what, path);
        free(buf);
        return -EIO;
    }
    *out = buf;
    *len = got;
    return 0;
}

/* Reads and probes the kernel, and checks that it fits below the PCI hole. */
static int vm_prepare_kernel(struct vm *vm, char *err, size_t errlen)
{
    const char *path = vm->cfg->kernel;
    int rc = read_file("kernel", path, &vm->kernel_img, &vm->kernel_len, err, errlen);
    if (rc)
        return rc;
    char why[256];
    rc = boot_probe_kernel(vm->kernel_img, vm->kernel_len, &vm->kernel, why, sizeof(why));
    if (rc) {
        snprintf(err, errlen, "-kernel %s: %s", path, why);
        return rc;
    }
    if (vm->kernel.load_end > vm->machine.low_ram_size) {
        snprintf(err, errlen,
                 "guest memory too small for the kernel: it needs %llu MiB below the PCI hole, "
                 "-m gives %llu MiB (raise -m)",
                 (unsigned long long)((vm->kernel.load_end + (1 << 20) - 1) >> 20),
                 (unsigned long long)(vm->machine.low_ram_size >> 20));
        return -ENOMEM;
    }
    return 0;
}

static int vm_prepare_initrd(struct vm *vm, char *err, size_t errlen)
{
    const char *path = vm->cfg->initrd;
    vm->initrd_fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (vm->initrd_fd < 0 || fstat(vm->initrd_fd, &st) < 0) {
        snprintf(err, errlen, "cannot open initrd '%s': %s", path, strerror(errno));
        return -ENOENT;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "initrd '%s' is not a regular file", path);
        return -EINVAL;
    }
    vm->initrd_size = (uint64_t)st.st_size;
    uint64_t addr;
    if (boot_place_initrd(&vm->kernel, vm->machine.low_ram_size, vm->initrd_size, &addr) < 0) {
        snprintf(err, errlen,
                 "guest memory too small for kernel plus initrd: %llu MiB of RAM, kernel ends "
                 "at %llu MiB, initrd is %llu MiB (raise -m)",
                 (unsigned long long)(vm->machine.ram_size >> 20),
                 (unsigned long long)(vm->kernel.load_end >> 20),
                 (unsigned long long)(vm->initrd_size >> 20));
        return -ENOMEM;
    }
    return 0;
}

struct netdev *vm_find_netdev(struct vm *vm, const char *id)
{
    for (unsigned i = 0; i < vm->nr_netdevs; i++)
        if (strcmp(netdev_id(vm->netdev[i]), id) == 0)
            return vm->netdev[i];
    return NULL;
}

static int vm_open_netdevs(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->cfg->nr_netdev; i++) {
        struct opts *o = vm->cfg->netdev[i];
        const char *id = opts_get(o, "id");
        if (id && vm_find_netdev(vm, id)) {
            snprintf(err, errlen, "%s %s: id '%s' is used twice", opts_origin(o, "-netdev"),
                     o->text, id);
            return -EINVAL;
        }
        struct netdev *nd = netdev_create(vm->loop, o, err, errlen);
        if (!nd)
            return -EINVAL;
        vm->netdev[vm->nr_netdevs++] = nd;
    }
    return 0;
}

static int vm_open_objects(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->cfg->nr_object; i++) {
        struct opts *o = vm->cfg->object[i];
        const char *type = opts_get(o, "qom-type");
        struct netdump_config dc;
        char sub[256] = "";
        if (!type || strcmp(type, "filter-dump") != 0) {
            snprintf(err, errlen, "-object %s: unknown object type '%s' (available: filter-dump)",
                     o->text, type ? type : "");
            return -EINVAL;
        }
        int rc = netdump_parse(o, &dc, sub, sizeof(sub));
        struct netdev *nd = rc ? NULL : vm_find_netdev(vm, dc.netdev);
        if (!rc && !nd) {
            snprintf(sub, sizeof(sub), "netdev=%s: no -netdev with that id", dc.netdev);
            rc = -EINVAL;
        }
        if (!rc)
            rc = opts_check_unused(o, "filter-dump", sub, sizeof(sub));
        struct netdump *d = rc ? NULL : netdump_open(&dc, sub, sizeof(sub));
        if (!d || netdump_attach(d, nd) < 0) {
            snprintf(err, errlen, "-object %s: %s", o->text, sub[0] ? sub : "cannot attach");
            netdump_close(d);
            return -EINVAL;
        }
        vm->dump[vm->nr_dumps++] = d;
    }
    return 0;
}

static json_t *vm_monitor_stats(void *opaque)
{
    return vm_stats_json(opaque);
}

static void vm_monitor_quit(void *opaque)
{
    vm_request_stop(opaque, VM_STOP_USER_QUIT, NICVM_EXIT_OK);
}

static const struct monitor_ops vm_monitor_ops = {vm_monitor_stats, vm_monitor_quit};

/* The control socket listens from here on; it is served once vm_run starts the loop. */
static int vm_open_monitor(struct vm *vm, char *err, size_t errlen)
{
    struct monitor_env env = {vm->loop,        vm->netdev, vm->nr_netdevs, &vm->machine,
                              &vm_monitor_ops, vm,         vm->dump,       vm->nr_dumps};
    vm->monitor = monitor_create(&env, vm->cfg->monitor, err, errlen);
    return vm->monitor ? 0 : -EINVAL;
}

/* Builds the device tree and, with --dump-dtb, writes it out. */
static int vm_prepare_dtb(struct vm *vm, char *err, size_t errlen)
{
    if ((vm->machine.discovery & MACHINE_DISCOVERY_DTB) && vm->kernel.hdr.version < 0x0209) {
        snprintf(err, errlen,
                 "--virtio-discovery with a device tree needs boot protocol 2.09 "
                 "(setup_data); this kernel has an older one");
        return -EINVAL;
    }
    vm->dtb = malloc(BOOT_SETUP_DATA_MAX);
    if (!vm->dtb)
        return -ENOMEM;
    long n = boot_fdt_build(&vm->machine, vm->dtb, BOOT_SETUP_DATA_MAX - 16);
    if (n < 0) {
        snprintf(err, errlen, "cannot build the device tree: %s", strerror((int)-n));
        return (int)n;
    }
    vm->dtb_len = (size_t)n;
    if (vm->cfg->dump_dtb) {
        FILE *f = fopen(vm->cfg->dump_dtb, "wb");
        if (!f || fwrite(vm->dtb, 1, vm->dtb_len, f) != vm->dtb_len || fclose(f) != 0) {
            snprintf(err, errlen, "--dump-dtb %s: cannot write: %s", vm->cfg->dump_dtb,
                     strerror(errno));
            return -EIO;
        }
    }
    return 0;
}

int vm_prepare(struct vm *vm, struct nicvm_config *cfg, char *err, size_t errlen)
{
    memset(vm, 0, sizeof(*vm));
    vm->cfg = cfg;
    vm->kvm_fd = vm->vm_fd = vm->initrd_fd = -1;
    vm->kvm_stats.fd = -1;
    pthread_mutex_init(&vm->stop_lock, NULL);
    vm->pvm = kvm_host_is_pvm();
    vm->pvm_quirks = vm->pvm && !cfg->no_pvm_quirks;
    if (machine_init(&vm->machine, cfg->mem_size, cfg->smp) < 0) {
        snprintf(err, errlen, "-m %llu: memory must be a multiple of 4 KiB",
                 (unsigned long long)cfg->mem_size);
        return -EINVAL;
    }
    if (cfg->virtio_discovery)
        vm->machine.discovery = (enum machine_discovery)cfg->virtio_discovery;
    /* Tracing first: devices and backends create their tracks as they are made. */
    if (cfg->trace && trace_open(cfg->trace, cfg->trace_filter, err, errlen) < 0)
        return -EINVAL;
    if (!cfg->trace && cfg->trace_filter) {
        snprintf(err, errlen, "--trace-filter needs --trace FILE");
        return -EINVAL;
    }
    /* Handler times are measured only when someone will read them. */
    vm->timing = cfg->exit_stats != EXIT_STATS_OFF || cfg->monitor || trace_mask;
    /* Backends first: -device NICs name them. */
    vm->loop = evloop_create();
    if (!vm->loop)
        return -ENOMEM;
    int rc = vm_open_netdevs(vm, err, errlen);
    if (!rc)
        rc = board_place(vm, err, errlen);
    if (!rc)
        rc = vm_open_objects(vm, err, errlen);
    if (!rc && cfg->monitor)
        rc = vm_open_monitor(vm, err, errlen);
    if (rc)
        return rc;
    if ((rc = vm_prepare_kernel(vm, err, errlen)))
        return rc;
    if (cfg->initrd && (rc = vm_prepare_initrd(vm, err, errlen)))
        return rc;
    if ((rc = vm_prepare_dtb(vm, err, errlen)))
        return rc;
    vm->cmdline = malloc(VM_CMDLINE_BUF);
    if (!vm->cmdline)
        return -ENOMEM;
    size_t max =
        vm->kernel.cmdline_max < VM_CMDLINE_BUF - 1 ? vm->kernel.cmdline_max : VM_CMDLINE_BUF - 1;
    rc = boot_build_cmdline(&vm->machine, cfg->append, vm->pvm_quirks, max, vm->cmdline,
                            VM_CMDLINE_BUF, err, errlen);
    if (rc < 0)
        return rc;
    if (vm->pvm_quirks)
        log_info("PVM host (/sys/module/kvm_pvm): adding '%s' to the kernel command line and "
                 "reporting an Intel CPU (--no-pvm-quirks turns this off)",
                 BOOT_PVM_QUIRKS);
    return 0;
}

static int vm_load_initrd(struct vm *vm, uint64_t *addr, char *err, size_t errlen)
{
    if (boot_place_initrd(&vm->kernel, vm->machine.low_ram_size, vm->initrd_size, addr) < 0)
        return -ENOMEM; /* checked in vm_prepare */
    uint8_t *dst = gmem_ptr(&vm->mem, *addr, vm->initrd_size);
    uint64_t got = 0;
    while (dst && got < vm->initrd_size) {
        ssize_t n = pread(vm->initrd_fd, dst + got, vm->initrd_size - got, (off_t)got);
        if (n <= 0)
            break;
        got += (uint64_t)n;
    }
    if (!dst || got != vm->initrd_size) {
        snprintf(err, errlen, "cannot read initrd '%s'", vm->cfg->initrd);
        return -EIO;
    }
    return 0;
}

/* Writes the kernel, initrd, command line, zero page, MP table, GDT and page tables. */
static int vm_load_boot(struct vm *vm, char *err, size_t errlen)
{
    int rc = boot_load_kernel(vm->kernel_img, vm->kernel_len, &vm->kernel, &vm->mem, err, errlen);
    if (rc)
        return rc;
    struct boot_placement pl = {.cmdline_addr = BOOT_CMDLINE_ADDR};
    if (vm->cfg->initrd) {
        rc = vm_load_initrd(vm, &pl.initrd_addr, err, errlen);
        if (rc)
            return rc;
        pl.initrd_size = vm->initrd_size;
    }
    size_t cmdlen = strlen(vm->cmdline) + 1;
    if (gmem_write(&vm->mem, BOOT_CMDLINE_ADDR, vm->cmdline, cmdlen) < 0)
        return -EFAULT;
    struct boot_params *bp = gmem_ptr(&vm->mem, BOOT_ZEROPAGE_ADDR, sizeof(*bp));
    uint8_t *mp = gmem_ptr(&vm->mem, BOOT_MPTABLE_ADDR, 0xA0000 - BOOT_MPTABLE_ADDR);
    if (!bp || !mp)
        return -EFAULT;
    if (vm->machine.discovery & MACHINE_DISCOVERY_DTB) {
        /* One setup_data node (boot protocol 2.09) holding the device tree. */
        struct setup_data sd = {.next = 0, .type = SETUP_DTB, .len = (uint32_t)vm->dtb_len};
        if (gmem_write(&vm->mem, BOOT_SETUP_DATA_ADDR, &sd, sizeof(sd)) < 0 ||
            gmem_write(&vm->mem, BOOT_SETUP_DATA_ADDR + sizeof(sd), vm->dtb, vm->dtb_len) < 0)
            return -EFAULT;
        pl.setup_data_addr = BOOT_SETUP_DATA_ADDR;
    }
    boot_build_zeropage(&vm->machine, &vm->kernel, &pl, bp);
    if (mptable_build(&vm->machine, mp, 0xA0000 - BOOT_MPTABLE_ADDR, BOOT_MPTABLE_ADDR) < 0) {
        snprintf(err, errlen, "MP table does not fit in 1 KiB (too many vCPUs or devices)");
        return -ENOSPC;
    }
    rc = boot_write_gdt(&vm->mem);
    if (!rc)
        rc = boot_write_pagetables(&vm->mem);
    return rc;
}

static void vm_console_quit(void *opaque)
{
    log_info("Ctrl-A x: stopping the VM");
    vm_request_stop(opaque, VM_STOP_USER_QUIT, NICVM_EXIT_OK);
}

static void vm_console_stats(void *opaque)
{
    struct vm *vm = opaque;
    struct vm_stats_view view;
    vm_stats_view(vm, &view);
    stats_print_text(stderr, &view.src);
}

static void vm_console_regs(void *opaque)
{
    struct vm *vm = opaque;
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_request_dump(vm->vcpu[i]);
}

static const struct console_ops vm_console_ops = {vm_console_quit, vm_console_stats,
                                                  vm_console_regs};

int vm_create(struct vm *vm, char *err, size_t errlen)
{
    vm->bus = iobus_create();
    if (!vm->bus)
        return -ENOMEM;
    iobus_set_debug(vm->bus, vm->cfg->debug_io);
    int rc = kvm_init(vm, err, errlen);
    if (!rc)
        kvmstats_open(&vm->kvm_stats, vm->vm_fd); /* optional */
    if (!rc)
        rc = kvm_setup_memory(vm, err, errlen);
    if (!rc)
        rc = kvm_setup_irq_lines(vm, err, errlen);
    if (rc)
        return rc;
    vm->console = console_create(vm->loop, &vm_console_ops, vm);
    if (!vm->console)
        return -ENOMEM;
    rc = board_create(vm, err, errlen);
    if (!rc)
        rc = vm_load_boot(vm, err, errlen);
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "loading the kernel failed: %s", strerror(-rc));
        return rc;
    }
    rc = vcpu_signal_init();
    for (unsigned i = 0; !rc && i < vm->machine.ncpus; i++) {
        rc = vcpu_create(vm, i, &vm->vcpu[i], err, errlen);
        if (!rc)
            vm->nr_vcpus++;
    }
    return rc;
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status)
{
    pthread_mutex_lock(&vm->stop_lock);
    if (!vm->stopping) {
        vm->stop_reason = reason;
        vm->exit_status = status;
        atomic_store_explicit(&vm->stopping, true, memory_order_release);
    }
    pthread_mutex_unlock(&vm->stop_lock);
    if (vm->loop)
        evloop_stop(vm->loop);
}

/* Signals are taken by a thread of their own rather than by the event loop, so that a stop
 * request is honoured even if the loop is wedged: after the request, the thread gives the
 * VM 10 s to wind down, then exits the process (a second signal exits at once). */
static void *vm_signal_thread(void *opaque)
{
    struct vm *vm = opaque;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    int sig, signals = 0;
    for (;;) {
        struct timespec wait = {10, 0};
        siginfo_t si;
        sig = vm_stopping(vm) ? sigtimedwait(&set, &si, &wait) : sigwaitinfo(&set, &si);
        if (sig < 0 && errno == EINTR)
            continue;
        pthread_mutex_lock(&vm->stop_lock);
        bool done = vm->stopped;
        pthread_mutex_unlock(&vm->stop_lock);
        if (done)
            return NULL;
        if (sig < 0 || ++signals > 1) {
            int status = vm->exit_status ? vm->exit_status : 128 + (sig > 0 ? sig : SIGTERM);
            log_err("the VM did not stop within 10 s of the request; exiting now");
            console_emergency_restore();
            _exit(status);
        }
        log_info("received %s, stopping the VM", strsignal(sig));
        vm_request_stop(vm, VM_STOP_SIGNAL, 128 + sig);
    }
}

static int vm_setup_signals(struct vm *vm)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* Blocked in this thread before any other starts, so every thread inherits the mask and
     * only the signal thread's sigwaitinfo() takes them. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -EINVAL;
    signal(SIGPIPE, SIG_IGN);
    int rc = pthread_create(&vm->signal_thread, NULL, vm_signal_thread, vm);
    if (rc)
        return -rc;
    vm->signal_thread_started = true;
    return 0;
}

/* Ends the signal thread once the VM has fully stopped. */
static void vm_stop_signal_thread(struct vm *vm)
{
    if (!vm->signal_thread_started)
        return;
    pthread_mutex_lock(&vm->stop_lock);
    vm->stopped = true;
    pthread_mutex_unlock(&vm->stop_lock);
    pthread_kill(vm->signal_thread, SIGHUP); /* wakes sigwaitinfo; it sees `stopped` */
    pthread_join(vm->signal_thread, NULL);
    vm->signal_thread_started = false;
}

int vm_run(struct vm *vm)
{
    int rc = vm_setup_signals(vm);
    if (rc == 0)
        rc = console_start(vm->console, vm->uart);
    for (unsigned i = 0; rc == 0 && i < vm->nr_vcpus; i++)
        rc = vcpu_start(vm->vcpu[i]);
    if (rc) {
        log_err("starting the VM failed: %s", strerror(-rc));
        vm_request_stop(vm, VM_STOP_HOST_ERROR, NICVM_EXIT_HOST);
    } else if (evloop_run(vm->loop) < 0) {
        log_err("event loop failed: %s", strerror(errno));
        vm_request_stop(vm, VM_STOP_HOST_ERROR, NICVM_EXIT_HOST);
    }
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(vm->vcpu[i]);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_join(vm->vcpu[i]);
    trace_close();
    console_destroy(vm->console);
    vm->console = NULL;
    if (vm->cfg->exit_stats != EXIT_STATS_OFF)
        vm_print_stats(vm);
    vm_stop_signal_thread(vm);
    return vm->exit_status;
}

void vm_destroy(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_destroy(vm->vcpu[i]);
    vm->nr_vcpus = 0;
    monitor_destroy(vm->monitor); /* its captures before the netdevs they observe */
    vm->monitor = NULL;
    board_destroy(vm);
    for (unsigned i = 0; i < vm->nr_dumps; i++)
        netdump_close(vm->dump[i]);
    for (unsigned i = 0; i < vm->nr_netdevs; i++)
        netdev_destroy(vm->netdev[i]);
    vm->nr_dumps = vm->nr_netdevs = 0;
    console_destroy(vm->console);
    vm->console = NULL;
    kvmstats_close(&vm->kvm_stats);
    trace_close();
    kvm_cleanup(vm);
    if (vm->initrd_fd >= 0)
        close(vm->initrd_fd);
    evloop_destroy(vm->loop);
    iobus_destroy(vm->bus);
    free(vm->kernel_img);
    free(vm->cmdline);
    free(vm->dtb);
    vm->dtb = NULL;
    vm->loop = NULL;
    vm->bus = NULL;
    vm->kernel_img = NULL;
    vm->cmdline = NULL;
}
