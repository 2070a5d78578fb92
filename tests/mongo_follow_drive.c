/*
 * mongo_follow_drive.c - the mongo source's follow() and backup() driven
 * without the core, for tests/integration/mongo_follow.sh.
 *
 *   mongo_follow_drive follow OUT STOPFILE FROM [KEY=VALUE]...
 *   mongo_follow_drive backup OUT [KEY=VALUE]...
 *   mongo_follow_drive restore IN [KEY=VALUE]...
 *
 * follow: runs follow() from FROM ("T:I", or "-" for now), appending
 * every record's bytes to OUT and printing one line per call on stdout
 * ("record T:I LEN", "idle T:I", "idle -"), until STOPFILE exists (then
 * out returns CAIRN_E_CANCELLED); last "rc CODE ERROR".
 * backup: runs backup() into OUT and prints "position start|end T:I LSN
 * TIME_MS", each stat "stat KEY VALUE" and "rc CODE ERROR".
 * restore: runs restore() of IN (the core's checks left out) and prints
 * each stat and "rc CODE ERROR".
 * KEY=VALUE are the source's keys (uri=... is needed); a LIST's words are
 * separated by spaces.  Exit status 0 whatever rc says.
 */
#include "mongo_drive_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
d_position(cairn_ctx *ctx, int which, const struct cairn_log_pos *pos)
{
	(void)ctx;
	printf("position %s %s %016llx %lld\n", which == CAIRN_LOG_AT_END ? "end" : "start",
	       pos->text, (unsigned long long)pos->lsn, (long long)pos->time_ms);
}

static char d_dir[4096];

static const char *
d_scratch(cairn_ctx *ctx)
{
	(void)ctx;
	if (!d_dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(d_dir, sizeof(d_dir), "%s/mfdrive.XXXXXX", tmp ? tmp : "/tmp");
		if (!mkdtemp(d_dir)) {
			d_dir[0] = '\0';
			return NULL;
		}
	}
	return d_dir;
}

static const struct cairn_host d_host = {
        .struct_size = sizeof(struct cairn_host),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .cairn_version = "test",
        .log = drive_log,
        .set_error = drive_set_error,
        .cancelled = drive_cancelled,
        .stat = drive_stat,
        .scratch_dir = d_scratch,
        .log_position = d_position,
};

/* ------------------------------------------------------------ follow */

struct d_out {
	struct cairn_log_out out;
	FILE *f;
	const char *stop;
};

static int
d_stop(struct d_out *o)
{
	fflush(stdout);
	return access(o->stop, F_OK) == 0 ? CAIRN_E_CANCELLED : 0;
}

static int
d_record(struct cairn_log_out *self, const void *buf, size_t len, const struct cairn_log_pos *pos)
{
	struct d_out *o = (struct d_out *)self;
	if (fwrite(buf, 1, len, o->f) != len || fflush(o->f) != 0)
		return CAIRN_E_IO;
	printf("record %s %zu %lld\n", pos->text, len, (long long)pos->time_ms);
	return d_stop(o);
}

static int
d_idle(struct cairn_log_out *self, const struct cairn_log_pos *pos)
{
	struct d_out *o = (struct d_out *)self;
	printf("idle %s\n", pos ? pos->text : "-");
	return d_stop(o);
}

static int
d_follow(const struct cairn_plugin *p, void *inst, char **argv)
{
	struct d_out o = {.out = {sizeof(struct cairn_log_out), d_record, d_idle}};
	struct cairn_log_pos from = {0};
	unsigned t, i;

	o.f = fopen(argv[0], "ab");
	o.stop = argv[1];
	if (!o.f)
		return CAIRN_E_IO;
	if (strcmp(argv[2], "-") != 0) {
		if (sscanf(argv[2], "%u:%u", &t, &i) != 2)
			return CAIRN_E_CONFIG;
		from.lsn = (uint64_t)t << 32 | i;
		from.time_ms = (int64_t)t * 1000;
		snprintf(from.text, sizeof(from.text), "%u:%u", t, i);
	}
	int rc = p->source->follow(inst, strcmp(argv[2], "-") ? &from : NULL, &o.out);
	fclose(o.f);
	return rc;
}

/* ------------------------------------------------------------ backup */

struct d_file {
	struct cairn_out out;
	FILE *f;
};

static int
d_write(struct cairn_out *self, const void *buf, size_t len)
{
	struct d_file *o = (struct d_file *)self;
	return fwrite(buf, 1, len, o->f) == len ? 0 : CAIRN_E_IO;
}

struct d_in {
	struct cairn_in in;
	FILE *f;
};

static ssize_t
d_read(struct cairn_in *self, void *buf, size_t len)
{
	struct d_in *i = (struct d_in *)self;
	size_t n = fread(buf, 1, len, i->f);
	return n == 0 && ferror(i->f) ? CAIRN_E_IO : (ssize_t)n;
}

static int
d_restore(const struct cairn_plugin *p, void *inst, const char *path)
{
	struct d_in i = {.in = {sizeof(struct cairn_in), d_read}};
	int rc;
	if (!(i.f = fopen(path, "rb")))
		return CAIRN_E_IO;
	rc = p->source->restore(inst, &i.in, 0);
	fclose(i.f);
	return rc;
}

int
main(int argc, char **argv)
{
	const struct cairn_plugin *p = cairn_plugin_entry(&d_host);
	struct cairn_config cfg;
	static struct cairn_ctx ctx;
	void *inst = NULL;
	int rc, follow, first;

	if (argc < 3 || (strcmp(argv[1], "follow") && strcmp(argv[1], "backup") &&
	                 strcmp(argv[1], "restore"))) {
		fprintf(stderr, "usage: mongo_follow_drive follow|backup|restore ...\n");
		return 2;
	}
	follow = !strcmp(argv[1], "follow");
	first = follow ? 5 : 3;
	if (argc < first) {
		fprintf(stderr,
		        "usage: mongo_follow_drive follow OUT STOPFILE FROM KEY=VALUE...\n");
		return 2;
	}
	drive_config(p->keys, argv + first, argc - first, &cfg);
	rc = p->source->create(&ctx, &cfg, &inst);
	if (rc == 0 && follow) {
		printf("extension %s\n", p->source->log_extension(inst));
		rc = d_follow(p, inst, argv + 2);
	} else if (rc == 0 && !strcmp(argv[1], "restore")) {
		rc = d_restore(p, inst, argv[2]);
	} else if (rc == 0) {
		struct d_file o = {.out = {sizeof(struct cairn_out), d_write}};
		if (!(o.f = fopen(argv[2], "wb")))
			return 1;
		rc = p->source->backup(inst, &o.out);
		if (fclose(o.f) != 0 && rc == 0)
			rc = CAIRN_E_IO;
	}
	printf("rc %d %s\n", rc, ctx.error);
	if (inst)
		p->source->destroy(inst);
	if (d_dir[0])
		rmdir(d_dir);
	return 0;
}
