/* The control socket's transport: a listening unix socket and up to MONITOR_MAX_CLIENTS
 * non-blocking clients on the event loop, each with a bounded input line buffer and an
 * output buffer. Requests are parsed here (jansson) and executed by monitor_cmds.c.
 *
 * Output is bounded by back-pressure rather than by dropping replies: while a client has
 * more than MONITOR_OUT_HIGH bytes unsent, the monitor stops reading from it, so a client
 * that never reads holds at most that plus one reply, and its unread requests wait in its
 * own socket buffer. Clients are freed only at the end of their own fd callback (or on
 * destroy), so no code path touches a freed client. */
#define _GNU_SOURCE
#include "vmm/monitor.h"
#include "vmm/log.h"
#include "vmm/unix_path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef NICVM_VERSION
#define NICVM_VERSION "0.1.0"
#endif

#define MON_READ_CHUNK   16384
#define MON_ACCEPT_BURST 16

struct mon_client {
    struct monitor *m;
    int fd;
    uint32_t mask; /* events registered with the loop */
    char *in;      /* MONITOR_MAX_LINE + MON_READ_CHUNK bytes */
    size_t in_len;
    char *out;
    size_t out_off, out_len, out_cap;
    bool eof;  /* the client shut down its sending side */
    bool dead; /* to be freed at the end of the callback */
};

struct monitor {
    struct monitor_env env;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd;
    struct mon_client *client[MONITOR_MAX_CLIENTS];
    struct monitor_dump dumps[MONITOR_MAX_DUMPS];
    struct monitor_counters ctr;
};

const struct monitor_env *monitor_env_of(struct monitor *m)
{
    return &m->env;
}

struct monitor_dump *monitor_dumps(struct monitor *m)
{
    return m->dumps;
}

void monitor_get_counters(const struct monitor *m, struct monitor_counters *c)
{
    *c = m->ctr;
}

/* --- -monitor unix:PATH ---------------------------------------------------------------- */

/* Checks one ",word" after the path: QEMU's server/nowait flags, which nicvm implies. */
static int spec_flag_ok(const char *w, size_t n)
{
    static const char *const ok[] = {"server", "nowait", "server=on", "wait=off"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strlen(ok[i]) == n && strncmp(w, ok[i], n) == 0)
            return 1;
    return 0;
}

int monitor_parse_spec(const char *spec, char *path, size_t pathlen, char *err, size_t errlen)
{
    if (strncmp(spec, "unix:", 5) != 0) {
        snprintf(err, errlen, "-monitor %s: only unix:PATH[,server,nowait] is supported", spec);
        return -EINVAL;
    }
    const char *p = spec + 5;
    size_t n = strcspn(p, ",");
    if (n == 0 || n >= pathlen) {
        snprintf(err, errlen, "-monitor %s: the socket path must be 1 to %zu bytes", spec,
                 pathlen - 1);
        return -EINVAL;
    }
    memcpy(path, p, n);
    path[n] = '\0';
    for (p += n; *p == ',';) {
        p++;
        size_t w = strcspn(p, ",");
        if (!spec_flag_ok(p, w)) {
            snprintf(err, errlen,
                     "-monitor %s: unknown flag '%.*s' (server and nowait are implied)", spec,
                     (int)w, p);
            return -EINVAL;
        }
        p += w;
    }
    return 0;
}

/* --- output -------------------------------------------------------------------------- */

/* Writes what the socket takes now. A vanished client (EPIPE, ECONNRESET) is marked dead. */
static void mon_client_flush(struct mon_client *c)
{
    while (!c->dead && c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            c->dead = true;
            c->m->ctr.dropped++;
            break;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
}

/* Appends one line; grows the buffer (a single reply is bounded by MONITOR_OUT_MAX). */
static int mon_client_queue(struct mon_client *c, const char *s, size_t len)
{
    if (c->out_off && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_off > c->out_cap / 2) { /* compact rather than grow */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len + 1 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len + 1)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return -ENOMEM;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, len);
    c->out_len += len;
    c->out[c->out_len++] = '\n';
    size_t pending = c->out_len - c->out_off;
    if (pending > c->m->ctr.out_high_water)
        c->m->ctr.out_high_water = pending;
    return 0;
}

