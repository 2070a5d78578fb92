/* log.c - see log.h */
#include "autoconf.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

int log_level = CAIRN_LOG_WARN;
void (*log_before_print)(void);

void
log_vmsg(enum cairn_log_level level, const char *prefix, const char *fmt, va_list ap)
{
	char line[4096];
	if ((int)level > log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One line per message, whatever a plugin or a file name put in it:
	 * cron mails and journald stay readable. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_before_print)
		log_before_print();
	fprintf(stderr, "cairn: %s%s%s\n",
	        level == CAIRN_LOG_ERROR  ? "error: "
	        : level == CAIRN_LOG_WARN ? "warning: "
	                                  : "",
	        prefix ? prefix : "", line);
}

void
log_msg(enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}
