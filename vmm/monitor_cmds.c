/* The control socket's commands: one table with each command's arguments and types, checked
 * before the handler runs, so handlers see only well-typed arguments. Names follow QEMU's
 * QMP where it has the command (query-stats, set_link, quit, qmp_capabilities,
 * query-commands) and its HMP otherwise (hostfwd_add, hostfwd_remove). */
#include "net/backend.h"
#include "net/dump.h"
#include "net/netdev.h"
#include "net/slirp.h"
#include "vmm/board.h"
#include "vmm/log.h"
#include "vmm/monitor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum mon_arg_type { MON_STR, MON_BOOL, MON_INT, MON_ARRAY };

struct mon_arg {
    const char *name;
    enum mon_arg_type type;
    bool optional;
};

#define MON_MAX_ARGS 4

/* A handler: fills *ret (new reference) and returns 0, or returns -errno with the error's
 * description in err. */
typedef int (*mon_handler)(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen);

struct mon_cmd {
    const char *name;
    mon_handler fn;
    struct mon_arg args[MON_MAX_ARGS];
};

static const char *const mon_type_names[] = {"string", "bool", "int", "array"};

/* --- lookups --------------------------------------------------------------------------- */

static struct netdev *mon_find_netdev(struct monitor *m, const char *id)
{
    const struct monitor_env *env = monitor_env_of(m);
    for (unsigned i = 0; i < env->nr_netdevs; i++)
        if (strcmp(netdev_id(env->netdevs[i]), id) == 0)
            return env->netdevs[i];
    return NULL;
}

static struct machine_device *mon_find_device(struct monitor *m, const char *id)
{
    struct machine *mach = monitor_env_of(m)->machine;
    return mach ? machine_find(mach, id) : NULL;
}

/* A netdev named directly, or through the NIC (-device ...,netdev=ID) that uses it. */
static struct netdev *mon_resolve_netdev(struct monitor *m, const char *name)
{
    struct netdev *nd = mon_find_netdev(m, name);
    struct machine_device *d = nd ? NULL : mon_find_device(m, name);
    const char *peer = d && d->opts ? opts_get(d->opts, "netdev") : NULL;
    return peer ? mon_find_netdev(m, peer) : nd;
}

static const char *mon_str(json_t *args, const char *key)
{
    return json_string_value(json_object_get(args, key));
}

/* --- queries --------------------------------------------------------------------------- */

static int cmd_capabilities(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    *ret = json_object();
    return 0;
}

static int cmd_query_stats(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    const struct monitor_env *env = monitor_env_of(m);
    *ret = env->ops && env->ops->query_stats ? env->ops->query_stats(env->opaque) : NULL;
    if (!*ret) {
        snprintf(err, errlen, "no exit statistics available");
        return -ENOENT;
    }
    return 0;
}

static int cmd_query_network(struct monitor *m, json_t *args, json_t **ret, char *err,
                             size_t errlen)
{
    const struct monitor_env *env = monitor_env_of(m);
    json_t *netdevs = json_array(), *nics = json_array();
    for (unsigned i = 0; i < env->nr_netdevs; i++)
        json_array_append_new(netdevs, netdev_info(env->netdevs[i]));
    for (unsigned i = 0; env->machine && i < env->machine->nr_devices; i++) {
        json_t *info = board_device_info(&env->machine->dev[i]);
        if (info)
            json_array_append_new(nics, info);
    }
    *ret = json_pack("{s:o, s:o}", "netdevs", netdevs, "nics", nics);
    return 0;
}

/* Appends d's queue reports (its info's "queues") to rows, each tagged with the device. */
static unsigned mon_device_queues(struct machine_device *d, json_t *rows)
{
    json_t *info = board_device_info(d);
    json_t *queues = json_object_get(info, "queues");
    size_t i;
    json_t *q;
    unsigned n = 0;
    json_array_foreach(queues, i, q)
    {
        if (!json_is_object(q))
            continue;
        json_t *row = json_deep_copy(q);
        json_object_set_new(row, "device", json_string(d->id));
        json_object_set_new(row, "model", json_string(d->model));
        json_array_append_new(rows, row);
        n++;
    }
    json_decref(info);
    return n;
}

