/* The event loop's statistics as a report: where the loop thread's time went, per fd source
 * (a tap, a virtqueue's kick eventfd, libslirp's sockets, the monitor) and per timer (the
 * e1000's mitigation timers, libslirp's), busiest first. With the NICs' and KVM's counters it
 * answers "how many loop wake-ups did each packet cost, and which handler was slow". */
#include "vmm/evloop_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stat_row {
    char name[EVLOOP_NAME_LEN];
    int fd; /* -1 for timers */
    bool armed;
    uint64_t count, ns;
};

static int by_ns_desc(const void *a, const void *b)
{
    const struct stat_row *x = a, *y = b;
    return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : strcmp(x->name, y->name);
}

/* Turns rows into a JSON array, busiest first; count_key names the count ("callbacks"). */
static json_t *rows_json(struct stat_row *rows, size_t n, const char *count_key)
{
    qsort(rows, n, sizeof(*rows), by_ns_desc);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:I, s:I}", "name", rows[i].name, count_key,
                              (json_int_t)rows[i].count, "ns", (json_int_t)rows[i].ns);
        if (rows[i].fd >= 0)
            json_object_set_new(o, "fd", json_integer(rows[i].fd));
        else
            json_object_set_new(o, "armed", json_boolean(rows[i].armed));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *sources_json(struct evloop *loop)
{
    pthread_mutex_lock(&loop->lock);
    size_t n = 0, i = 0;
    for (struct evloop_source *s = loop->sources; s; s = s->next)
        n += !atomic_load(&s->dead);
    struct stat_row *rows = calloc(n ? n : 1, sizeof(*rows));
    for (struct evloop_source *s = loop->sources; rows && s; s = s->next) {
        if (atomic_load(&s->dead))
            continue;
        if (s->name[0])
            snprintf(rows[i].name, sizeof(rows[i].name), "%s", s->name);
        else
            snprintf(rows[i].name, sizeof(rows[i].name), "fd %d", s->fd);
        rows[i].fd = s->fd;
        rows[i].count = s->callbacks;
        rows[i++].ns = s->callback_ns;
    }
    pthread_mutex_unlock(&loop->lock);
    json_t *arr = rows ? rows_json(rows, i, "callbacks") : json_array();
    free(rows);
    return arr;
}

static json_t *timers_json(struct evloop *loop)
{
    pthread_mutex_lock(&loop->tlock);
    size_t n = 0, i = 0;
    for (struct evloop_timer *t = loop->timers; t; t = t->next)
        n++;
    struct stat_row *rows = calloc(n ? n : 1, sizeof(*rows));
    for (struct evloop_timer *t = loop->timers; rows && t; t = t->next, i++) {
        snprintf(rows[i].name, sizeof(rows[i].name), "%s", t->name[0] ? t->name : "timer");
        rows[i].fd = -1;
        rows[i].armed = atomic_load(&t->deadline) != 0;
        rows[i].count = t->fired;
        rows[i].ns = t->callback_ns;
    }
    pthread_mutex_unlock(&loop->tlock);
    json_t *arr = rows ? rows_json(rows, i, "fired") : json_array();
    free(rows);
    return arr;
}

json_t *evloop_stats_json(struct evloop *loop)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "iterations",
                     (json_int_t)loop->iterations, "busy_ns", (json_int_t)loop->busy_ns, "idle_ns",
                     (json_int_t)loop->idle_ns, "wakeup_requests",
                     (json_int_t)atomic_load(&loop->wake_writes), "deferred_calls",
                     (json_int_t)loop->deferred_calls, "sources", sources_json(loop), "timers",
                     timers_json(loop));
}

/* One table row: name, count, total ms, mean us. */
static void print_rows(FILE *out, json_t *rows, const char *count_key)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_int_t count = json_integer_value(json_object_get(row, count_key));
        json_int_t ns = json_integer_value(json_object_get(row, "ns"));
        fprintf(out, "  %-44s %12lld %12.3f %10.2f\n",
                json_string_value(json_object_get(row, "name")), (long long)count, ns / 1e6,
                count ? ns / 1e3 / (double)count : 0.0);
    }
}

void evloop_stats_print(FILE *out, json_t *st)
{
    json_int_t busy = json_integer_value(json_object_get(st, "busy_ns"));
    json_int_t idle = json_integer_value(json_object_get(st, "idle_ns"));
    fprintf(out,
            "%lld iterations, busy %.3f ms (%.1f%% of its time), %lld wake-up requests, %lld "
            "deferred calls\n",
            (long long)json_integer_value(json_object_get(st, "iterations")), busy / 1e6,
            busy + idle ? 100.0 * (double)busy / (double)(busy + idle) : 0.0,
            (long long)json_integer_value(json_object_get(st, "wakeup_requests")),
            (long long)json_integer_value(json_object_get(st, "deferred_calls")));
    fprintf(out, "  %-44s %12s %12s %10s\n", "fd source", "callbacks", "total ms", "mean us");
    print_rows(out, json_object_get(st, "sources"), "callbacks");
    fprintf(out, "  %-44s %12s %12s %10s\n", "timer", "fired", "total ms", "mean us");
    print_rows(out, json_object_get(st, "timers"), "fired");
}
