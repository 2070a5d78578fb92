/* replay.h - a source's change log replayed through its replay op
 * (restore --at, verify --deep and verify --restore-test of a log;
 * doc/design.md § Logs).
 *
 * The chain of segments (logcat_chain) is read whole first, each
 * segment checked like any stored object (size, SHA-256, decompressed
 * size), and so is the base's object when the source does not stage its
 * restore; only then is replay() called, so nothing in the target changes
 * before the chain is proven whole.  replay() reads the base and then
 * each segment in turn through next(); each is checked again at its end,
 * since the sink is not trusted to return the same bytes twice.  The
 * "records" statistic replay() recorded is compared with the segments'
 * manifests: reading fewer or more records than they hold is damage. */
#ifndef CAIRN_REPLAY_H
#define CAIRN_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "logcat.h"
#include "manifest.h"
#include "plugin.h"

struct replay_request {
	struct instance *sink;
	struct instance *source; /* made for this run (with its --set) */
	/* the full backup's entry; NULL with CAIRN_REPLAY_PARSE */
	const struct manifest_source *base;
	const struct log_segment *const *segs; /* the chain, in order */
	size_t nsegs;
	unsigned flags;         /* CAIRN_REPLAY_* */
	unsigned restore_flags; /* CAIRN_RESTORE_* */
	struct cairn_log_pos after;
	int64_t until_ms;
};

/* Check the chain (and the base), then replay it.  0, or a CAIRN_E_*
 * code with *err, one line: CAIRN_E_CORRUPT when a segment or the base
 * is damaged or missing (naming it) or the records read disagree with
 * the manifests; CAIRN_E_UNSUPPORTED when the source cannot replay.  The
 * source's statistics stay in its instance for the run record. */
int pipeline_replay(const struct replay_request *rq, char **err);

/* Check one segment as a stored object (verify): its size, SHA-256 and
 * decompressed size against its manifest; an encrypted one's size and
 * SHA-256 only (no key needed).  0, or a CAIRN_E_* code with *err naming
 * it. */
int replay_check_segment(struct instance *sink, const struct log_segment *seg, char **err);

#endif
