/* Scatter-gather helpers shared by the NIC models and the network layer: frames travel as
 * iovecs over guest buffers and are copied only where a linear copy is unavoidable. */
#ifndef NICVM_IOV_H
#define NICVM_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* iov_to_buf: copies up to len bytes starting at byte `off` of iov into buf. Returns the
 * bytes copied (fewer if the iovecs end first). */
size_t iov_to_buf(const struct iovec *iov, int iovcnt, size_t off, void *buf, size_t len);

/* iov_from_buf: copies len bytes of buf into iov starting at byte `off`. Returns the bytes
 * copied (fewer if the iovecs end first). */
size_t iov_from_buf(const struct iovec *iov, int iovcnt, size_t off, const void *buf, size_t len);

/* iov_slice: fills out[] (capacity max) with the part of iov from byte `off` on, at most len
 * bytes. Returns the number of entries written; *got receives the bytes they cover. */
int iov_slice(const struct iovec *iov, int iovcnt, size_t off, size_t len, struct iovec *out,
              int max, size_t *got);

/* iov_copy: copies up to len bytes from src (from byte src_off) into dst (from byte dst_off).
 * Returns the bytes copied (fewer when either side ends). */
size_t iov_copy(const struct iovec *dst, int dstcnt, size_t dst_off, const struct iovec *src,
                int srccnt, size_t src_off, size_t len);

/* iov_size: total bytes of the iovecs. */
size_t iov_size(const struct iovec *iov, int iovcnt);

#endif
