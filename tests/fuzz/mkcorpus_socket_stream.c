/* Seeds for fuzz_socket_stream (records of its operation format, see fuzz_socket_stream.c):
 * QEMU's stream framing (a 4-byte big-endian length, then the frame) cut every way a TCP
 * peer can cut it: several frames in one write, a frame byte by byte, the length split 2 + 2,
 * the lengths 0, 0x7fffffff, 0xffffffff, NETDEV_MAX_FRAME and NETDEV_MAX_FRAME + 1, frames
 * the layer drops as too short; the NIC refusing then rx_ready (and a peer reset while it
 * refuses); a disconnect in the middle of a frame (FIN, RST, half-close) then a new
 * connection; a second peer refused; TX into a full kernel buffer, in up to 72 iovec pieces;
 * and connect= mode. */
#include "tests/fuzz/mkcorpus.h"

#include <stdlib.h>
#include <string.h>

/* fuzz_socket_stream opcodes and its length choices (indices into its table). */
enum { OP_WRITE, OP_FRAME, OP_PUMP, OP_SETTLE, OP_NIC, OP_SEND, OP_READ, OP_CLOSE, OP_CONNECT };
enum { L_0, L_1, L_13, L_14, L_60, L_64, L_1514, L_1518, L_9014, L_32768, L_65535, L_MAX_1, L_MAX };
enum { L_MAX1 = 13, L_7FFFFFFF, L_FFFFFFFF, L_U16 = 0x40, L_U32 = 0x80 };
enum { NIC_TAKE = 0, NIC_REFUSE = 1, NIC_RX_READY = 2 };
enum { CLOSE_FIN, CLOSE_RST, CLOSE_SHUT_WR };
#define MAX_FRAME (65536 + 14 + 4)
#define SS        "socket_stream"

static void op(struct mk *b, uint8_t code, uint8_t arg)
{
    mk_u8(b, code), mk_u8(b, arg);
}

/* A FRAME record: length choice sel, payload pattern seed, written in pieces of split bytes
 * (0: whole). */
static void frame(struct mk *b, uint8_t sel, uint8_t seed, uint8_t split)
{
    mk_u8(b, OP_FRAME), mk_u8(b, sel), mk_u8(b, seed), mk_u8(b, split);
}

static void frame_len(struct mk *b, uint32_t len, uint8_t seed, uint8_t split)
{
    mk_u8(b, OP_FRAME), mk_u8(b, L_U32), mk_u32(b, len), mk_u8(b, seed), mk_u8(b, split);
}

/* The NIC sends count frames (length choice sel) in 1 + split % 72 pieces. */
static void send(struct mk *b, uint8_t sel, uint8_t split, uint8_t count)
{
    mk_u8(b, OP_SEND), mk_u8(b, sel), mk_u8(b, split), mk_u8(b, (uint8_t)(count - 1));
}

/* A WRITE record of n raw bytes. */
static void raw(struct mk *b, const uint8_t *p, size_t n)
{
    mk_u8(b, OP_WRITE), mk_u16(b, (uint16_t)n), mk_bytes(b, p, n);
}

/* The wire form of a len-byte frame at w; returns its size. */
static size_t wire(uint8_t *w, uint32_t len, uint8_t seed)
{
    w[0] = (uint8_t)(len >> 24), w[1] = (uint8_t)(len >> 16), w[2] = (uint8_t)(len >> 8);
    w[3] = (uint8_t)len;
    for (uint32_t i = 0; i < len; i++)
        w[4 + i] = (uint8_t)(seed + i * 7u);
    return 4 + (size_t)len;
}

/* listen= mode, one peer connected (receive buffer choice rcvbuf), the loop idle. */
static void start(struct mk *b, uint8_t rcvbuf)
{
    mk_u8(b, 0);
    op(b, OP_CONNECT, rcvbuf), op(b, OP_READ, 1), mk_u8(b, OP_SETTLE);
}

static void chunking(struct mk *b)
{
    static uint8_t w[16384];
    size_t n = 0;
    start(b, 0);
    for (uint32_t i = 0; i < 8; i++)
        n += wire(w + n, 14 + i * 190, (uint8_t)i);
    raw(b, w, n);
    mk_u8(b, OP_SETTLE), send(b, L_1514, 0, 1), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "whole_frames_in_one_write");
    start(b, 0);
    frame(b, L_60, 1, 1), frame(b, L_1514, 2, 1), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "frame_split_byte_by_byte");
    start(b, 0);
    n = wire(w, 1514, 3);
    raw(b, w, 2), op(b, OP_PUMP, 0), raw(b, w + 2, 2), op(b, OP_PUMP, 0), raw(b, w + 4, n - 4);
    frame(b, L_14, 4, 2), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "length_split_2_2");
    start(b, 0);
    frame(b, L_1, 5, 0), frame(b, L_60, 6, 0), frame(b, L_13, 7, 0), frame(b, L_14, 8, 0);
    mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "short_frames_dropped_by_the_layer");
}

/* A good frame, the length given, a good frame that must not arrive, then a new peer. */
static void bad_length(struct mk *b, uint32_t len, const char *name)
{
    start(b, 0);
    frame(b, L_1514, 1, 0), frame_len(b, len, 2, 0), frame(b, L_60, 3, 0);
    mk_u8(b, OP_SETTLE);
    op(b, OP_CONNECT, 0), frame(b, L_1514, 4, 0), send(b, L_1514, 0, 2), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, name);
}

