/* KVM VM setup (Documentation/virt/kvm/api.rst). Required capabilities are checked up front
 * so that an old or restricted KVM fails with a clear message instead of an odd ioctl error
 * later. */
#include "vmm/kvm.h"
#include "vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define KVM_MAX_CPUID_ENTRIES 256

bool kvm_host_is_pvm(void)
{
    /* A kernel that is itself a PVM guest loads kvm_pvm too but does not bind it ("this
     * kernel is itself a kvm-pvm guest; not binding"): without /dev/kvm there is no PVM
     * host, and the error that follows is about KVM, not about PVM quirks. */
    return access("/sys/module/kvm_pvm", F_OK) == 0 && access("/dev/kvm", F_OK) == 0;
}

static const struct {
    int cap;
    const char *name;
} kvm_required_caps[] = {
    {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "IRQCHIP"},
    {KVM_CAP_PIT2, "PIT2"},
    {KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "EXT_CPUID"},
    {KVM_CAP_IOEVENTFD, "IOEVENTFD"},
    {KVM_CAP_IRQFD, "IRQFD"},
    {KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"},
};

static int kvm_open_dev(struct vm *vm, char *err, size_t errlen)
{
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errlen,
                     "/dev/kvm does not exist: load KVM (modprobe kvm_intel or kvm_amd) and "
                     "check that virtualization is enabled in the firmware, or, inside a VM, "
                     "that the hypervisor offers nested virtualization");
        else if (e == EACCES || e == EPERM)
            snprintf(err, errlen,
                     "cannot open /dev/kvm: permission denied: add yourself to the kvm group "
                     "or run as root");
        else
            snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(e));
        return -e;
    }
    int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        snprintf(err, errlen,
                 "KVM API version %d, nicvm needs %d: the host kernel's KVM is too old", version,
                 KVM_API_VERSION);
        return -ENOTSUP;
    }
    for (size_t i = 0; i < sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]); i++) {
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
            snprintf(err, errlen,
                     "KVM lacks capability KVM_CAP_%s: the host kernel is too old (nicvm "
                     "needs Linux 4.13 or later)",
                     kvm_required_caps[i].name);
            return -ENOTSUP;
        }
    }
    vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->run_size < (int)sizeof(struct kvm_run)) {
        snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
        return -EIO;
    }
    return 0;
}

static int kvm_get_cpuid(struct vm *vm, char *err, size_t errlen)
{
    struct kvm_cpuid2 *c =
        calloc(1, sizeof(*c) + KVM_MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        return -ENOMEM;
    c->nent = KVM_MAX_CPUID_ENTRIES;
    if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        int e = errno;
        snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(e));
        free(c);
        return -e;
    }
    vm->supported_cpuid = c;
    return 0;
}

int kvm_init(struct vm *vm, char *err, size_t errlen)
{
    int rc = kvm_open_dev(vm, err, errlen);
    if (rc)
        return rc;
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        int e = errno;
        snprintf(err, errlen, "KVM_CREATE_VM failed: %s (is another hypervisor holding VT-x/SVM?)",
                 strerror(e));
        return -e;
    }
    /* VMX needs these pages to run real mode; harmless elsewhere. Above RAM, below 4 GiB,
     * and reserved in the e820 map. */
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)MACHINE_KVM_TSS_ADDR) < 0) {
        int e = errno;
        snprintf(err, errlen, "KVM_SET_TSS_ADDR failed: %s", strerror(e));
        return -e;
    }
    uint64_t ident = MACHINE_KVM_IDENT_ADDR;
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
        ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
        log_warn("KVM_SET_IDENTITY_MAP_ADDR failed: %s", strerror(errno));
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        int e = errno;
        snprintf(err, errlen, "KVM_CREATE_IRQCHIP failed: %s", strerror(e));
        return -e;
    }
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        int e = errno;
        snprintf(err, errlen, "KVM_CREATE_PIT2 failed: %s", strerror(e));
        return -e;
    }
    return kvm_get_cpuid(vm, err, errlen);
}

