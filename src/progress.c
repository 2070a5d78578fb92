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
	char label[160]; /* "NAME: " or "NAME: PHASE " */
	uint64_t bytes;
	uint64_t total; /* expected bytes; 0: unknown */
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
	progress_begin_phase(label, NULL);
}

void
progress_begin_phase(const char *label, const char *phase)
{
	snprintf(pg.label, sizeof(pg.label), "%.100s: %.40s%s", label, phase ? phase : "",
	         phase ? " " : "");
	pg.bytes = 0;
	pg.total = 0;
	pg.start = pg.last = now();
	log_before_print = clear_line;
}

void
progress_total(uint64_t bytes)
{
	pg.total = bytes;
}

void
progress_add(uint64_t bytes)
{
	double t, rate;
	pg.bytes += bytes;
	if (!progress_enabled)
		return;
	t = now();
	if (t - pg.last < 0.25)
		return;
	pg.last = t;
	char done[32], speed[32], all[32];
	rate = (double)pg.bytes / (t - pg.start > 0 ? t - pg.start : 1);
	format_bytes(pg.bytes, done, sizeof(done));
	format_bytes((uint64_t)rate, speed, sizeof(speed));
	if (pg.total && pg.bytes <= pg.total) {
		/* An estimate passed means it was wrong: then bytes and rate
		 * only, rather than a percent above 100 or a negative time. */
		double left = rate > 0 ? (double)(pg.total - pg.bytes) / rate : 0;
		unsigned long s = left < 360000 ? (unsigned long)left : 359999;
		format_bytes(pg.total, all, sizeof(all));
		fprintf(stderr, "\r\033[K%s%s of %s (%d%%), %s/s, %lu:%02lu:%02lu left", pg.label,
		        done, all, (int)((double)pg.bytes * 100 / (double)pg.total), speed,
		        s / 3600, s / 60 % 60, s % 60);
	} else {
		fprintf(stderr, "\r\033[K%s%s, %s/s", pg.label, done, speed);
	}
	pg.shown = 1;
}

void
progress_end(void)
{
	clear_line();
	log_before_print = NULL;
}
