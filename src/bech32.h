/* bech32.h - the Bech32 encoding (BIP 173) as age uses it for its keys:
 * no length limit, one case throughout, the checksum over the lowercase
 * human-readable part. */
#ifndef CAIRN_BECH32_H
#define CAIRN_BECH32_H

#include <stddef.h>
#include <stdint.h>

/* Encodes data under hrp (lowercase letters expected) into a new string,
 * in uppercase when upper is set.  Returns NULL for an hrp that Bech32
 * cannot carry. */
char *bech32_encode(const char *hrp, const uint8_t *data, size_t len, int upper);

/* Decodes s: its hrp (lowercased) goes to hrp (at most hrpsz bytes with the
 * NUL), its data to data (at most datasz bytes, length in *len).  Returns 0,
 * or -1 with a static reason in *why (mixed case, a bad character, a bad
 * checksum, bad padding, too long).  Never quotes s. */
int bech32_decode(const char *s, char *hrp, size_t hrpsz, uint8_t *data, size_t datasz, size_t *len,
                  const char **why);

#endif
