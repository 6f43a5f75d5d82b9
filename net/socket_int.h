/* Internals of the socket backend shared by socket.c (options, the ops table, the UDP mode)
 * and socket_stream.c (the TCP stream mode, listen= and connect=). Not for use outside
 * net/socket*. */
#ifndef NICVM_NET_SOCKET_INT_H
#define NICVM_NET_SOCKET_INT_H

#include "net/backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* socket_resolve: HOST:PORT or [V6ADDR]:PORT into *sa (an empty HOST: the wildcard address)
 * for sockets of `socktype` (SOCK_DGRAM, SOCK_STREAM) and `family` (AF_UNSPEC: any).
 * Returns 0 or -EINVAL. */
int socket_resolve(const char *spec, int family, int socktype, struct sockaddr_storage *sa,
                   socklen_t *len);

/* socket_addr_str: sa as "HOST:PORT" or "[V6ADDR]:PORT" into buf (bufsz bytes); returns buf. */
const char *socket_addr_str(const struct sockaddr_storage *sa, char *buf, size_t bufsz);

/* socket_same_addr: a and b are the same IPv4 or IPv6 address and port. */
bool socket_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* The stream mode's state (socket_stream.c). */
struct sockstream;

/* sockstream_open: listen (listen=[HOST]:PORT, spec) or connect (connect=HOST:PORT) for nd,
 * with the link down until a peer is connected. Returns the state in *out, or -errno with a
 * one-line message naming the option in err. */
int sockstream_open(struct netdev *nd, bool listen_mode, const char *spec, struct sockstream **out,
                    char *err, size_t errlen);
/* sockstream_close: closes every socket and frees ss (NULL: nothing). */
void sockstream_close(struct sockstream *ss);
/* sockstream_send: one frame (len bytes in iov) as a 4-byte big-endian length and the bytes.
 * Returns 0, -EAGAIN (full: netdev_backend_writable() follows) or -errno (frame lost). */
int sockstream_send(struct sockstream *ss, const struct iovec *iov, int iovcnt, size_t len);
/* sockstream_rx_pause / sockstream_rx_resume: stop and restart delivering to the NIC. */
void sockstream_rx_pause(struct sockstream *ss);
void sockstream_rx_resume(struct sockstream *ss);
/* sockstream_info: mode, connection and counters as a new jansson object. */
json_t *sockstream_info(struct sockstream *ss);

#endif
