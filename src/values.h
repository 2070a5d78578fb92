/* values.h - the text of a value in the INI file or on the command line as
 * a number, a flag or a compression.  Shared by the core's own keys
 * (config.c) and plugin keys (plugin_keys.c), so one word means one thing
 * wherever it is written. */
#ifndef CAIRN_VALUES_H
#define CAIRN_VALUES_H

#include <stdint.h>

enum compression {
	COMP_NONE,
	COMP_ZSTD,
	COMP_GZIP,
	COMP_XZ
};

/* Each returns 0, or -1 when text is not a value of that type. */
int parse_bool(const char *text, int64_t *out);
int parse_int(const char *text, int64_t *out);
int parse_size(const char *text, int64_t *out);
int parse_duration(const char *text, int64_t *out);
int parse_compression(const char *text, enum compression *out);
const char *compression_name(enum compression c);
/* File name suffix without dot, or NULL for none. */
const char *compression_ext(enum compression c);

#endif
