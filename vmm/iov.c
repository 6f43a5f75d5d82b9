/* Scatter-gather copies, bounded by the iovecs and by the lengths asked for. */
#include "vmm/iov.h"

#include <string.h>

size_t iov_to_buf(const struct iovec *iov, int iovcnt, size_t off, void *buf, size_t len)
{
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t n = iov[i].iov_len - off;
        if (n > len - done)
            n = len - done;
        memcpy((char *)buf + done, (const char *)iov[i].iov_base + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, int iovcnt, size_t off, const void *buf, size_t len)
{
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t n = iov[i].iov_len - off;
        if (n > len - done)
            n = len - done;
        memcpy((char *)iov[i].iov_base + off, (const char *)buf + done, n);
        done += n;
        off = 0;
    }
    return done;
}

int iov_slice(const struct iovec *iov, int iovcnt, size_t off, size_t len, struct iovec *out,
              int max, size_t *got)
{
    int n = 0;
    size_t done = 0;
    for (int i = 0; i < iovcnt && n < max && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t c = iov[i].iov_len - off;
        if (c > len - done)
            c = len - done;
        out[n++] = (struct iovec){(char *)iov[i].iov_base + off, c};
        done += c;
        off = 0;
    }
    *got = done;
    return n;
}

size_t iov_size(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

size_t iov_copy(const struct iovec *dst, int dstcnt, size_t dst_off, const struct iovec *src,
                int srccnt, size_t src_off, size_t len)
{
    size_t done = 0;
    int i = 0;
    /* Find the first source piece. */
    while (i < srccnt && src_off >= src[i].iov_len)
        src_off -= src[i++].iov_len;
    for (; i < srccnt && done < len; i++) {
        size_t n = src[i].iov_len - src_off;
        if (n > len - done)
            n = len - done;
        size_t c =
            iov_from_buf(dst, dstcnt, dst_off + done, (const char *)src[i].iov_base + src_off, n);
        done += c;
        src_off = 0;
        if (c < n)
            break; /* destination full */
    }
    return done;
}
