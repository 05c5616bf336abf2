/*
 * siphash.c: SipHash-2-4 (Aumasson and Bernstein), a keyed hash for tables
 * whose keys come from the network (relayd's call ids, the controller's
 * source addresses and nonces): with an unkeyed hash (FNV) anyone can
 * precompute keys that all land in one bucket and make every lookup walk
 * them all. Each table draws its own random key (getrandom) when made.
 */
#include <stdint.h>
#include <string.h>

#include "proto.h"

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void
sipround(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0]; v[0] = ROTL(v[0], 32);
	v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2]; v[2] = ROTL(v[2], 32);
}

static uint64_t
load_le64(const uint8_t *p)
{
	uint64_t x = 0;

	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

uint64_t
siphash24(const void *data, size_t len, const uint64_t key[2])
{
	const uint8_t *p = data;
	uint64_t v[4] = {
		0x736f6d6570736575ull ^ key[0], 0x646f72616e646f6dull ^ key[1],
		0x6c7967656e657261ull ^ key[0], 0x7465646279746573ull ^ key[1],
	};
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = load_le64(p + i);
		v[3] ^= m;
		sipround(v);
		sipround(v);
		v[0] ^= m;
	}
	for (size_t k = 0; k < tail; k++)
		b |= (uint64_t)p[i + k] << (8 * k);
	v[3] ^= b;
	sipround(v);
	sipround(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (int r = 0; r < 4; r++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}