/* Sends a JSON object as one line (and steals the reference). */
static void mon_client_send(struct mon_client *c, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (s && strlen(s) > MONITOR_OUT_MAX) {
        free(s);
        json_t *e = monitor_error("GenericError", "reply too large");
        s = json_dumps(e, JSON_COMPACT);
        json_decref(e);
    }
    if (!s || mon_client_queue(c, s, strlen(s)) < 0) {
        c->dead = true; /* out of memory: better to lose this client than the VM */
        c->m->ctr.dropped++;
    }
    free(s);
    mon_client_flush(c);
}

/* --- input -------------------------------------------------------------------------- */

/* Parses and executes one request line (without its '\n'). */
static void mon_client_line(struct mon_client *c, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t skip = strspn(line, " \t");
    if (skip >= len)
        return; /* blank lines are ignored, as QMP does */
    c->m->ctr.requests++;
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    json_t *reply;
    if (!req) {
        char desc[256];
        snprintf(desc, sizeof(desc), "JSON parse error: %s (column %d)", jerr.text, jerr.column);
        reply = monitor_error("GenericError", desc);
    } else {
        reply = monitor_execute(c->m, req);
        json_decref(req);
    }
    if (json_object_get(reply, "error"))
        c->m->ctr.errors++;
    mon_client_send(c, reply);
}

/* Handles the complete lines in the input buffer while the client's output is below the
 * high mark; the rest waits for the client to read. */
