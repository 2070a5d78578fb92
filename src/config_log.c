/* config_log.c - a job's keys for its change logs (cairn follow, point
 * in time recovery): segment_span and segment_size.  Apart from config.c,
 * which is long enough; see config_log_key() in config.h. */
#include "autoconf.h"

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "values.h"

#define SEGMENT_SPAN_DEFAULT 60                   /* seconds */
#define SEGMENT_SIZE_DEFAULT ((uint64_t)64 << 20) /* raw bytes */
#define SEGMENT_SIZE_MIN ((int64_t)64 << 10)      /* 64 KiB */
#define SEGMENT_SPAN_MAX ((int64_t)24 * 60 * 60)  /* a day */
#define SEGMENT_SIZE_MAX ((int64_t)4 << 30)       /* 4 GiB */

void
config_log_defaults(struct cfg_log *log)
{
	memset(log, 0, sizeof(*log));
	log->segment_span = SEGMENT_SPAN_DEFAULT;
	log->segment_size = SEGMENT_SIZE_DEFAULT;
}

int
config_log_key(const char *key, const char *value, struct cfg_log *log, char **why)
{
	int64_t v;
	*why = NULL;
	if (strcmp(key, "segment_span") == 0) {
		if (parse_duration(value, &v) || v < 1 || v > SEGMENT_SPAN_MAX)
			*why = xasprintf(
			        "\"%s\": use a duration from 1s to 1d, e.g. 60s (a log segment is closed at least this often)",
			        value);
		else
			log->segment_span = v;
		return 1;
	}
	if (strcmp(key, "segment_size") == 0) {
		if (parse_size(value, &v) || v < SEGMENT_SIZE_MIN || v > SEGMENT_SIZE_MAX)
			*why = xasprintf(
			        "\"%s\": use a size from 64KiB to 4GiB, e.g. 64MiB (a log segment is closed once it holds this much)",
			        value);
		else
			log->segment_size = (uint64_t)v;
		return 1;
	}
	return 0;
}
