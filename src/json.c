/* json.c - see json.h */
#include "autoconf.h"

#include "json.h"

#include <stdint.h>

#include "timeutil.h"

json_t *
json_time_or_null(time_t t)
{
	char buf[32];
	if (!t)
		return json_null();
	iso8601_format_utc(t, buf, sizeof(buf));
	return json_string(buf);
}

json_t *
json_string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *
json_bytes(uint64_t n)
{
	return json_integer(n > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)n);
}

int
json_strings(json_t *a, size_t max_n, size_t max_len, struct strvec *out, size_t *bad)
{
	json_t *o;
	size_t i;
	*bad = SIZE_MAX;
	if (!json_is_array(a) || json_array_size(a) > max_n)
		return -1;
	json_array_foreach(a, i, o)
	{
		if (!json_is_string(o) || !json_string_length(o) ||
		    json_string_length(o) > max_len) {
			*bad = i;
			return -1;
		}
		strvec_push(out, json_string_value(o));
	}
	return 0;
}