static int cmd_query_virtqueue(struct monitor *m, json_t *args, json_t **ret, char *err,
                               size_t errlen)
{
    const char *dev = mon_str(args, "device");
    struct machine *mach = monitor_env_of(m)->machine;
    json_t *rows = json_array();
    bool found = false;
    for (unsigned i = 0; mach && i < mach->nr_devices; i++) {
        struct machine_device *d = &mach->dev[i];
        if (dev && strcmp(d->id, dev) != 0)
            continue;
        found = true;
        unsigned n = mon_device_queues(d, rows);
        if (dev && n == 0) {
            snprintf(err, errlen, "device '%s' has no virtqueues", dev);
            json_decref(rows);
            return -ENOENT;
        }
    }
    if (dev && !found) {
        snprintf(err, errlen, "no device '%s'", dev);
        json_decref(rows);
        return -ENOENT;
    }
    *ret = rows;
    return 0;
}

static int cmd_query_e1000(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    const char *dev = mon_str(args, "device");
    struct machine *mach = monitor_env_of(m)->machine;
    json_t *list = json_array();
    for (unsigned i = 0; mach && i < mach->nr_devices; i++) {
        struct machine_device *d = &mach->dev[i];
        if (strcmp(d->model, "e1000") != 0 || (dev && strcmp(d->id, dev) != 0))
            continue;
        json_t *info = board_device_info(d);
        if (info)
            json_array_append_new(list, info);
    }
    if (json_array_size(list) == 0) {
        if (dev)
            snprintf(err, errlen, "no e1000 device '%s'", dev);
        else
            snprintf(err, errlen, "no e1000 device");
        json_decref(list);
        return -ENOENT;
    }
    *ret = list;
    return 0;
}

/* --- actions --------------------------------------------------------------------------- */

static int cmd_set_link(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    const char *name = mon_str(args, "name");
    struct netdev *nd = mon_resolve_netdev(m, name);
    if (!nd) {
        snprintf(err, errlen, "no netdev or NIC '%s'", name);
        return -ENOENT;
    }
    bool up = json_is_true(json_object_get(args, "up"));
    netdev_set_link(nd, up);
    log_info("monitor: link of %s set %s", netdev_id(nd), up ? "up" : "down");
    *ret = json_object();
    return 0;
}

/* The user netdev a hostfwd command names, or the only one when none is named. */
static struct netdev *mon_user_netdev(struct monitor *m, const char *id, char *err, size_t errlen)
{
    const struct monitor_env *env = monitor_env_of(m);
    struct netdev *nd = NULL;
    unsigned users = 0;
    for (unsigned i = 0; !id && i < env->nr_netdevs; i++)
        if (strcmp(netdev_type(env->netdevs[i]), "user") == 0) {
            nd = env->netdevs[i];
            users++;
        }
    if (id)
        nd = mon_resolve_netdev(m, id);
    if (!id && users != 1)
        snprintf(err, errlen, "%s user netdev: name one with \"netdev\"",
                 users ? "more than one" : "no");
    else if (!nd)
        snprintf(err, errlen, "no netdev or NIC '%s'", id);
    else if (strcmp(netdev_type(nd), "user") != 0)
        snprintf(err, errlen, "netdev '%s' is of type %s; port forwards need a user netdev",
                 netdev_id(nd), netdev_type(nd));
    else
        return nd;
    return NULL;
}

static int mon_hostfwd(struct monitor *m, json_t *args, json_t **ret, bool add, char *err,
                       size_t errlen)
{
    struct netdev *nd = mon_user_netdev(m, mon_str(args, "netdev"), err, errlen);
    if (!nd)
        return -ENOENT;
    int rc = slirp_hostfwd(nd, add, mon_str(args, "rule"), err, errlen);
    if (rc == 0)
        *ret = json_object();
    return rc;
}

static int cmd_hostfwd_add(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    return mon_hostfwd(m, args, ret, true, err, errlen);
}

