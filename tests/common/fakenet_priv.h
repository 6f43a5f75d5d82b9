/* What the two halves of the fake guest network toolkit share beyond fakenet.h: fakenet.c
 * defines these, fakenet_guest.c's TCP endpoint uses them. Not for tests. */
#ifndef NICVM_TESTS_COMMON_FAKENET_PRIV_H
#define NICVM_TESTS_COMMON_FAKENET_PRIV_H

#include "tests/common/fakenet.h"

#include <stddef.h>
#include <stdint.h>

/* fn_fill_l4_csum: fills the L4 checksum field at l4 + field of an l4len-byte segment as mode
 * says, from the folded pseudo-header sum pseudo. */
void fn_fill_l4_csum(uint8_t *l4, size_t l4len, size_t field, uint32_t pseudo, enum fn_csum mode);
/* fn_next_ip_id: the next IPv4 identification of the frames the builders make. */
uint16_t fn_next_ip_id(void);

#endif
