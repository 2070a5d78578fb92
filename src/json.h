/* json.h - the JSON values the core's documents share (the run record of
 * state.c, the status document of status.c): a time as ISO 8601 UTC, a
 * string, a byte count, each with null for "none".  Built with jansson;
 * every function returns a new reference. */
#ifndef CAIRN_JSON_H
#define CAIRN_JSON_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

/* "2026-11-26T02:00:00Z", or null for 0 (no such time). */
json_t *json_time_or_null(time_t t);
/* s, or null for NULL. */
json_t *json_string_or_null(const char *s);
/* n as an integer, held at INT64_MAX (JSON's integers are signed). */
json_t *json_bytes(uint64_t n);

#endif
