/*
 * mongo_replay_drive.c - the mongo source's replay() driven without the
 * core, for tests/integration/mongo_replay.sh.
 *
 *   mongo_replay_drive restore|test|parse BASE AFTER UNTIL SEG... -- KEY=VALUE...
 *
 * BASE: an archive (backup()'s output; "-" for none), AFTER: the base's
 * position "T:I" (or "-": 0), UNTIL: the last millisecond to apply (or
 * "max"), SEG: the segments, in chain order (each a file of oplog
 * entries, as the core hands them over after checking them).  Prints
 * each stat "stat KEY VALUE", log lines on stderr ("log LEVEL: ..."), and
 * last "rc CODE ERROR".  KEY=VALUE are the source's keys (uri=... is
 * needed); a LIST's words are separated by spaces.  Exit status 0
 * whatever rc says.
 */
#include "mongo_drive_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cairn_host d_host = {
        .struct_size = sizeof(struct cairn_host),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .cairn_version = "test",
        .log = drive_log,
        .set_error = drive_set_error,
        .cancelled = drive_cancelled,
        .stat = drive_stat,
};

/* A file as a cairn_in: short reads, 0 at its end. */
struct d_in {
	struct cairn_in in;
	FILE *f;
};

static ssize_t
d_read(struct cairn_in *self, void *buf, size_t len)
{
	struct d_in *d = (struct d_in *)self;
	size_t n = fread(buf, 1, len > 65536 ? 65536 : len, d->f);
	return n == 0 && ferror(d->f) ? CAIRN_E_IO : (ssize_t)n;
}

struct d_rp {
	struct cairn_log_replay rp;
	char **segs;
	int nsegs, at;
	struct d_in cur;
};

static int
d_next(struct cairn_log_replay *self, struct cairn_in **in)
{
	struct d_rp *d = (struct d_rp *)self;
	if (d->cur.f)
		fclose(d->cur.f);
	d->cur.f = NULL;
	if (d->at == d->nsegs)
		return 0;
	if (!(d->cur.f = fopen(d->segs[d->at++], "rb")))
		return CAIRN_E_NOTFOUND;
	d->cur.in.struct_size = sizeof(d->cur.in);
	d->cur.in.read = d_read;
	*in = &d->cur.in;
	return 1;
}

int
main(int argc, char **argv)
{
	const struct cairn_plugin *p = cairn_plugin_entry(&d_host);
	static struct cairn_ctx ctx;
	struct cairn_config cfg;
	struct d_rp d;
	struct d_in base = {.in = {sizeof(struct cairn_in), d_read}};
	void *inst = NULL;
	unsigned t, i;
	int sep, rc;

	for (sep = 1; sep < argc && strcmp(argv[sep], "--"); sep++)
		;
	if (sep < 5 || sep == argc) {
		fprintf(stderr,
		        "usage: mongo_replay_drive restore|test|parse BASE AFTER UNTIL SEG... -- KEY=VALUE...\n");
		return 2;
	}
	memset(&d, 0, sizeof(d));
	d.rp.struct_size = sizeof(d.rp);
	d.rp.next = d_next;
	d.rp.flags = !strcmp(argv[1], "test")    ? CAIRN_REPLAY_TEST
	             : !strcmp(argv[1], "parse") ? CAIRN_REPLAY_PARSE
	                                         : 0;
	if (strcmp(argv[2], "-") && !(base.f = fopen(argv[2], "rb"))) {
		perror(argv[2]);
		return 2;
	}
	d.rp.base = base.f ? &base.in : NULL;
	if (strcmp(argv[3], "-") && sscanf(argv[3], "%u:%u", &t, &i) == 2) {
		d.rp.after.lsn = (uint64_t)t << 32 | i;
		d.rp.after.time_ms = (int64_t)t * 1000;
		snprintf(d.rp.after.text, sizeof(d.rp.after.text), "%u:%u", t, i);
	}
	d.rp.until_ms = strcmp(argv[4], "max") ? strtoll(argv[4], NULL, 10) : INT64_MAX;
	d.segs = argv + 5;
	d.nsegs = sep - 5;
	drive_config(p->keys, argv + sep + 1, argc - sep - 1, &cfg);
	rc = p->source->create(&ctx, &cfg, &inst);
	if (rc == 0)
		rc = p->source->replay(inst, &d.rp);
	printf("rc %d %s\n", rc, ctx.error);
	if (d.cur.f)
		fclose(d.cur.f);
	if (base.f)
		fclose(base.f);
	if (inst)
		p->source->destroy(inst);
	return 0;
}