static void lengths(struct mk *b)
{
    bad_length(b, 0, "length_0");
    bad_length(b, 0x7fffffff, "length_7fffffff");
    bad_length(b, 0xffffffff, "length_ffffffff");
    bad_length(b, MAX_FRAME + 1, "length_max_frame_plus_1");
    start(b, 0);
    frame(b, L_MAX, 1, 0), frame(b, L_MAX_1, 2, 0), frame(b, L_MAX, 3, 9);
    send(b, L_MAX, 0, 2), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "length_max_frame_both_ways");
}

static void refusal(struct mk *b)
{
    static uint8_t w[8192];
    size_t n = 0;
    for (uint32_t i = 0; i < 4; i++)
        n += wire(w + n, 1000 + i, (uint8_t)(10 + i));
    start(b, 0);
    op(b, OP_NIC, NIC_REFUSE), raw(b, w, n), mk_u8(b, OP_SETTLE);
    op(b, OP_NIC, NIC_REFUSE | NIC_RX_READY), mk_u8(b, OP_SETTLE);
    op(b, OP_NIC, NIC_TAKE), mk_u8(b, OP_SETTLE); /* no rx_ready: still held */
    op(b, OP_NIC, NIC_RX_READY), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "nic_refuses_then_rx_ready");
    start(b, 0);
    op(b, OP_NIC, NIC_REFUSE), raw(b, w, n), mk_u8(b, OP_SETTLE);
    op(b, OP_CLOSE, CLOSE_RST), mk_u8(b, OP_SETTLE); /* noticed while paused */
    op(b, OP_CONNECT, 0), frame(b, L_60, 20, 0), mk_u8(b, OP_SETTLE);
    op(b, OP_NIC, NIC_RX_READY), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "nic_refuses_peer_resets_new_peer");
}

static void disconnects(struct mk *b)
{
    static uint8_t w[2048];
    size_t n = wire(w, 1514, 1);
    static const char *const names[3] = {"disconnect_mid_frame_fin_then_new_peer",
                                         "disconnect_mid_frame_rst_then_new_peer",
                                         "half_close_mid_frame_then_new_peer"};
    for (uint8_t how = CLOSE_FIN; how <= CLOSE_SHUT_WR; how++) {
        start(b, 0);
        frame(b, L_60, 2, 0), raw(b, w, n / 2), op(b, OP_PUMP, 0), op(b, OP_CLOSE, how);
        op(b, OP_CONNECT, 0), raw(b, w, n), send(b, L_64, 0, 3), mk_u8(b, OP_SETTLE);
        mk_save(b, SS, names[how]);
    }
    start(b, 0);
    op(b, OP_CONNECT, 0), mk_u8(b, OP_SETTLE); /* the second peer is refused */
    frame(b, L_1514, 3, 0), send(b, L_60, 0, 1), op(b, OP_CONNECT, 0), op(b, OP_CONNECT, 0);
    mk_u8(b, OP_SETTLE), op(b, OP_CLOSE, CLOSE_FIN), mk_u8(b, OP_SETTLE);
    op(b, OP_CONNECT, 0), frame(b, L_60, 4, 0), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "second_peer_refused");
}

static void tx(struct mk *b)
{
    start(b, 1); /* the peer's receive buffer 2 KiB */
    op(b, OP_READ, 0);
    for (int i = 0; i < 6; i++)
        send(b, L_9014, (uint8_t)(i * 13), 16), op(b, OP_PUMP, 7);
    send(b, L_MAX, 0, 4), mk_u8(b, OP_SETTLE), frame(b, L_1514, 1, 0);
    op(b, OP_READ, 1), mk_u8(b, OP_SETTLE), send(b, L_1514, 0, 1), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "tx_full_kernel_buffer");
    start(b, 2);
    static const uint8_t splits[] = {0, 1, 62, 63, 64, 65, 71, 0x80 | 3, 0x80 | 70};
    for (size_t i = 0; i < sizeof(splits); i++)
        send(b, L_1514, splits[i], 1), send(b, L_64, splits[i], 1);
    send(b, L_13, 0, 1), send(b, L_MAX1, 0, 1), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "tx_iovec_splits_and_bad_sizes");
    start(b, 1);
    op(b, OP_READ, 0), send(b, L_32768, 5, 16), op(b, OP_CLOSE, CLOSE_RST), send(b, L_1514, 0, 4);
    mk_u8(b, OP_SETTLE), send(b, L_60, 0, 1), op(b, OP_CONNECT, 0), op(b, OP_PUMP, 0);
    op(b, OP_READ, 1);
    send(b, L_9014, 0, 4), mk_u8(b, OP_SETTLE);
    mk_save(b, SS, "tx_blocked_then_peer_reset");
}

static void connect_mode(struct mk *b)
{
    mk_u8(b, 1 | 1 << 1); /* connect=, the test's listener with a 2 KiB receive buffer */
    op(b, OP_READ, 1), mk_u8(b, OP_SETTLE), frame(b, L_1514, 1, 0), send(b, L_1514, 0, 2);
    op(b, OP_READ, 0), send(b, L_65535, 0, 8), op(b, OP_READ, 1), mk_u8(b, OP_SETTLE);
    frame(b, L_0, 2, 0), mk_u8(b, OP_SETTLE), send(b, L_60, 0, 1);
    mk_save(b, SS, "connect_mode_exchange_then_protocol_error");
}

void mk_corpus_socket_stream(void)
{
    struct mk b = {0};
    chunking(&b);
    lengths(&b);
    refusal(&b);
    disconnects(&b);
    tx(&b);
    connect_mode(&b);
    free(b.p);
}