static void mon_client_process(struct mon_client *c)
{
    size_t off = 0;
    while (!c->dead && c->out_len - c->out_off < MONITOR_OUT_HIGH) {
        char *nl = memchr(c->in + off, '\n', c->in_len - off);
        if (!nl)
            break;
        mon_client_line(c, c->in + off, (size_t)(nl - (c->in + off)));
        off = (size_t)(nl - c->in) + 1;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    if (!c->dead && c->in_len > MONITOR_MAX_LINE && !memchr(c->in, '\n', c->in_len)) {
        char desc[96];
        snprintf(desc, sizeof(desc), "request line longer than %d bytes; disconnecting",
                 MONITOR_MAX_LINE);
        json_t *e = monitor_error("GenericError", desc);
        c->m->ctr.too_long++;
        c->m->ctr.errors++;
        mon_client_send(c, e); /* best effort: the client is closed right after */
        c->dead = true;
    }
}

/* Reads one chunk (level-triggered: the loop calls again while more is there). */
static void mon_client_read(struct mon_client *c)
{
    size_t room = MONITOR_MAX_LINE + MON_READ_CHUNK - c->in_len;
    if (room == 0)
        return;
    ssize_t n =
        recv(c->fd, c->in + c->in_len, room < MON_READ_CHUNK ? room : MON_READ_CHUNK, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0) {
        c->dead = true;
        c->m->ctr.dropped++;
        return;
    }
    if (n == 0) {
        c->eof = true; /* a partial last line is discarded */
        return;
    }
    c->in_len += (size_t)n;
}

static bool mon_client_paused(const struct mon_client *c)
{
    return c->out_len - c->out_off >= MONITOR_OUT_HIGH;
}

static void mon_client_update_mask(struct mon_client *c)
{
    uint32_t want = 0;
    if (!c->eof && !mon_client_paused(c))
        want |= EPOLLIN;
    if (c->out_len > c->out_off)
        want |= EPOLLOUT;
    if (want != c->mask && evloop_mod_fd(c->m->env.loop, c->fd, want) == 0)
        c->mask = want;
}

static void mon_client_free(struct mon_client *c)
{
    struct monitor *m = c->m;
    for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++)
        if (m->client[i] == c)
            m->client[i] = NULL;
    m->ctr.clients--;
    evloop_del_fd(m->env.loop, c->fd);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void mon_client_event(void *opaque, uint32_t events)
{
    struct mon_client *c = opaque;
    if (events & EPOLLERR) {
        c->dead = true;
        c->m->ctr.dropped++;
    }
    if (!c->dead && (events & (EPOLLOUT | EPOLLHUP)))
        mon_client_flush(c); /* after a hang-up this fails and drops the client */
    if (!c->dead && (events & (EPOLLIN | EPOLLHUP)) && !c->eof && !mon_client_paused(c))
        mon_client_read(c);
    if (!c->dead)
        mon_client_process(c);
    /* A client that stopped sending is closed once its replies are out. */
    if (!c->dead && c->eof && c->out_len == c->out_off)
        c->dead = true;
    if (c->dead) {
        mon_client_free(c);
        return;
    }
    mon_client_update_mask(c);
}

/* --- clients and the listening socket ---------------------------------------------------- */

static json_t *mon_greeting(void)
{
    return json_pack("{s:{s:{s:{s:i, s:i, s:i}, s:s}, s:[]}}", "QMP", "version", "qemu", "major", 0,
                     "minor", 1, "micro", 0, "package", "nicvm " NICVM_VERSION, "capabilities");
}

int monitor_add_client(struct monitor *m, int fd)
{
    unsigned slot = 0;
    while (slot < MONITOR_MAX_CLIENTS && m->client[slot])
        slot++;
    struct mon_client *c = slot < MONITOR_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
    char *in = c ? malloc(MONITOR_MAX_LINE + MON_READ_CHUNK) : NULL;
    int rc = slot == MONITOR_MAX_CLIENTS ? -ENOSPC : -ENOMEM;
    if (in) {
        c->m = m;
        c->fd = fd;
        c->in = in;
        c->mask = EPOLLIN;
        rc = evloop_add_fd(m->env.loop, fd, EPOLLIN, mon_client_event, c);
        if (rc == 0)
            evloop_set_name(m->env.loop, fd, "monitor client");
    }
    if (!in || rc < 0) {
        if (rc == -ENOSPC) {
            static const char busy[] =
                "{\"error\":{\"class\":\"GenericError\",\"desc\":\"too many monitor clients\"}}\n";
            m->ctr.refused++;
            (void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        free(in);
        free(c);
        close(fd);
        return rc;
    }
    m->client[slot] = c;
    m->ctr.clients++;
    m->ctr.accepted++;
    mon_client_send(c, mon_greeting());
    if (c->dead) {
        mon_client_free(c);
        return -EPIPE;
    }
    mon_client_update_mask(c);
    return 0;
}

static void mon_accept(void *opaque, uint32_t events)
{
    struct monitor *m = opaque;
    (void)events;
    for (int i = 0; i < MON_ACCEPT_BURST; i++) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_warn("monitor: accept: %s", strerror(errno));
            return;
        }
        monitor_add_client(m, fd);
    }
}

static int mon_listen(struct monitor *m, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->path);
    char sub[160] = "";
    int rc = unix_path_clear(m->path, sub, sizeof(sub));
    if (rc == -EEXIST) {
        snprintf(err, errlen, "-monitor: %s", sub);
        return rc;
    }
    m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m->listen_fd < 0 || bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(m->listen_fd, MONITOR_MAX_CLIENTS) < 0) {
        snprintf(err, errlen, "-monitor: cannot listen on '%s': %s", m->path, strerror(errno));
        return -errno;
    }
    rc = evloop_add_fd(m->env.loop, m->listen_fd, EPOLLIN, mon_accept, m);
    if (rc == 0)
        evloop_set_name(m->env.loop, m->listen_fd, "monitor listen");
    if (rc < 0)
        snprintf(err, errlen, "-monitor: cannot watch the socket: %s", strerror(-rc));
    return rc;
}

struct monitor *monitor_create(const struct monitor_env *env, const char *spec, char *err,
                               size_t errlen)
{
    struct monitor *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "-monitor: out of memory");
        return NULL;
    }
    m->env = *env;
    m->listen_fd = -1;
    if (monitor_parse_spec(spec, m->path, sizeof(m->path), err, errlen) < 0 ||
        mon_listen(m, err, errlen) < 0) {
        bool created = m->listen_fd >= 0;
        if (created)
            close(m->listen_fd);
        m->listen_fd = -1;
        m->path[0] = '\0';
        free(m);
        return NULL;
    }
    return m;
}

void monitor_destroy(struct monitor *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++)
        if (m->client[i])
            mon_client_free(m->client[i]);
    monitor_close_dumps(m);
    if (m->listen_fd >= 0) {
        evloop_del_fd(m->env.loop, m->listen_fd);
        close(m->listen_fd);
        unlink(m->path);
    }
    free(m);
}