static int kvm_add_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
                        char *err, size_t errlen)
{
    struct kvm_userspace_memory_region r = {.slot = slot,
                                            .guest_phys_addr = gpa,
                                            .memory_size = size,
                                            .userspace_addr = (uint64_t)(uintptr_t)hva};
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        int e = errno;
        snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION (%llu MiB at 0x%llx) failed: %s",
                 (unsigned long long)(size >> 20), (unsigned long long)gpa, strerror(e));
        return -e;
    }
    return gmem_add_region(&vm->mem, gpa, size, hva);
}

int kvm_setup_memory(struct vm *vm, char *err, size_t errlen)
{
    const struct machine *m = &vm->machine;
    void *ram = mmap(NULL, m->ram_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) {
        int e = errno;
        snprintf(err, errlen, "cannot map %llu MiB of guest RAM: %s (lower -m)",
                 (unsigned long long)(m->ram_size >> 20), strerror(e));
        return -e;
    }
    vm->ram = ram;
    madvise(ram, m->ram_size, MADV_HUGEPAGE); /* fewer EPT/NPT misses; advisory */
    int rc = kvm_add_slot(vm, 0, 0, m->low_ram_size, ram, err, errlen);
    if (rc == 0 && m->high_ram_size)
        rc = kvm_add_slot(vm, 1, MACHINE_HIGH_RAM_START, m->high_ram_size,
                          vm->ram + m->low_ram_size, err, errlen);
    return rc;
}

static void kvm_irq_set(struct irq_line *line, bool level)
{
    struct vm *vm = line->opaque;
    struct kvm_irq_level l = {.irq = (uint32_t)line->gsi, .level = level};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
        log_warn("KVM_IRQ_LINE %d failed: %s", line->gsi, strerror(errno));
}

static void kvm_irq_pulse(struct irq_line *line)
{
    if (line->irqfd >= 0) {
        uint64_t one = 1;
        /* EAGAIN only if the counter is saturated, i.e. an interrupt is already pending. */
        if (write(line->irqfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_warn("irqfd write for GSI %d failed: %s", line->gsi, strerror(errno));
        return;
    }
    kvm_irq_set(line, true);
    kvm_irq_set(line, false);
}

int kvm_setup_irq_lines(struct vm *vm, char *err, size_t errlen)
{
    for (int gsi = 0; gsi < MACHINE_IOAPIC_PINS; gsi++) {
        struct irq_line *l = &vm->irq[gsi];
        *l = (struct irq_line){kvm_irq_set, kvm_irq_pulse, vm, gsi, -1};
    }
    /* irqfds only for edge-triggered device pins (virtio-mmio): a pulse is then one
     * eventfd write, and KVM injects without the ioctl round trip. */
    for (unsigned i = 0; i < vm->machine.nr_devices && !vm->cfg->no_irqfd; i++) {
        const struct machine_device *d = &vm->machine.dev[i];
        if (d->bus != MACHINE_BUS_VIRTIO_MMIO || d->irq < 0)
            continue;
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = (uint32_t)d->irq};
        if (fd < 0 || ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
            int e = errno;
            snprintf(err, errlen, "KVM_IRQFD for GSI %d failed: %s", d->irq, strerror(e));
            if (fd >= 0)
                close(fd);
            return -e;
        }
        vm->irq[d->irq].irqfd = fd;
    }
    return 0;
}

int kvm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool match, uint64_t value, int fd,
                  bool assign)
{
    struct kvm_ioeventfd io = {
        .datamatch = value,
        .addr = addr,
        .len = len,
        .fd = fd,
        .flags =
            (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

void kvm_cleanup(struct vm *vm)
{
    for (int gsi = 0; gsi < MACHINE_IOAPIC_PINS; gsi++)
        if (vm->irq[gsi].irqfd >= 0 && vm->irq[gsi].set)
            close(vm->irq[gsi].irqfd);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->ram)
        munmap(vm->ram, vm->machine.ram_size);
    free(vm->supported_cpuid);
    vm->vm_fd = vm->kvm_fd = -1;
    vm->ram = NULL;
    vm->supported_cpuid = NULL;
}