static int cmd_hostfwd_remove(struct monitor *m, json_t *args, json_t **ret, char *err,
                              size_t errlen)
{
    return mon_hostfwd(m, args, ret, false, err, errlen);
}

static struct monitor_dump *mon_dump_of(struct monitor *m, struct netdev *nd)
{
    struct monitor_dump *d = monitor_dumps(m);
    for (unsigned i = 0; i < MONITOR_MAX_DUMPS; i++)
        if (d[i].dump && d[i].nd == nd)
            return &d[i];
    return NULL;
}

static int cmd_dump_start(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    const char *name = mon_str(args, "netdev");
    struct netdev *nd = mon_resolve_netdev(m, name);
    json_t *maxlen = json_object_get(args, "maxlen");
    struct netdump_config dc = {.id = "monitor",
                                .file = mon_str(args, "file"),
                                .maxlen = 65535,
                                .vnet_hdr = json_is_true(json_object_get(args, "vnet_hdr"))};
    if (!nd) {
        snprintf(err, errlen, "no netdev or NIC '%s'", name);
        return -ENOENT;
    }
    if (maxlen && (json_integer_value(maxlen) < 1 || json_integer_value(maxlen) > 65535)) {
        snprintf(err, errlen, "maxlen must be 1 to 65535");
        return -EINVAL;
    }
    dc.maxlen = maxlen ? (size_t)json_integer_value(maxlen) : dc.maxlen;
    dc.netdev = netdev_id(nd);
    struct monitor_dump *slot = mon_dump_of(m, nd);
    if (slot) {
        snprintf(err, errlen, "a capture of '%s' is already running (dump-stop first)", dc.netdev);
        return -EBUSY;
    }
    for (unsigned i = 0; i < MONITOR_MAX_DUMPS && !slot; i++)
        slot = monitor_dumps(m)[i].dump ? NULL : &monitor_dumps(m)[i];
    if (!slot) {
        snprintf(err, errlen, "too many captures (at most %d)", MONITOR_MAX_DUMPS);
        return -ENOSPC;
    }
    struct netdump *d = netdump_open(&dc, err, errlen);
    if (!d)
        return -EIO;
    if (netdump_attach(d, nd) < 0) {
        snprintf(err, errlen, "netdev '%s' has too many observers", dc.netdev);
        netdump_close(d);
        return -ENOSPC;
    }
    *slot = (struct monitor_dump){nd, d};
    log_info("monitor: capturing %s into %s", dc.netdev, dc.file);
    *ret = json_object();
    return 0;
}

/* Closes capture *d (adding its report to stopped and its frames to *frames) and clears it. */
static void mon_dump_close(struct netdump **d, json_t *stopped, unsigned long *frames)
{
    *frames += netdump_frames(*d);
    json_array_append_new(stopped, netdump_info(*d));
    netdump_close(*d);
    *d = NULL;
}

/* dump-stop: by netdev, every capture of it (dump-start's and -object filter-dump's); by id,
 * the filter-dump of that id (QEMU removes one with object-del). */
static int cmd_dump_stop(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    const char *name = mon_str(args, "netdev"), *id = mon_str(args, "id");
    const struct monitor_env *env = monitor_env_of(m);
    struct netdev *nd = name ? mon_resolve_netdev(m, name) : NULL;
    if (!name == !id) {
        snprintf(err, errlen, "give either netdev or id");
        return -EINVAL;
    }
    if (name && !nd) {
        snprintf(err, errlen, "no netdev or NIC '%s'", name);
        return -ENOENT;
    }
    unsigned long frames = 0;
    json_t *stopped = json_array();
    struct monitor_dump *slot = nd ? mon_dump_of(m, nd) : NULL;
    if (slot) {
        mon_dump_close(&slot->dump, stopped, &frames);
        slot->nd = NULL;
    }
    for (unsigned i = 0; env->dumps && i < env->nr_dumps; i++) {
        struct netdump **d = &env->dumps[i];
        if (*d && (nd ? netdump_netdev(*d) == nd : strcmp(netdump_id(*d), id) == 0))
            mon_dump_close(d, stopped, &frames);
    }
    if (json_array_size(stopped) == 0) {
        json_decref(stopped);
        snprintf(err, errlen, "no capture %s '%s'", nd ? "of" : "with id", nd ? name : id);
        return -ENOENT;
    }
    *ret = json_pack("{s:I, s:o}", "frames", (json_int_t)frames, "stopped", stopped);
    return 0;
}

