/* progress.h - one self-updating line on a terminal (bytes, rate) for long
 * work; silent when stderr is not a terminal, so cron mails stay empty. */
#ifndef CAIRN_PROGRESS_H
#define CAIRN_PROGRESS_H

#include <stdint.h>

extern int progress_enabled;

void progress_begin(const char *label);
void progress_add(uint64_t bytes);
void progress_end(void);

#endif
