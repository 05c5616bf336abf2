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
 * alone. IPv4 streams use `table ip trunkline` (map dnat4), IPv6 streams
 * `table ip6 trunkline` (map dnat6); a stream with one leg of each family
 * cannot be NATed by conntrack and stays in userspace.
 */
#ifndef TRUNKLINE_BACKEND_NFT_H
#define TRUNKLINE_BACKEND_NFT_H

#include <stdint.h>
#include <stdbool.h>
#include <netinet/in.h>

#include "relayd.h"

#define NFT_TABLE	"trunkline"
/* ct mark of the entries we create, so that a flush finds only ours. */
#define TL_CT_MARK	0x544c4b31u	/* "TLK1" */

/*
 * One direction of one kind (RTP or RTCP) of a stream: packets from
 * `peer` to `local` leave from `out_local` to `out_peer`. Addresses and
 * ports in network byte order; the *_addr fields for AF_INET, the *6
 * fields for AF_INET6. A flow is of one family (checked before it is
 * made), so the two sets share their bytes; every reader looks at
 * `family` first (conntrack.c, nft_ruleset.c). Flows are made when they
 * are needed (a transaction, a conntrack request) from the streams'
 * compact state below, and not kept. (d935b70 had this union once and
 * ipv6_calls failed in one -O2 run; no cause was found in the code,
 * under UBSan or valgrind, and the union passed every run since:
 * bench/results/2026-12-03-vm-scale-mem.md.)
 */
struct nft_flow {
	int		 family;
	union {
		struct {
			uint32_t	 peer_addr, local_addr, out_local_addr,
					 out_peer_addr;
		};
		struct {
			struct in6_addr	 peer6, local6, out_local6, out_peer6;
		};
	};
	uint16_t	 peer_port, local_port, out_local_port, out_peer_port;
};

/*
 * One stream in the kernel (or about to be), kept per stream for as long
 * as the kernel carries it, so it is small (issue 16: 1 KiB per stream in
 * all; 72 bytes, an 80-byte malloc chunk, for IPv4 with RTCP): the flows
 * are made again from it when needed, local addresses are the
 * interfaces' (by index), and per kind (RTP, and RTCP unless rtcp-mux)
 * only the two peers and the conntrack entry's last reading. No pointer
 * back to the stream: the pending and removal queues hold it. The peers are copies, not the legs' latched addresses: a leg
 * re-latches before its stream is taken out, and the removal must name
 * the flows that were installed.
 */
struct nft_kind {
	uint32_t	 ct_id;		/* conntrack entry last read; 0 none */
	/* Its last reading into leg A, leg B: low 32 bits (deltas are
	 * taken modulo 2^32; reads come every few seconds at most). */
	uint32_t	 pkts[2], bytes[2];
	uint16_t	 peer_port[2];	/* leg A's peer, leg B's; network order */
	/* then the two peers' addresses, 4 or 16 bytes each */
};
#define NS_V6		0x01	/* both legs IPv6 (table ip6) */
#define NS_INSTALLED	0x02	/* else pending: in nft_priv.pending, its
				 * index there in its first kind's ct_id */
#define NS_RTCP		0x04	/* two kinds (RTP, RTCP); else rtcp-mux */
struct nft_stream {
	uint16_t	 port[2];	/* RTP port of leg A, leg B (RTCP + 1) */
	uint8_t		 ifaces;	/* leg A's interface | leg B's << 4 */
	uint8_t		 flags;		/* NS_* */
	uint16_t	 last_read;	/* when it was read last (READ_TICK) */
	uint32_t	 kinds[];	/* 1 or 2 struct nft_kind with addresses */
};
/* The allocation of a stream of that family and number of kinds. */
size_t	 nft_stream_size(int family, int nkinds);
struct nft_kind *nft_stream_kind(const struct nft_stream *, int kind);
/*
 * Fold a conntrack reading (found or not) of a kind's entry into its
 * last reading; pkts/bytes get what the kernel counted since, into leg
 * A and leg B.
 */
struct ct_counters;
void	 nft_kind_count(struct nft_kind *, const struct ct_counters *,
	    uint32_t pkts[2], uint32_t bytes[2]);

/*
 * dnat4/dnat6 element: key saddr.sport.daddr.dport, data
 * out_local.out_peer (each field padded to 4 bytes, as nft concatenates:
 * 16 bytes for IPv4, 40 for IPv6; the rest zero).
 */
#define NFT_ELEM4_LEN	16
#define NFT_ELEM6_LEN	40
struct nft_elem {
	int		 family;
	uint8_t		 key[NFT_ELEM6_LEN];
	uint8_t		 data[NFT_ELEM6_LEN];
};
void	 nft_flow_elem(const struct nft_flow *, struct nft_elem *);
void	 nft_elem_flow(const struct nft_elem *, struct nft_flow *);
/* Order of family and key (qsort, bsearch). */
int	 nft_elem_cmp(const void *, const void *);

/* ---- nft_ruleset.c ---- */
struct mnl_socket;
struct mnl_socket *nf_batch_sock_open(int bufsz);
struct nft_sock;
int	 nft_sock_open(struct nft_sock **);
void	 nft_sock_close(struct nft_sock *);
/* Does our table of this family (AF_INET, AF_INET6) exist? 1, 0 or -errno. */
int	 nft_table_exists(struct nft_sock *, int family);
/*
 * Append the dnat4 (AF_INET) or dnat6 (AF_INET6) elements in the kernel
 * now to *keys (adoption after restart).
 */
int	 nft_dump_keys(struct nft_sock *, int family, struct nft_elem **,
	    size_t *n);

/*
 * A transaction: begin, queue changes, commit. The table is replaced
 * atomically by table_build (delete if there + create), so packets see
 * either the old ruleset or the new one.
 */
int	 nft_tx_begin(struct nft_sock *);
/*
 * The relay's addresses that notrack covers, per family (network order).
 * The ip6 table is built only when there are IPv6 addresses; `exists`
 * and `exists6` say which tables are there now (replaced or deleted).
 */
struct nft_addrs {
	uint32_t	 v4[RELAYD_MAX_IFACES];
	int		 n4;
	struct in6_addr	 v6[RELAYD_MAX_IFACES];
	int		 n6;
};
int	 nft_tx_table_build(struct nft_sock *, bool exists, bool exists6,
	    uint16_t port_min, uint16_t port_max, int nifaces,
	    const struct nft_addrs *);
int	 nft_tx_table_delete(struct nft_sock *, int family);
/* Move flows in or out of the kernel path: dnat4/dnat6 elements. */
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
	    const struct nft_addrs *);
/* Count entries with our mark (tests, diagnostics). */
int	 ct_count_ours(struct ct_sock *);

#endif
