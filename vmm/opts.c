/* Option-list parsing shared by every -netdev, -device and -object consumer, so that they
 * all accept the same syntax and report errors the same way. */
#include "vmm/opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void opts_free(struct opts *o)
{
    if (!o)
        return;
    for (unsigned i = 0; i < o->n; i++) {
        free(o->o[i].key);
        free(o->o[i].value);
    }
    free(o->o);
    free(o->text);
    free(o);
}

/* Copies the next element of *p up to an unescaped ',' into a new string ("a,,b" -> "a,b"). */
static char *opts_next_element(const char **p)
{
    const char *s = *p;
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    while (*s) {
        if (*s == ',') {
            if (s[1] != ',')
                break;
            s++; /* ",," is a literal comma */
        }
        out[n++] = *s++;
    }
    out[n] = '\0';
    *p = *s == ',' ? s + 1 : s;
    return out;
}

static int opts_append(struct opts *o, char *key, char *value)
{
    struct opt *grown = realloc(o->o, (o->n + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    o->o = grown;
    o->o[o->n++] = (struct opt){key, value, false};
    return 0;
}

struct opts *opts_new(const char *text, const char *origin)
{
    struct opts *o = calloc(1, sizeof(*o));
    if (!o || !(o->text = strdup(text))) {
        free(o);
        return NULL;
    }
    o->origin = origin;
    return o;
}

int opts_add(struct opts *o, const char *key, const char *value)
{
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v || opts_append(o, k, v) < 0) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    return 0;
}

const char *opts_origin(const struct opts *o, const char *def)
{
    return o->origin ? o->origin : def;
}

struct opts *opts_parse(const char *str, const char *implied_key, char *err, size_t errlen)
{
    struct opts *o = calloc(1, sizeof(*o));
    if (!o || !(o->text = strdup(str))) {
        snprintf(err, errlen, "out of memory");
        free(o);
        return NULL;
    }
    const char *p = str;
    for (bool first = true; *p || first; first = false) {
        char *el = opts_next_element(&p);
        if (!el)
            goto oom;
        char *eq = strchr(el, '=');
        char *key, *value;
        if (eq) {
            *eq = '\0';
            key = el;
            value = strdup(eq + 1);
        } else if (first && implied_key) {
            key = strdup(implied_key);
            value = el;
        } else {
            key = el;
            value = strdup("");
        }
        if (!key || !value || opts_append(o, key, value) < 0) {
            free(key == el ? value : key);
            free(el);
            goto oom;
        }
        if (key[0] == '\0') {
            snprintf(err, errlen, "empty option name in '%s'", str);
            opts_free(o);
            return NULL;
        }
    }
    return o;
oom:
    snprintf(err, errlen, "out of memory");
    opts_free(o);
    return NULL;
}

const char *opts_get(struct opts *o, const char *key)
{
    const char *v = NULL;
    for (unsigned i = 0; i < o->n; i++) {
        if (strcmp(o->o[i].key, key) == 0) {
            o->o[i].used = true;
            v = o->o[i].value;
        }
    }
    return v;
}

unsigned opts_get_all(struct opts *o, const char *key, const char **vals, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < o->n; i++) {
        if (strcmp(o->o[i].key, key) == 0) {
            o->o[i].used = true;
            if (n < max)
                vals[n] = o->o[i].value;
            n++;
        }
    }
    return n;
}

int opts_get_bool(struct opts *o, const char *key, bool def, bool *out, char *err, size_t errlen)
{
    const char *v = opts_get(o, key);
    *out = def;
    if (!v)
        return 0;
    static const char *const yes[] = {"", "on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, 0;
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, 0;
    snprintf(err, errlen, "%s=%s: expected on or off", key, v);
    return -EINVAL;
}

int opts_get_u64(struct opts *o, const char *key, uint64_t def, uint64_t min, uint64_t max,
                 uint64_t *out, char *err, size_t errlen)
{
    const char *v = opts_get(o, key);
    *out = def;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 0);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
        snprintf(err, errlen, "%s=%s: expected a number from %llu to %llu", key, v,
                 (unsigned long long)min, (unsigned long long)max);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

int opts_check_unused(const struct opts *o, const char *what, char *err, size_t errlen)
{
    for (unsigned i = 0; i < o->n; i++) {
        if (!o->o[i].used) {
            snprintf(err, errlen, "%s: unknown option '%s'", what, o->o[i].key);
            return -EINVAL;
        }
    }
    return 0;
}

int parse_size(const char *s, bool mib_default, uint64_t *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    unsigned shift;
    switch (toupper((unsigned char)*end)) {
    case '\0': shift = mib_default ? 20 : 0; break;
    case 'B': shift = 0; break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return -EINVAL;
    }
    if (*end && end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]) &&
        !(toupper((unsigned char)end[1]) == 'I' && toupper((unsigned char)end[2]) == 'B' &&
          !end[3]))
        return -EINVAL;
    if (shift && x > (UINT64_MAX >> shift))
        return -EINVAL;
    *out = (uint64_t)x << shift;
    return 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (!s ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) !=
            6 ||
        strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}
