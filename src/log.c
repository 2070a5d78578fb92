/* log.c - see log.h */
#include "autoconf.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int log_level = CAIRN_LOG_WARN;
void (*log_before_print)(void);

void
log_vmsg(enum cairn_log_level level, const char *prefix, const char *fmt, va_list ap)
{
	char *text, *line, *pre;
	if ((int)level > log_level)
		return;
	/* Whole, however long: a message cut short can lose its cause. */
	text = xvasprintf(fmt, ap);
	/* One line per message, whatever a plugin, a manifest or a file name
	 * put in it, and nothing a terminal acts on: newlines and escape
	 * sequences are shown as \n and \x1b, so cron mails and journald stay
	 * readable and a hostile name cannot rewrite the screen. */
	line = str_escape(text);
	pre = str_escape(prefix ? prefix : "");
	if (log_before_print)
		log_before_print();
	fprintf(stderr, "cairn: %s%s%s\n",
	        level == CAIRN_LOG_ERROR  ? "error: "
	        : level == CAIRN_LOG_WARN ? "warning: "
	                                  : "",
	        pre, line);
	free(pre);
	free(line);
	free(text);
}

void
log_msg(enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}
