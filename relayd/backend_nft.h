/*
 * backend_nft.h: the parts of the nftables/conntrack backend, shared by
 * backend_nft.c (the backend_ops and stream bookkeeping), nft_ruleset.c
 * (our table, built and changed with libnftnl batches over libmnl) and
 * conntrack.c (ctnetlink requests in batches: delete, get counters, dump).
 * Private to these three files; relayd.h declares what the rest sees.
 *
 * The method (measured in bench/nft/RESULTS.md): conntrack NAT. The first
 * packet of a flow finds its rewrite in one map keyed on the full 4-tuple
 * (so only the latched peer matches: strict source), conntrack remembers
 * it, and every later packet of both directions is rewritten by conntrack
 * alone. IPv4 only.
 */
#ifndef TRUNKLINE_BACKEND_NFT_H
#define TRUNKLINE_BACKEND_NFT_H

#include <stdint.h>
#include <netinet/in.h>

#define NFT_TABLE	"trunkline"
/* ct mark of the entries we create, so that a flush finds only ours. */
#define TL_CT_MARK	0x544c4b31u	/* "TLK1" */

/*
 * One direction of one kind (RTP or RTCP) of a stream: packets from
 * `peer` to `local` leave from `out_local` to `out_peer`. Addresses and
 * ports in network byte order.
 */
struct nft_flow {
	uint32_t	 peer_addr, local_addr, out_local_addr, out_peer_addr;
	uint16_t	 peer_port, local_port, out_local_port, out_peer_port;
};

/* dnat4 element: key saddr.sport.daddr.dport, data out_local.out_peer. */
struct nft_elem {
	uint8_t		 key[16];
	uint8_t		 data[16];
};
void	 nft_flow_elem(const struct nft_flow *, struct nft_elem *);

/* ---- nft_ruleset.c ---- */
struct mnl_socket;
struct mnl_socket *nf_batch_sock_open(int bufsz);
struct nft_sock;
int	 nft_sock_open(struct nft_sock **);
void	 nft_sock_close(struct nft_sock *);
/* Does our table exist? 1, 0 or -errno. */
int	 nft_table_exists(struct nft_sock *);
/* Keys of the dnat4 elements in the kernel now (adoption after restart). */
int	 nft_dump_keys(struct nft_sock *, struct nft_elem **, size_t *n);

/*
 * A transaction: begin, queue changes, commit. The table is replaced
 * atomically by table_build (delete if there + create), so packets see
 * either the old ruleset or the new one.
 */
int	 nft_tx_begin(struct nft_sock *);
/* addrs: the relay's IPv4 addresses (network order) that notrack covers. */
int	 nft_tx_table_build(struct nft_sock *, bool exists, uint16_t port_min,
	    uint16_t port_max, int nifaces, const uint32_t *addrs, int naddrs);
int	 nft_tx_table_delete(struct nft_sock *);
/* Move flows in or out of the kernel path: dnat4 elements. */
int	 nft_tx_flows(struct nft_sock *, bool add, const struct nft_flow *,
	    size_t n);
/* 0 or the first error the kernel reported; msg says where. */
int	 nft_tx_commit(struct nft_sock *, char *msg, size_t len);
void	 nft_tx_abort(struct nft_sock *);

/* ---- conntrack.c ---- */
struct ct_sock;
struct ct_counters {
	bool		 found;
	uint32_t	 id;
	bool		 orig_from_peer;	/* orig direction = peer -> local */
	uint64_t	 pkts[2], bytes[2];	/* [0] orig, [1] reply */
};
int	 ct_open(struct ct_sock **);
void	 ct_close(struct ct_sock *);
/* Delete the entries of these flows (peer -> local), ENOENT ignored. */
int	 ct_delete_flows(struct ct_sock *, const struct nft_flow *, size_t n);
/* Read the entries of these flows; out[i] for flows[i]. */
int	 ct_get_flows(struct ct_sock *, const struct nft_flow *, size_t n,
	    struct ct_counters *out);
/*
 * Delete every entry with our mark whose original tuple is not one of
 * `keep` (dnat4 keys); keep == NULL, nkeep == 0 deletes all of ours.
 * Returns the number deleted or -errno.
 */
int	 ct_flush_ours(struct ct_sock *, const struct nft_elem *keep,
	    size_t nkeep);
/*
 * At start: delete every UDP entry to a relay address (network order) and
 * a port in [min, max], or from one; the host's other flows stay.
 */
int	 ct_flush_ports(struct ct_sock *, uint16_t min, uint16_t max,
	    const uint32_t *addrs, int naddrs);
/* Count entries with our mark (tests, diagnostics). */
int	 ct_count_ours(struct ct_sock *);

#endif
