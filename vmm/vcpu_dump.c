/* vCPU failure reports: the exit decoded (reason, suberror, KVM's data words), the faulting
 * instruction read through the guest's page tables and disassembled with Capstone, and the
 * general, segment and control registers. Printed as one block on stderr so that a failure
 * is never silent. */
#include "vmm/log.h"
#include "vmm/vcpu.h"

#include <capstone/capstone.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

static const char *internal_suberror(uint32_t s)
{
    switch (s) {
    case KVM_INTERNAL_ERROR_EMULATION:
        return "emulation failure: KVM cannot emulate this instruction";
    case KVM_INTERNAL_ERROR_SIMUL_EX: return "exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV: return "event delivery failed";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "unexpected VM exit reason";
    default: return "unknown suberror";
    }
}

/* Reads up to `len` bytes at a guest linear address (rip, rsp), page by page through
 * KVM_TRANSLATE. Returns how many bytes were readable. */
static size_t read_insn(struct vcpu *v, uint64_t linear, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct kvm_translation t = {.linear_address = linear + got};
        if (ioctl(v->fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
            break;
        size_t in_page = 4096 - ((linear + got) & 4095);
        size_t n = len - got < in_page ? len - got : in_page;
        if (gmem_read(&v->vm->mem, t.physical_address, buf + got, n) < 0)
            break;
        got += n;
    }
    return got;
}

static void print_disassembly(struct vcpu *v, const struct kvm_regs *r, const struct kvm_sregs *s,
                              enum log_level lvl)
{
    uint8_t bytes[16];
    size_t n = 0;
    struct kvm_run *run = v->run;
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
        run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
        (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
        n = run->emulation_failure.insn_size;
        if (n > sizeof(bytes))
            n = sizeof(bytes);
        memcpy(bytes, run->emulation_failure.insn_bytes, n);
    } else {
        n = read_insn(v, s->cs.base + r->rip, bytes, 15);
    }
    char hex[3 * 16 + 1] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", bytes[i]);
    cs_mode mode = s->cs.l ? CS_MODE_64 : s->cs.db ? CS_MODE_32 : CS_MODE_16;
    csh h;
    cs_insn *insn = NULL;
    size_t count = 0;
    if (n && cs_open(CS_ARCH_X86, mode, &h) == CS_ERR_OK) {
        count = cs_disasm(h, bytes, n, r->rip, 1, &insn);
        if (count)
            log_msg(lvl, "vCPU %u: at rip 0x%016llx: %s %s   [%s]", v->id,
                    (unsigned long long)r->rip, insn[0].mnemonic, insn[0].op_str, hex);
        cs_free(insn, count);
        cs_close(&h);
    }
    if (!count)
        log_msg(lvl, "vCPU %u: at rip 0x%016llx: %s", v->id, (unsigned long long)r->rip,
                n ? "bytes do not decode" : "instruction not readable (rip not mapped)");
    if (!count && n)
        log_msg(lvl, "vCPU %u: bytes: %s", v->id, hex);
}

static void print_exit_detail(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    const char *name = stats_exit_name(run->exit_reason);
    log_err("vCPU %u: exit reason %u (KVM_EXIT_%s)", v->id, run->exit_reason, name ? name : "?");
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
        log_err("vCPU %u: suberror %u: %s", v->id, run->internal.suberror,
                internal_suberror(run->internal.suberror));
        char words[256] = "";
        size_t off = 0;
        for (uint32_t i = 0; i < run->internal.ndata && i < 16 && off < sizeof(words); i++)
            off += (size_t)snprintf(words + off, sizeof(words) - off, " 0x%llx",
                                    (unsigned long long)run->internal.data[i]);
        if (run->internal.ndata)
            log_err("vCPU %u: data:%s", v->id, words);
    } else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY) {
        log_err("vCPU %u: hardware entry failure reason 0x%llx on host CPU %u", v->id,
                (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
                run->fail_entry.cpu);
    } else if (run->exit_reason == KVM_EXIT_SYSTEM_EVENT) {
        log_err("vCPU %u: system event type %u", v->id, run->system_event.type);
    }
}

static void print_registers(struct vcpu *v, const struct kvm_regs *r, const struct kvm_sregs *s,
                            enum log_level lvl)
{
    log_msg(lvl, "vCPU %u: rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx", v->id, r->rax, r->rbx,
            r->rcx, r->rdx);
    log_msg(lvl, "vCPU %u: rsi=%016llx rdi=%016llx rsp=%016llx rbp=%016llx", v->id, r->rsi, r->rdi,
            r->rsp, r->rbp);
    log_msg(lvl, "vCPU %u: r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx", v->id, r->r8, r->r9,
            r->r10, r->r11);
    log_msg(lvl, "vCPU %u: r12=%016llx r13=%016llx r14=%016llx r15=%016llx", v->id, r->r12, r->r13,
            r->r14, r->r15);
    log_msg(lvl, "vCPU %u: rip=%016llx rflags=%08llx cs=%04x(l=%u db=%u) ss=%04x ds=%04x", v->id,
            r->rip, r->rflags, s->cs.selector, s->cs.l, s->cs.db, s->ss.selector, s->ds.selector);
    log_msg(lvl, "vCPU %u: cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx", v->id,
            s->cr0, s->cr2, s->cr3, s->cr4, s->efer);
}

void vcpu_report(struct vcpu *v, const char *what)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    log_err("vCPU %u: %s", v->id, what);
    print_exit_detail(v);
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        log_err("vCPU %u: registers unavailable", v->id);
        return;
    }
    print_disassembly(v, &r, &s, LOG_ERROR);
    print_registers(v, &r, &s, LOG_ERROR);
}

void vcpu_dump_state(struct vcpu *v)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        log_err("vCPU %u: registers unavailable", v->id);
        return;
    }
    log_info("vCPU %u: state on request", v->id);
    print_disassembly(v, &r, &s, LOG_INFO);
    print_registers(v, &r, &s, LOG_INFO);
    uint64_t stack[16];
    size_t n = read_insn(v, s.ss.base + r.rsp, (uint8_t *)stack, sizeof(stack)) / 8;
    for (size_t i = 0; i < n; i += 4) {
        char line[128] = "";
        size_t off = 0;
        for (size_t j = i; j < n && j < i + 4; j++)
            off += (size_t)snprintf(line + off, sizeof(line) - off, " %016llx",
                                    (unsigned long long)stack[j]);
        log_info("vCPU %u: stack +0x%02zx:%s", v->id, i * 8, line);
    }
}
