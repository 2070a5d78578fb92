/* manifest.h - the manifest.json of a backup set: written last, so a set
 * without one is incomplete.  Standard JSON, readable without cairn. */
#ifndef CAIRN_MANIFEST_H
#define CAIRN_MANIFEST_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include <cairn/plugin.h>

#include "util.h"

#define MANIFEST_FORMAT 1

/* Bounds on a manifest read from a sink, whose content is untrusted: a
 * manifest beyond them is damage (CAIRN_E_CORRUPT), refused before any
 * work that grows with it.  A real one is a few hundred bytes per source,
 * and a job with more sources than MANIFEST_MAX_SOURCES is refused by the
 * configuration check, so no backup can write one cairn would refuse.
 * doc/design.md says why these numbers. */
#define MANIFEST_MAX_BYTES (16u << 20) /* 16 MiB */
#define MANIFEST_MAX_SOURCES 1024      /* entries of "sources" */
#define MANIFEST_MAX_FAILED 1024       /* entries of "failed_sources" */

struct manifest_source {
	char *name; /* the [source NAME] */
	char *plugin;
	char *plugin_version;
	char *object;       /* key of the stored object within the sink */
	char *compression;  /* "zstd", "gzip", "xz", "none" */
	uint64_t raw_bytes; /* as the source produced them */
	uint64_t stored_bytes;
	char sha256[65]; /* of the stored object, lowercase hex */
	json_t *stats;   /* object of plugin stats, may be NULL */
	/* "overrides": the backup --set KEY=VALUE that reached this source
	 * (a secret's value "(secret)"): a one-off run's object, which a
	 * restore takes only from a set named with --id */
	struct strvec overrides;
	/* "log": {"start": POS, "end": POS} (logcat.h's JSON form), where
	 * the source's change log stood when the dump began and where the
	 * dump alone is consistent (host->log_position, ABI 1.4); each only
	 * when the source gave it.  Added fields, no new format. */
	int has_log_start, has_log_end;
	struct cairn_log_pos log_start, log_end;
	/* "encryption": "age" when the object is encrypted (crypt.h; its key
	 * then ends in .age), NULL when not.  An added field, no new format:
	 * a cairn from before refuses the object as not decompressing. */
	char *encryption;
	/* the set's "recipients" (struct manifest's, which it points into:
	 * set by manifest_parse, not owned); NULL when not known */
	const struct strvec *set_recipients;
};

/* A source of the job that the set lacks: it failed (the set is partial,
 * on_source_failure = keep) or was left out (backup --source). */
struct manifest_failed {
	char *name;
	char *plugin;
	char *error; /* one line; for a skipped source why it was left out */
	int skipped; /* left out on purpose, not failed */
};

struct manifest {
	int format;
	char *cairn_version;
	char *job;
	char *id;
	char *host;
	char *sink;
	time_t started, finished;
	struct manifest_source *sources;
	size_t nsources;
	/* "partial": true and "failed_sources" in the JSON, both only when
	 * the set lacks a source of its job.  Added fields, no new format:
	 * a cairn from before reads a partial set as one with fewer sources,
	 * which is what it is, and restores what it holds. */
	int partial;
	struct manifest_failed *failed;
	size_t nfailed;
	/* "run_sinks": the sinks of a backup --sink run; empty when the run
	 * went to every sink of the job */
	struct strvec run_sinks;
	/* "copied_from": {"sink": NAME, "at": TIME}, only in a set cairn copy
	 * wrote (then "sink" names the sink it was copied to); NULL if none.
	 * Shown, never acted on. */
	char *copied_from;
	time_t copied_at;
	/* "recipients": whom the set's encrypted objects were written to
	 * (age1... public keys, or "scrypt"); empty when not encrypted.
	 * Shown by list -v, never a secret. */
	struct strvec recipients;
};

/* Append a source entry (strings copied, stats referenced). */
struct manifest_source *manifest_add_source(struct manifest *m);
/* Append a failed or skipped source (strings copied); marks m partial. */
void manifest_add_failed(struct manifest *m, const char *name, const char *plugin,
                         const char *error, int skipped);
/* The entry of source name among m's failed ones, or NULL. */
const struct manifest_failed *manifest_failed_source(const struct manifest *m, const char *name);
/* Serialise; the caller frees the string. */
char *manifest_to_json(const struct manifest *m);
/* The manifest as a jansson object (new reference). */
json_t *manifest_to_jansson(const struct manifest *m);
/* Parse; NULL with *err naming what is wrong. */
struct manifest *manifest_parse(const char *buf, size_t len, char **err);
void manifest_free(struct manifest *m);
/* Free the contents only (for manifests on the stack). */
void manifest_clear(struct manifest *m);

#endif
