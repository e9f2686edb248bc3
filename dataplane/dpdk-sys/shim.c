/* See shim.h: forwards to DPDK's static-inline functions. */
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_lpm.h>
#include "shim.h"

uint16_t fibre_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                                struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t fibre_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                                struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *fibre_rte_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int fibre_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                                 unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void fibre_rte_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void fibre_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int count)
{
	rte_pktmbuf_free_bulk(mbufs, count);
}

void *fibre_rte_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

uint16_t fibre_rte_pktmbuf_data_room(const struct rte_mbuf *m)
{
	return (uint16_t)(m->buf_len - m->data_off);
}

char *fibre_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

int fibre_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

unsigned int fibre_rte_lcore_id(void)
{
	return rte_lcore_id();
}

unsigned int fibre_rte_socket_id(void)
{
	return rte_socket_id();
}

int fibre_rte_errno(void)
{
	return rte_errno;
}

void fibre_rte_prefetch0(const volatile void *p)
{
	rte_prefetch0(p);
}

uint64_t fibre_rte_rdtsc(void)
{
	return rte_rdtsc();
}

uint64_t fibre_rte_get_tsc_hz(void)
{
	return rte_get_tsc_hz();
}

int fibre_rte_lpm_lookup(struct rte_lpm *lpm, uint32_t ip, uint32_t *next_hop)
{
	return rte_lpm_lookup(lpm, ip, next_hop);
}

int fibre_rte_lpm_lookup_bulk(const struct rte_lpm *lpm, const uint32_t *ips,
                              uint32_t *next_hops, unsigned int n)
{
	return rte_lpm_lookup_bulk(lpm, ips, next_hops, n);
}
