/* The interrupt line a device is given: it raises and lowers one interrupt without knowing
 * KVM. nicvm backs it with KVM_IRQ_LINE or an irqfd; unit tests back it with a recorder. */
#ifndef NICVM_IRQ_H
#define NICVM_IRQ_H

#include <stdbool.h>

struct irq_line {
    /* set: level-triggered use; level true asserts the line, false deasserts it. */
    void (*set)(struct irq_line *line, bool level);
    /* pulse: edge-triggered use; one interrupt (assert then deassert, or an irqfd write). */
    void (*pulse)(struct irq_line *line);
    void *opaque;
    int gsi;
    int irqfd; /* eventfd bound with KVM_IRQFD, or -1 */
};

/* irq_set: asserts (true) or deasserts the line. */
static inline void irq_set(struct irq_line *line, bool level)
{
    line->set(line, level);
}

/* irq_pulse: sends one edge interrupt. */
static inline void irq_pulse(struct irq_line *line)
{
    line->pulse(line);
}

#endif
