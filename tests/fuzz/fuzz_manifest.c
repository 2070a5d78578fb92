/* fuzz_manifest.c - libFuzzer target: a set's manifest.json is read from
 * the sink, which is untrusted: parse any bytes, then check where the
 * manifest claims to belong. */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "manifest.h"
#include "sets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct manifest *m = manifest_parse((const char *)data, size, &err);
	if (!m) {
		free(err);
		return 0;
	}
	/* once where it says it lies, once somewhere else */
	if (m->job && m->id && manifest_check_place(m, m->job, m->id, &err) != 0)
		free(err);
	err = NULL;
	if (manifest_check_place(m, "daily", "20260101T000000Z", &err) != 0)
		free(err);
	manifest_free(m);
	return 0;
}