/* query-dumps: every running capture, from dump-start or -object filter-dump. */
/* Appends capture d's report, with where it came from, to list (nothing for NULL). */
static void mon_dump_list_add(json_t *list, const struct netdump *d, const char *origin)
{
    if (!d)
        return;
    json_t *o = netdump_info(d);
    json_object_set_new(o, "origin", json_string(origin));
    json_array_append_new(list, o);
}

static int cmd_query_dumps(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    const struct monitor_env *env = monitor_env_of(m);
    json_t *list = json_array();
    for (unsigned i = 0; i < MONITOR_MAX_DUMPS; i++)
        mon_dump_list_add(list, monitor_dumps(m)[i].dump, "dump-start");
    for (unsigned i = 0; env->dumps && i < env->nr_dumps; i++)
        mon_dump_list_add(list, env->dumps[i], "filter-dump");
    *ret = list;
    return 0;
}

void monitor_close_dumps(struct monitor *m)
{
    struct monitor_dump *d = monitor_dumps(m);
    for (unsigned i = 0; i < MONITOR_MAX_DUMPS; i++) {
        netdump_close(d[i].dump);
        d[i] = (struct monitor_dump){NULL, NULL};
    }
}

static int cmd_quit(struct monitor *m, json_t *args, json_t **ret, char *err, size_t errlen)
{
    const struct monitor_env *env = monitor_env_of(m);
    if (!env->ops || !env->ops->quit) {
        snprintf(err, errlen, "quit is not available");
        return -ENOTSUP;
    }
    log_info("monitor: quit: stopping the VM");
    env->ops->quit(env->opaque);
    *ret = json_object();
    return 0;
}

static int cmd_query_commands(struct monitor *m, json_t *args, json_t **ret, char *err,
                              size_t errlen);

static const struct mon_cmd mon_cmds[] = {
    {"qmp_capabilities", cmd_capabilities, {{"enable", MON_ARRAY, true}}},
    {"query-commands", cmd_query_commands, {{NULL}}},
    {"query-stats", cmd_query_stats, {{NULL}}},
    {"query-network", cmd_query_network, {{NULL}}},
    {"query-virtqueue", cmd_query_virtqueue, {{"device", MON_STR, true}}},
    {"query-e1000", cmd_query_e1000, {{"device", MON_STR, true}}},
    {"set_link", cmd_set_link, {{"name", MON_STR, false}, {"up", MON_BOOL, false}}},
    {"hostfwd_add", cmd_hostfwd_add, {{"netdev", MON_STR, true}, {"rule", MON_STR, false}}},
    {"hostfwd_remove", cmd_hostfwd_remove, {{"netdev", MON_STR, true}, {"rule", MON_STR, false}}},
    {"dump-start",
     cmd_dump_start,
     {{"netdev", MON_STR, false},
      {"file", MON_STR, false},
      {"vnet_hdr", MON_BOOL, true},
      {"maxlen", MON_INT, true}}},
    {"dump-stop", cmd_dump_stop, {{"netdev", MON_STR, true}, {"id", MON_STR, true}}},
    {"query-dumps", cmd_query_dumps, {{NULL}}},
    {"quit", cmd_quit, {{NULL}}},
};

#define MON_NR_CMDS (sizeof(mon_cmds) / sizeof(mon_cmds[0]))

static int cmd_query_commands(struct monitor *m, json_t *args, json_t **ret, char *err,
                              size_t errlen)
{
    json_t *list = json_array();
    for (size_t i = 0; i < MON_NR_CMDS; i++) {
        json_t *a = json_array();
        for (const struct mon_arg *arg = mon_cmds[i].args;
             arg < mon_cmds[i].args + MON_MAX_ARGS && arg->name; arg++)
            json_array_append_new(a,
                                  json_pack("{s:s, s:s, s:b}", "name", arg->name, "type",
                                            mon_type_names[arg->type], "optional", arg->optional));
        json_array_append_new(list, json_pack("{s:s, s:o}", "name", mon_cmds[i].name, "args", a));
    }
    *ret = list;
    return 0;
}

