/* QEMU-style option lists: "word,key=value,key=value" as used by -netdev, -device and
 * -object. A leading bare word is stored under the implied key (the model or backend type);
 * ",," inside a value stands for a literal comma, as in QEMU. Keys may repeat (hostfwd=...). */
#ifndef NICVM_OPTS_H
#define NICVM_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct opt {
    char *key;
    char *value; /* "" for a bare "key" with no '=' (QEMU's boolean shorthand) */
    bool used;
};

struct opts {
    char *text;         /* the original string, for messages */
    const char *origin; /* the option that gave it ("-nic"), or NULL: the consumer's own */
    unsigned n;
    struct opt *o;
};

/* opts_parse: parses `str`. If the first element has no '=', it is stored as
 * implied_key=element (implied_key NULL refuses that). Returns a new list, or NULL with a
 * one-line reason in err. */
struct opts *opts_parse(const char *str, const char *implied_key, char *err, size_t errlen);
/* opts_new: an empty list whose messages quote `text` as given by option `origin` (a
 * string that outlives the list, or NULL). Returns NULL when out of memory. */
struct opts *opts_new(const char *text, const char *origin);
/* opts_add: appends key=value (both copied). Returns 0 or -ENOMEM. */
int opts_add(struct opts *o, const char *key, const char *value);
/* opts_origin: the option to name in a message about o: its origin, else `def`. */
const char *opts_origin(const struct opts *o, const char *def);
/* opts_free: frees the list (NULL is accepted). */
void opts_free(struct opts *o);

/* opts_get: the last value of key, or NULL; marks every entry of key as used. */
const char *opts_get(struct opts *o, const char *key);
/* opts_get_all: up to max values of key in order; returns how many there are in total. */
unsigned opts_get_all(struct opts *o, const char *key, const char **vals, unsigned max);

/* opts_get_bool: on|off|yes|no|true|false|1|0 (a bare key means on). Returns 0 (with *out set,
 * def when absent) or -EINVAL with a message naming the option in err. */
int opts_get_bool(struct opts *o, const char *key, bool def, bool *out, char *err, size_t errlen);
/* opts_get_u64: a decimal or 0x number in [min, max]. Same returns as opts_get_bool. */
int opts_get_u64(struct opts *o, const char *key, uint64_t def, uint64_t min, uint64_t max,
                 uint64_t *out, char *err, size_t errlen);

/* opts_check_unused: -EINVAL naming the first key nobody asked for ("unknown option"),
 * else 0. Call after the consumer has read every option it knows. */
int opts_check_unused(const struct opts *o, const char *what, char *err, size_t errlen);

/* parse_size: "512M", "2G", "1048576", "64k" into bytes (suffix K/M/G/T, binary; a bare number
 * means MiB as in QEMU's -m when mib_default). Returns 0 or -EINVAL. */
int parse_size(const char *s, bool mib_default, uint64_t *out);

/* parse_mac: "52:54:00:12:34:56" into 6 bytes. Returns 0 or -EINVAL. */
int parse_mac(const char *s, uint8_t mac[6]);

#endif
