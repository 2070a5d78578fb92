/* json.c - see json.h */
#include "autoconf.h"

#include "json.h"

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
