/* Reader for KVM's binary statistics file: header, descriptors (struct kvm_stats_desc
 * followed by a name of name_size bytes), then the u64 data. */
#include "vmm/kvmstats.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int kvmstats_open(struct kvmstats *s, int kvm_object_fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = ioctl(kvm_object_fd, KVM_GET_STATS_FD, NULL);
    if (s->fd < 0) {
        s->fd = -1;
        return -errno;
    }
    struct kvm_stats_header h;
    if (pread(s->fd, &h, sizeof(h), 0) != sizeof(h) || h.name_size == 0 || h.name_size > 4096) {
        kvmstats_close(s);
        return -EIO;
    }
    size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
    size_t total = dsz * h.num_desc;
    uint8_t *buf = malloc(total ? total : 1);
    if (!buf || pread(s->fd, buf, total, h.desc_offset) != (ssize_t)total) {
        free(buf);
        kvmstats_close(s);
        return -EIO;
    }
    s->data_offset = h.data_offset;
    for (uint32_t i = 0; i < h.num_desc && s->n < KVMSTATS_MAX; i++) {
        const struct kvm_stats_desc *d = (const void *)(buf + i * dsz);
        struct kvmstats_item *it = &s->item[s->n++];
        size_t len = strnlen(d->name, h.name_size);
        if (len >= sizeof(it->name))
            len = sizeof(it->name) - 1;
        memcpy(it->name, d->name, len);
        it->name[len] = '\0';
        it->offset = d->offset;
        it->size = d->size;
        it->cumulative = (d->flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_CUMULATIVE;
    }
    free(buf);
    return 0;
}

int kvmstats_read(const struct kvmstats *s, uint64_t *values)
{
    if (s->fd < 0)
        return -ENODEV;
    for (unsigned i = 0; i < s->n; i++) {
        uint64_t v = 0;
        if (pread(s->fd, &v, sizeof(v), (off_t)(s->data_offset + s->item[i].offset)) != sizeof(v))
            return -EIO;
        values[i] = v;
    }
    return 0;
}

int kvmstats_find(const struct kvmstats *s, const char *name)
{
    for (unsigned i = 0; i < s->n; i++)
        if (strcmp(s->item[i].name, name) == 0)
            return (int)i;
    return -1;
}

void kvmstats_close(struct kvmstats *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}
