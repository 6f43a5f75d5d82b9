/* Addresses of the socket backends: the legacy HOST:PORT strings of -netdev socket, QEMU 7.2's
 * SocketAddress options of -netdev stream and dgram (addr.type=inet|unix, addr.host=,
 * addr.port=, addr.path=, addr.abstract=, ...; qapi/sockets.json flattened on the command
 * line), printing and comparing them. A
 * struct sockaddr_any carries its length because an AF_UNIX address is only as long as its
 * length says (an abstract name may hold NUL bytes; unix(7)). */
#include "net/socket_int.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

int socket_resolve(const char *spec, int family, int socktype, struct sockaddr_any *a)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host))
            return -EINVAL;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    return socket_resolve_host(host, port, family, socktype, 0, a);
}

int socket_resolve_host(const char *host, const char *port, int family, int socktype, int flags,
                        struct sockaddr_any *a)
{
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = socktype,
                             .ai_flags = AI_NUMERICSERV | flags | (host[0] ? 0 : AI_PASSIVE)};
    struct addrinfo *res;
    if (!*port || getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
        return -EINVAL;
    memset(a, 0, sizeof(*a));
    memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* The AF_UNIX name in a: its bytes after sun_path's start, how many, and whether it is
 * abstract (a leading NUL). */
static size_t unix_name(const struct sockaddr_any *a, const char **name, bool *abstract)
{
    const struct sockaddr_un *un = (const void *)&a->ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = a->len > off ? a->len - off : 0;
    if (n > sizeof(un->sun_path))
        n = sizeof(un->sun_path);
    *abstract = n > 0 && un->sun_path[0] == '\0';
    *name = un->sun_path + (*abstract ? 1 : 0);
    if (*abstract)
        return n - 1;
    return strnlen(un->sun_path, n); /* a path may or may not count its NUL */
}

const char *socket_addr_str(const struct sockaddr_any *a, char *buf, size_t bufsz)
{
    if (a->ss.ss_family == AF_UNIX) {
        const char *name;
        bool abstract;
        size_t n = unix_name(a, &name, &abstract);
        if (n == 0 && !abstract)
            snprintf(buf, bufsz, "unix:(unnamed)");
        else
            snprintf(buf, bufsz, "unix:%s%.*s", abstract ? "@" : "", (int)n, name);
        return buf;
    }
    char host[INET6_ADDRSTRLEN + 8], port[8];
    socklen_t len =
        a->ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo((const struct sockaddr *)&a->ss, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(buf, bufsz, "?");
    else
        snprintf(buf, bufsz, a->ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return buf;
}

bool socket_same_addr(const struct sockaddr_any *a, const struct sockaddr_any *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
    }
    if (a->ss.ss_family != AF_UNIX)
        return false;
    const char *na, *nb;
    bool aa, ab;
    size_t la = unix_name(a, &na, &aa), lb = unix_name(b, &nb, &ab);
    return aa == ab && la == lb && (la > 0 || aa) && !memcmp(na, nb, la);
}

const char *socket_unix_path(const struct sockaddr_any *a)
{
    const struct sockaddr_un *un = (const void *)&a->ss;
    if (a->ss.ss_family != AF_UNIX || a->len <= offsetof(struct sockaddr_un, sun_path) ||
        un->sun_path[0] == '\0')
        return NULL;
    return un->sun_path; /* socket_parse_addr NUL-terminates the paths it makes */
}

/* --- QEMU's SocketAddress options ----------------------------------------------------- */

/* PREFIX.KEY's value (NULL: absent), marking it read. */
static const char *addr_opt(struct opts *o, const char *prefix, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "%s.%s", prefix, key);
    return opts_get(o, k);
}

static int addr_bool(struct opts *o, const char *prefix, const char *key, bool def, bool *out,
                     char *err, size_t errlen)
{
    char k[64];
    snprintf(k, sizeof(k), "%s.%s", prefix, key);
    return opts_get_bool(o, k, def, out, err, errlen);
}

/* type=inet: host= (empty or absent: the wildcard, passive sockets only), port=, and the
 * family filters ipv4=/ipv6= and numeric= of QEMU's InetSocketAddress. */
static int addr_inet(struct opts *o, const char *p, int socktype, bool passive, int family,
                     struct sockaddr_any *a, char *err, size_t errlen)
{
    const char *host = addr_opt(o, p, "host"), *port = addr_opt(o, p, "port");
    bool v4, v6, numeric;
    if (addr_bool(o, p, "ipv4", true, &v4, err, errlen) < 0 ||
        addr_bool(o, p, "ipv6", true, &v6, err, errlen) < 0 ||
        addr_bool(o, p, "numeric", false, &numeric, err, errlen) < 0)
        return -EINVAL;
    if (!port || !*port || (!passive && (!host || !*host))) {
        if (passive)
            snprintf(err, errlen, "%s.type=inet needs %s.port=PORT", p, p);
        else
            snprintf(err, errlen, "%s.type=inet needs %s.host=HOST and %s.port=PORT", p, p, p);
        return -EINVAL;
    }
    if (!v4 && !v6) {
        snprintf(err, errlen, "%s.ipv4=off and %s.ipv6=off leave no address family", p, p);
        return -EINVAL;
    }
    int want = v4 && v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6;
    if (family != AF_UNSPEC && want != AF_UNSPEC && want != family) {
        snprintf(err, errlen, "%s.ipv%c=off excludes the family of the other address", p,
                 family == AF_INET ? '4' : '6');
        return -EINVAL;
    }
    if (family == AF_UNSPEC)
        family = want;
    if (socket_resolve_host(host ? host : "", port, family, socktype, numeric ? AI_NUMERICHOST : 0,
                            a) < 0) {
        snprintf(err, errlen, "%s.host=%s, %s.port=%s: not an address of this host's families", p,
                 host ? host : "", p, port);
        return -EINVAL;
    }
    return 0;
}

/* type=unix: path=, as a file, or with abstract=on a name in Linux's abstract namespace;
 * tight=on (the default) makes the abstract address exactly as long as the name, as QEMU's. */
static int addr_unix(struct opts *o, const char *p, struct sockaddr_any *a, char *err,
                     size_t errlen)
{
    const char *path = addr_opt(o, p, "path");
    bool abstract, tight;
    if (addr_bool(o, p, "abstract", false, &abstract, err, errlen) < 0 ||
        addr_bool(o, p, "tight", true, &tight, err, errlen) < 0)
        return -EINVAL;
    struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
    size_t room = sizeof(un->sun_path) - 1; /* a NUL after a path; the leading NUL if abstract */
    if (!path || !*path || strlen(path) > room) {
        snprintf(err, errlen, "%s.type=unix needs %s.path=PATH of 1 to %zu bytes", p, p, room);
        return -EINVAL;
    }
    memset(a, 0, sizeof(*a));
    un->sun_family = AF_UNIX;
    size_t off = offsetof(struct sockaddr_un, sun_path), n = strlen(path);
    if (abstract) {
        memcpy(un->sun_path + 1, path, n);
        a->len = (socklen_t)(tight ? off + 1 + n : sizeof(*un));
    } else {
        memcpy(un->sun_path, path, n + 1);
        a->len = (socklen_t)(off + n + 1);
    }
    return 0;
}

int socket_parse_addr(struct opts *o, const char *prefix, int socktype, bool passive, int family,
                      struct sockaddr_any *a, char *err, size_t errlen)
{
    const char *type = addr_opt(o, prefix, "type");
    if (type && strcmp(type, "inet") == 0)
        return addr_inet(o, prefix, socktype, passive, family, a, err, errlen);
    if (type && strcmp(type, "unix") == 0)
        return addr_unix(o, prefix, a, err, errlen);
    if (type && strcmp(type, "fd") == 0)
        snprintf(err, errlen, "%s.type=fd is not supported (use inet or unix)", prefix);
    else
        snprintf(err, errlen, "%s.type=%s: expected inet or unix", prefix, type ? type : "");
    return -EINVAL;
}

bool socket_has_addr(struct opts *o, const char *prefix)
{
    char k[64];
    snprintf(k, sizeof(k), "%s.", prefix);
    for (unsigned i = 0; i < o->n; i++)
        if (strncmp(o->o[i].key, k, strlen(k)) == 0)
            return true;
    return false;
}
