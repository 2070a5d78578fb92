/* values.c - see values.h */
#include "autoconf.h"

#include "values.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
parse_bool(const char *t, int64_t *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1", NULL};
	static const char *const no[] = {"no", "false", "off", "0", NULL};
	for (int i = 0; yes[i]; i++) {
		if (strcasecmp(t, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(t, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
parse_int(const char *t, int64_t *out)
{
	char *end;
	long long v;
	if (!*t)
		return -1;
	errno = 0;
	v = strtoll(t, &end, 10);
	if (errno || *end || end == t)
		return -1;
	*out = v;
	return 0;
}

/* A non-negative number followed by a unit from table; the empty unit
 * must be in the table too. */
struct unit {
	const char *name;
	int64_t factor;
};

static int
parse_with_units(const char *t, const struct unit *units, int64_t *out)
{
	char *end;
	unsigned long long v;
	if (!isdigit((unsigned char)*t))
		return -1;
	errno = 0;
	v = strtoull(t, &end, 10);
	if (errno)
		return -1;
	while (*end == ' ')
		end++;
	for (int i = 0; units[i].name; i++) {
		if (strcasecmp(end, units[i].name) == 0) {
			if (v > (unsigned long long)(INT64_MAX / units[i].factor))
				return -1;
			*out = (int64_t)v * units[i].factor;
			return 0;
		}
	}
	return -1;
}

int
parse_size(const char *t, int64_t *out)
{
	/* K and KiB are the same binary unit: sysadmins write "64M" meaning
	 * 64 MiB, and two meanings for one letter would only surprise. */
	static const struct unit units[] = {{"", 1},           {"B", 1},           {"K", 1LL << 10},
	                                    {"KB", 1LL << 10}, {"KiB", 1LL << 10}, {"M", 1LL << 20},
	                                    {"MB", 1LL << 20}, {"MiB", 1LL << 20}, {"G", 1LL << 30},
	                                    {"GB", 1LL << 30}, {"GiB", 1LL << 30}, {"T", 1LL << 40},
	                                    {"TB", 1LL << 40}, {"TiB", 1LL << 40}, {NULL, 0}};
	return parse_with_units(t, units, out);
}

int
parse_duration(const char *t, int64_t *out)
{
	static const struct unit units[] = {{"", 1},      {"s", 1},      {"m", 60}, {"h", 3600},
	                                    {"d", 86400}, {"w", 604800}, {NULL, 0}};
	return parse_with_units(t, units, out);
}

static const char *const comp_names[] = {
        [COMP_NONE] = "none", [COMP_ZSTD] = "zstd", [COMP_GZIP] = "gzip", [COMP_XZ] = "xz"};

int
parse_compression(const char *t, enum compression *out)
{
	for (int c = COMP_NONE; c <= COMP_XZ; c++)
		if (strcmp(t, comp_names[c]) == 0) {
			*out = (enum compression)c;
			return 0;
		}
	return -1;
}

const char *
compression_name(enum compression c)
{
	return comp_names[c];
}

const char *
compression_ext(enum compression c)
{
	static const char *const ext[] = {
	        [COMP_NONE] = NULL, [COMP_ZSTD] = "zst", [COMP_GZIP] = "gz", [COMP_XZ] = "xz"};
	return ext[c];
}
