/* json.h - the JSON values the core's documents share (the run record of
 * state.c, the status document of status.c): a time as ISO 8601 UTC, a
 * string, a byte count, each with null for "none".  Built with jansson;
 * every function returns a new reference. */
#ifndef CAIRN_JSON_H
#define CAIRN_JSON_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

/* "2026-11-26T02:00:00Z", or null for 0 (no such time). */
json_t *json_time_or_null(time_t t);
/* s, or null for NULL. */
json_t *json_string_or_null(const char *s);
/* n as an integer, held at INT64_MAX (JSON's integers are signed). */
json_t *json_bytes(uint64_t n);

/* An untrusted array of strings (a manifest's "recipients") into out:
 * 0 when a is an array of at most max_n strings of 1 to max_len bytes,
 * each pushed; -1 when it is not, with *bad the index of the first
 * string that is not one, or SIZE_MAX when a is no array or too long. */
int json_strings(json_t *a, size_t max_n, size_t max_len, struct strvec *out, size_t *bad);

#endif
