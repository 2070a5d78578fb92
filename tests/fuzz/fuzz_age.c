/* fuzz_age.c - libFuzzer target: an age object is read from the sink,
 * which is untrusted: the decryptor (src/age_dec.c, src/age_header.c) with
 * an X25519 identity and a passphrase, fed in the reads chunks.h makes, and
 * the key-file parsers on the same bytes.  The seed is encrypted to the
 * identity below, so mutations reach the payload. */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "age.h"
#include "chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a test key, also the unit test's (tests/unit/age_kat.h: kat_key1) */
static const char key[] =
        "AGE-SECRET-KEY-1FAZ5HZ5NP2Y8QGPJZFCTCV4RXTGE9EW2HTX06M9PKGYAPXTAUXCSKD7A7R";

static int
sink(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct age_identities *ids;
	char err[AGE_ERR_MAX];
	struct age_recipients *r = age_recipients_new();
	struct age_identities *scratch = age_identities_new();
	struct chunks c;
	struct age_dec *d;
	uint8_t buf[70000];
	size_t n;
	int rc = AGE_OK;

	if (ids == NULL) {
		ids = age_identities_new();
		/* work factors above 4 refused: an input must not buy seconds */
		if (age_identities_parse(ids, key, sizeof(key) - 1, "fuzz.key", err, sizeof(err)) ||
		    age_identities_add_passphrase(ids, "pw", 2, 4, err, sizeof(err)))
			abort();
	}
	age_recipients_parse(r, (const char *)data, size, "fuzz", err, sizeof(err));
	age_identities_parse(scratch, (const char *)data, size, "fuzz", err, sizeof(err));
	age_recipients_free(r);
	age_identities_free(scratch);
	chunks_init(&c, data, size);
	d = age_dec_new(ids, "fuzz", sink, NULL);
	while (rc == AGE_OK && (n = chunks_read(&c, buf, sizeof(buf))) > 0)
		rc = age_dec_write(d, buf, n);
	if (rc == AGE_OK)
		rc = age_dec_finish(d);
	if (getenv("FUZZ_SHOW"))
		fprintf(stderr, "result %d: %s\n", rc, age_dec_error(d));
	age_dec_free(d);
	return 0;
}
