/* log.h - messages to stderr, one line each, prefixed "cairn: ". */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include <cairn/plugin.h>
#include <stdarg.h>

/* The most verbose level printed; set by -q/-v. */
extern int log_level;

void log_msg(enum cairn_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void log_vmsg(enum cairn_log_level level, const char *prefix, const char *fmt, va_list ap);

#define log_error(...) log_msg(CAIRN_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(CAIRN_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(CAIRN_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(CAIRN_LOG_DEBUG, __VA_ARGS__)

/* Called before a message is printed, so a progress line can clear itself. */
extern void (*log_before_print)(void);

#endif
