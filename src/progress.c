/* progress.c - see progress.h */
#include "autoconf.h"

#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

int progress_enabled;

static struct {
	char label[128];
	uint64_t bytes;
	double start, last;
	int shown;
} pg;

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
clear_line(void)
{
	if (pg.shown) {
		fputs("\r\033[K", stderr);
		pg.shown = 0;
	}
}

void
progress_begin(const char *label)
{
	snprintf(pg.label, sizeof(pg.label), "%s", label);
	pg.bytes = 0;
	pg.start = pg.last = now();
	log_before_print = clear_line;
}

void
progress_add(uint64_t bytes)
{
	double t;
	pg.bytes += bytes;
	if (!progress_enabled)
		return;
	t = now();
	if (t - pg.last < 0.25)
		return;
	pg.last = t;
	char done[32], rate[32];
	format_bytes(pg.bytes, done, sizeof(done));
	format_bytes((uint64_t)((double)pg.bytes / (t - pg.start > 0 ? t - pg.start : 1)), rate,
	             sizeof(rate));
	fprintf(stderr, "\r\033[K%s: %s, %s/s", pg.label, done, rate);
	pg.shown = 1;
}

void
progress_end(void)
{
	clear_line();
	log_before_print = NULL;
}
