/* Kernel command line assembly from the machine description. */
#include "boot/cmdline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct strbuf {
    char *p;
    size_t cap, len;
    bool overflow;
};

static void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int n = vsnprintf(b->p + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        b->overflow = true;
    else
        b->len += (size_t)n;
}

/* True if the command line already names `param` as a whole word ("console=" etc.). */
static bool has_param(const char *cmdline, const char *param)
{
    size_t n = strlen(param);
    for (const char *s = cmdline; (s = strstr(s, param)) != NULL; s += n)
        if (s == cmdline || s[-1] == ' ')
            return true;
    return false;
}

int boot_build_cmdline(const struct machine *m, const char *user, bool pvm_quirks, size_t max_len,
                       char *out, size_t outlen, char *err, size_t errlen)
{
    struct strbuf b = {out, outlen, 0, false};
    out[0] = '\0';
    if (!user || !has_param(user, "console="))
        sb_printf(&b, "console=ttyS0 ");
    if (user && *user)
        sb_printf(&b, "%s ", user);
    for (unsigned i = 0; i < m->nr_devices; i++) {
        const struct machine_device *d = &m->dev[i];
        if (d->bus == MACHINE_BUS_VIRTIO_MMIO && (m->discovery & MACHINE_DISCOVERY_CMDLINE))
            sb_printf(&b, "virtio_mmio.device=%" PRIu64 "K@0x%" PRIx64 ":%d ", d->mmio_size >> 10,
                      d->mmio_base, d->irq);
    }
    if (pvm_quirks)
        sb_printf(&b, "%s ", BOOT_PVM_QUIRKS);
    if (b.len && out[b.len - 1] == ' ')
        out[--b.len] = '\0';
    if (b.overflow || b.len > max_len) {
        snprintf(err, errlen,
                 "kernel command line is too long: %zu bytes, the kernel accepts %zu "
                 "(shorten -append)",
                 b.overflow ? outlen : b.len, max_len);
        return -E2BIG;
    }
    return (int)b.len;
}
