/* bech32.c - Bech32 (BIP 173) for age's keys; see bech32.h. */
#include "autoconf.h"

#include "bech32.h"

#include <ctype.h>
#include <string.h>

#include "util.h"

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t
polymod_step(uint32_t chk, uint8_t v)
{
	static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
	uint32_t top = chk >> 25;
	int i;

	chk = ((chk & 0x1ffffff) << 5) ^ v;
	for (i = 0; i < 5; i++)
		if ((top >> i) & 1)
			chk ^= gen[i];
	return chk;
}

static uint32_t
hrp_polymod(const char *hrp, size_t n)
{
	uint32_t chk = 1;
	size_t i;

	for (i = 0; i < n; i++)
		chk = polymod_step(chk, (uint8_t)(tolower((unsigned char)hrp[i]) >> 5));
	chk = polymod_step(chk, 0);
	for (i = 0; i < n; i++)
		chk = polymod_step(chk, (uint8_t)(tolower((unsigned char)hrp[i]) & 31));
	return chk;
}

char *
bech32_encode(const char *hrp, const uint8_t *data, size_t len, int upper)
{
	size_t hn = strlen(hrp), n5 = (len * 8 + 4) / 5, i, o;
	uint32_t chk, acc = 0;
	int bits = 0;
	char *out;

	if (hn == 0)
		return NULL;
	for (i = 0; i < hn; i++)
		if (hrp[i] < 33 || hrp[i] > 126)
			return NULL;
	out = xmalloc(hn + 1 + n5 + 6 + 1);
	memcpy(out, hrp, hn);
	out[hn] = '1';
	o = hn + 1;
	chk = hrp_polymod(hrp, hn);
	for (i = 0; i < len; i++) {
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			uint8_t v = (acc >> (bits - 5)) & 31;
			bits -= 5;
			chk = polymod_step(chk, v);
			out[o++] = charset[v];
		}
	}
	if (bits > 0) {
		uint8_t v = (acc << (5 - bits)) & 31;
		chk = polymod_step(chk, v);
		out[o++] = charset[v];
	}
	for (i = 0; i < 6; i++)
		chk = polymod_step(chk, 0);
	chk ^= 1;
	for (i = 0; i < 6; i++)
		out[o++] = charset[(chk >> (5 * (5 - i))) & 31];
	out[o] = '\0';
	for (i = 0; upper && i < o; i++)
		out[i] = (char)toupper((unsigned char)out[i]);
	return out;
}

/* The 5-bit value of c, or -1. */
static int
b32_value(char c)
{
	const char *p = strchr(charset, tolower((unsigned char)c));

	return (c != '\0' && p != NULL) ? (int)(p - charset) : -1;
}

int
bech32_decode(const char *s, char *hrp, size_t hrpsz, uint8_t *data, size_t datasz, size_t *len,
              const char **why)
{
	size_t n = strlen(s), sep, i, o = 0;
	int lower = 0, upper = 0, bits = 0;
	uint32_t chk, acc = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < 33 || s[i] > 126)
			return *why = "a character Bech32 does not allow", -1;
		lower |= islower((unsigned char)s[i]) != 0;
		upper |= isupper((unsigned char)s[i]) != 0;
	}
	if (lower && upper)
		return *why = "mixed upper and lower case", -1;
	for (sep = n; sep > 0 && s[sep - 1] != '1'; sep--)
		;
	if (sep < 2 || n - sep < 6)
		return *why = "no Bech32 separator or too short", -1;
	sep--;
	if (sep + 1 > hrpsz)
		return *why = "an unexpected key type", -1;
	for (i = 0; i < sep; i++)
		hrp[i] = (char)tolower((unsigned char)s[i]);
	hrp[sep] = '\0';
	chk = hrp_polymod(s, sep);
	for (i = sep + 1; i < n; i++) {
		int v = b32_value(s[i]);

		if (v < 0)
			return *why = "a character Bech32 does not allow", -1;
		chk = polymod_step(chk, (uint8_t)v);
		if (i >= n - 6)
			continue;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			if (o == datasz)
				return *why = "too long", -1;
			data[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	if (chk != 1)
		return *why = "a bad checksum (a typo?)", -1;
	if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
		return *why = "bad padding", -1;
	*len = o;
	return 0;
}