/* --- dispatch -------------------------------------------------------------------------- */

json_t *monitor_error(const char *cls, const char *desc)
{
    return json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc", desc);
}

static bool mon_type_ok(json_t *v, enum mon_arg_type t)
{
    switch (t) {
    case MON_STR: return json_is_string(v);
    case MON_BOOL: return json_is_boolean(v);
    case MON_INT: return json_is_integer(v);
    case MON_ARRAY: return json_is_array(v);
    }
    return false;
}

/* Checks args against the command's table: every member known and of its type, every
 * required one present. */
static int mon_check_args(const struct mon_cmd *c, json_t *args, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(args, key, v)
    {
        const struct mon_arg *a = c->args;
        while (a < c->args + MON_MAX_ARGS && a->name && strcmp(a->name, key) != 0)
            a++;
        if (a == c->args + MON_MAX_ARGS || !a->name) {
            snprintf(err, errlen, "%s: unexpected argument '%s'", c->name, key);
            return -EINVAL;
        }
        if (!mon_type_ok(v, a->type)) {
            snprintf(err, errlen, "%s: argument '%s' must be a %s", c->name, key,
                     mon_type_names[a->type]);
            return -EINVAL;
        }
    }
    for (const struct mon_arg *a = c->args; a < c->args + MON_MAX_ARGS && a->name; a++)
        if (!a->optional && !json_object_get(args, a->name)) {
            snprintf(err, errlen, "%s: missing argument '%s' (%s)", c->name, a->name,
                     mon_type_names[a->type]);
            return -EINVAL;
        }
    return 0;
}

/* Checks the request's own shape; returns the command or NULL with class and message. */
static const struct mon_cmd *mon_check_request(json_t *req, const char **cls, char *err,
                                               size_t errlen)
{
    *cls = "GenericError";
    if (!json_is_object(req)) {
        snprintf(err, errlen, "a request must be a JSON object");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v)
    {
        if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
            snprintf(err, errlen, "unexpected member '%s' in the request", key);
            return NULL;
        }
    }
    const char *name = json_string_value(json_object_get(req, "execute"));
    json_t *args = json_object_get(req, "arguments");
    if (!name) {
        snprintf(err, errlen, "the request lacks \"execute\" (a string naming the command)");
        return NULL;
    }
    if (args && !json_is_object(args)) {
        snprintf(err, errlen, "\"arguments\" must be an object");
        return NULL;
    }
    for (size_t i = 0; i < MON_NR_CMDS; i++)
        if (strcmp(mon_cmds[i].name, name) == 0)
            return &mon_cmds[i];
    *cls = "CommandNotFound";
    snprintf(err, errlen, "the command %.64s has not been found (query-commands lists them)", name);
    return NULL;
}

json_t *monitor_execute(struct monitor *m, json_t *req)
{
    char err[512] = "";
    const char *cls;
    json_t *ret = NULL, *reply;
    const struct mon_cmd *c = mon_check_request(req, &cls, err, sizeof(err));
    json_t *args = c ? json_object_get(req, "arguments") : NULL;
    json_t *empty = args ? NULL : json_object();
    int rc = c ? mon_check_args(c, args ? args : empty, err, sizeof(err)) : -EINVAL;
    if (rc == 0)
        rc = c->fn(m, args ? args : empty, &ret, err, sizeof(err));
    json_decref(empty);
    if (rc == 0 && ret) {
        reply = json_pack("{s:o}", "return", ret);
    } else {
        json_decref(ret);
        if (!err[0])
            snprintf(err, sizeof(err), "%s", strerror(rc ? -rc : EIO));
        reply = monitor_error(cls, err);
    }
    json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
    if (id)
        json_object_set(reply, "id", id);
    return reply;
}
