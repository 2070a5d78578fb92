/* fuzz_parsers.c - libFuzzer target: the value parsers that read what a
 * user types (--at, sizes, durations, yes/no, numbers) and what a sink
 * lists (backup ids), each on the same NUL-terminated text. */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"
#include "values.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	time_t t;
	int64_t v;
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (backup_id_parse(s, &t) == 0) {
		/* an id that parses formats back to itself */
		char id[BACKUP_ID_LEN + 1];
		backup_id_format(t, id);
		if (strcmp(id, s) != 0)
			abort();
	}
	(void)iso8601_parse(s, &t);
	(void)parse_size(s, &v);
	(void)parse_duration(s, &v);
	(void)parse_bool(s, &v);
	(void)parse_int(s, &v);
	free(s);
	return 0;
}
