/* progress.h - one self-updating line on a terminal (bytes, rate; percent
 * and time left once the total is known) for long
 * work; silent when stderr is not a terminal, so cron mails stay empty. */
#ifndef CAIRN_PROGRESS_H
#define CAIRN_PROGRESS_H

#include <stdint.h>

extern int progress_enabled;

void progress_begin(const char *label);
/* The same for one phase of the work ("checking", "restoring"): the line
 * reads "LABEL: PHASE 1.2 MiB of 3.4 MiB (35%), ...", counted from 0. */
void progress_begin_phase(const char *label, const char *phase);
/* The bytes the work is expected to take in all; 0: unknown.  Reset by
 * progress_begin. */
void progress_total(uint64_t bytes);
void progress_add(uint64_t bytes);
void progress_end(void);

#endif
