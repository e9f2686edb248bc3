/*
 * Out-of-line wrappers for DPDK functions that are `static inline` in the
 * headers (bindgen cannot bind those: there is no symbol to link against).
 * Each wrapper is a one-line forward; shim.c is compiled with the same
 * `pkg-config --cflags libdpdk` flags as DPDK's own headers expect.
 */
#ifndef FIBRE_DPDK_SHIM_H
#define FIBRE_DPDK_SHIM_H

#include <stdint.h>
#include <rte_mbuf.h>
#include <rte_lpm.h>

uint16_t fibre_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                                struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t fibre_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                                struct rte_mbuf **tx_pkts, uint16_t nb_pkts);
struct rte_mbuf *fibre_rte_pktmbuf_alloc(struct rte_mempool *mp);
int fibre_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                                 unsigned int count);
void fibre_rte_pktmbuf_free(struct rte_mbuf *m);
void fibre_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int count);
/* rte_pktmbuf_mtod: pointer to the first byte of packet data in the first segment. */
void *fibre_rte_pktmbuf_mtod(struct rte_mbuf *m);
/* Writable bytes from the start of data to the end of the first segment's buffer. */
uint16_t fibre_rte_pktmbuf_data_room(const struct rte_mbuf *m);
char *fibre_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int fibre_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
unsigned int fibre_rte_lcore_id(void);
unsigned int fibre_rte_socket_id(void);
int fibre_rte_errno(void);
void fibre_rte_prefetch0(const volatile void *p);
uint64_t fibre_rte_rdtsc(void);
uint64_t fibre_rte_get_tsc_hz(void);
int fibre_rte_lpm_lookup(struct rte_lpm *lpm, uint32_t ip, uint32_t *next_hop);
int fibre_rte_lpm_lookup_bulk(const struct rte_lpm *lpm, const uint32_t *ips,
                              uint32_t *next_hops, unsigned int n);

#endif
