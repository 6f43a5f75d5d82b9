/* Internals of the socket backend shared by socket.c (options, the ops table, the UDP mode)
 * and socket_stream.c (the TCP stream mode, listen= and connect=). Not for use outside
 * net/socket*. */
#ifndef NICVM_NET_SOCKET_INT_H
#define NICVM_NET_SOCKET_INT_H

#include "net/backend.h"
#include "vmm/opts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address of any family the socket backends speak, with its length: an AF_UNIX address
 * is only as long as its length says. */
struct sockaddr_any {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Room for socket_addr_str(): "[V6ADDR]:PORT" or "unix:@" and a 107-byte name. */
#define SOCKET_ADDR_STRLEN 128

/* socket_resolve: HOST:PORT or [V6ADDR]:PORT into *a (an empty HOST: the wildcard address)
 * for sockets of `socktype` (SOCK_DGRAM, SOCK_STREAM) and `family` (AF_UNSPEC: any).
 * Returns 0 or -EINVAL. */
int socket_resolve(const char *spec, int family, int socktype, struct sockaddr_any *a);
/* socket_resolve_host: host (empty: the wildcard) and port as socket_resolve, with extra
 * getaddrinfo flags (AI_NUMERICHOST). Returns 0 or -EINVAL. */
int socket_resolve_host(const char *host, const char *port, int family, int socktype, int flags,
                        struct sockaddr_any *a);
/* socket_parse_addr: QEMU's SocketAddress under `prefix` in o ("addr" for addr.type=,
 * addr.host=, addr.port=, addr.path=, addr.abstract=, addr.tight=, addr.ipv4=, addr.ipv6=,
 * addr.numeric=) into *a; passive (to bind) allows an absent host; an inet address is of
 * `family` unless that is AF_UNSPEC. Returns 0 or -EINVAL with a message naming the option
 * in err. */
int socket_parse_addr(struct opts *o, const char *prefix, int socktype, bool passive, int family,
                      struct sockaddr_any *a, char *err, size_t errlen);
/* socket_has_addr: some PREFIX.* option is in o (without marking it read). */
bool socket_has_addr(struct opts *o, const char *prefix);

/* socket_addr_str: a as "HOST:PORT", "[V6ADDR]:PORT", "unix:PATH" or "unix:@NAME" (abstract)
 * into buf (bufsz bytes, SOCKET_ADDR_STRLEN is enough); returns buf. */
const char *socket_addr_str(const struct sockaddr_any *a, char *buf, size_t bufsz);
/* socket_same_addr: a and b are the same IPv4 or IPv6 address and port, or the same unix
 * path or abstract name (two unnamed unix sockets are not the same). */
bool socket_same_addr(const struct sockaddr_any *a, const struct sockaddr_any *b);
/* socket_unix_path: a's file path if a is a unix path address (not abstract), else NULL. */
const char *socket_unix_path(const struct sockaddr_any *a);
/* The stream mode's state (socket_stream.c). */
struct sockstream;

/* sockstream_open: listen on addr (listen_mode) or connect to it for nd, with the link down
 * until a peer is connected, a connect attempt every retry_ns (0: a second) until one
 * succeeds; `what` names the option for messages ("listen=:5555", "unix:/run/x.sock"). A
 * unix path to listen on is cleared first if an earlier run left its socket there, and
 * removed on close. Returns the state in *out, or -errno with a one-line message in err. */
int sockstream_open(struct netdev *nd, bool listen_mode, const struct sockaddr_any *addr,
                    uint64_t retry_ns, const char *what, struct sockstream **out, char *err,
                    size_t errlen);
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
