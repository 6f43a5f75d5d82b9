/* One-line summaries of Ethernet frames for traces ("IPv4 UDP 10.0.2.15:68 > 10.0.2.2:67
 * DHCP"), read from the first bytes of the frame only and never trusting a length field past
 * what is there. */
#ifndef NICVM_PKTSUM_H
#define NICVM_PKTSUM_H

#include <stddef.h>
#include <sys/uio.h>

/* pkt_summary: writes a summary of the len-byte frame in iov into out (always
 * NUL-terminated). */
void pkt_summary(const struct iovec *iov, int iovcnt, size_t len, char *out, size_t outlen);

#endif
