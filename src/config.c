/* config.c - see config.h */
#include "autoconf.h"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hooks.h"
#include "manifest.h" /* MANIFEST_MAX_SOURCES */
#include "util.h"

/* ----------------------------------------------------------- loading */

static const char *const kind_names[] = {
        [SECTION_CAIRN] = "cairn",         [SECTION_SOURCE] = "source", [SECTION_SINK] = "sink",
        [SECTION_RETENTION] = "retention", [SECTION_JOB] = "job",       [SECTION_CHECK] = "check",
        [SECTION_SERVE] = "serve"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))
/* Sections that appear once, without a name: [cairn], [check], [serve]. */
#define UNNAMED_KIND(k) ((k) == SECTION_CAIRN || (k) == SECTION_CHECK || (k) == SECTION_SERVE)

const char *
section_kind_name(enum section_kind kind)
{
	return kind_names[kind];
}

struct loader {
	struct config *cfg;
	const char *data; /* the whole file */
	size_t len, pos;  /* its length, and where the next line starts */
	int line;         /* the line inih is working on */
	int indented;     /* it started with white space: a continuation */
	int in_section;   /* a section header was seen */
	char *err;        /* the first error */
	int err_line;     /* its line */
	size_t sec_cap;
	/* config_load_all(): every error, with its line, not only the first */
	struct strvec *all;
	int *all_lines;
	int skip_keys;    /* the section header was refused: skip its keys */
	int pending_line; /* a line inih must hand to on_key, or 0 */
};

/* How many errors were said so far. */
static size_t
error_count(const struct loader *ld)
{
	return ld->all ? ld->all->n : ld->err != NULL;
}

static void __attribute__((format(printf, 3, 4)))
fail_at(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg, *text;
	if (ld->err && !ld->all)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	text = xasprintf("%s:%d: %s", ld->cfg->path, line, msg);
	free(msg);
	if (ld->all) {
		ld->all_lines = xrealloc(ld->all_lines, (ld->all->n + 1) * sizeof(int));
		ld->all_lines[ld->all->n] = line;
		strvec_push(ld->all, text);
	}
	if (!ld->err) {
		ld->err = text;
		ld->err_line = line;
	} else
		free(text);
}

void
section_label(const struct cfg_section *s, char *buf, size_t len)
{
	if (s->name)
		snprintf(buf, len, "[%s %s]", section_kind_name(s->kind), s->name);
	else
		snprintf(buf, len, "[%s]", section_kind_name(s->kind));
}

static void
open_section(struct loader *ld, const char *text)
{
	struct config *cfg = ld->cfg;
	char *hdr = xstrdup(text), *name = NULL, *sp;
	int kind = -1;

	ld->in_section = 1;
	ld->skip_keys = 1; /* until the header is taken */
	if ((sp = strpbrk(hdr, " \t"))) {
		*sp++ = '\0';
		while (*sp == ' ' || *sp == '\t')
			sp++;
		name = sp;
		for (char *e = name + strlen(name); e > name && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = '\0';
	}
	for (size_t k = 0; k < NKINDS; k++)
		if (strcmp(hdr, kind_names[k]) == 0)
			kind = (int)k;
	if (kind < 0) {
		fail_at(ld, ld->line,
		        "[%s]: unknown kind of section; use [cairn], [source NAME], [sink NAME], [retention NAME], [job NAME], [check] or [serve]",
		        text);
		goto out;
	}
	if (UNNAMED_KIND(kind) && name && *name) {
		fail_at(ld, ld->line, "[%s]: the [%s] section takes no name", text,
		        kind_names[kind]);
		goto out;
	}
	if (!UNNAMED_KIND(kind) && (!name || !*name)) {
		fail_at(ld, ld->line, "[%s]: a %s section needs a name, e.g. [%s nightly]", text,
		        kind_names[kind], kind_names[kind]);
		goto out;
	}
	if (name && !valid_name(name)) {
		fail_at(ld, ld->line,
		        "[%s]: \"%s\" is not a valid name; use letters, digits, '-', '_' and '.', not starting with '.' or '-'",
		        text, name);
		goto out;
	}
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct cfg_section *o = &cfg->sections[i];
		if (o->kind == (enum section_kind)kind &&
		    ((!o->name && !name) || (o->name && name && strcmp(o->name, name) == 0))) {
			fail_at(ld, ld->line,
			        "[%s]: defined twice (first at line %d); merge them or rename one",
			        text, o->line);
			goto out;
		}
	}
	if (cfg->nsections == ld->sec_cap) {
		ld->sec_cap = ld->sec_cap ? ld->sec_cap * 2 : 16;
		cfg->sections = xrealloc(cfg->sections, ld->sec_cap * sizeof(*cfg->sections));
	}
	struct cfg_section *s = &cfg->sections[cfg->nsections++];
	memset(s, 0, sizeof(*s));
	s->kind = (enum section_kind)kind;
	s->name = name ? xstrdup(name) : NULL;
	s->line = ld->line;
	ld->skip_keys = 0;
out:
	free(hdr);
}

/* inih's reader: hands over one line at a time from the file read into
 * memory, so we know line numbers (Debian's inih is built without
 * INI_HANDLER_LINENO) and see section headers even when the section has no
 * keys.  Lines end in LF or CR LF; a UTF-8 byte order mark before the first
 * line is skipped.  A line that is not text or too long is reported here
 * and handed to inih as an empty line, so inih's own line count stays
 * right and reports nothing more about it. */
/* A line inih could not read (it hands only its first to the caller). */
static void
syntax_error(struct loader *ld, int line)
{
	fail_at(ld, line,
	        "not a section header, key = value line, continuation or comment; fix or remove it");
}

/* config_load_all(): was the line before handed to on_key, as every line
 * that is no blank, comment or section header must be?  If not, inih
 * refused it. */
static void
check_pending(struct loader *ld)
{
	if (ld->all && ld->pending_line)
		syntax_error(ld, ld->pending_line);
	ld->pending_line = 0;
}

static char *
read_line(char *buf, int size, void *stream)
{
	struct loader *ld = stream;
	const char *p, *eol;
	size_t len;

	check_pending(ld);
	if (ld->pos >= ld->len)
		return NULL;
	if (ld->pos == 0 && ld->len >= 3 && memcmp(ld->data, "\xef\xbb\xbf", 3) == 0)
		ld->pos = 3;
	p = ld->data + ld->pos;
	eol = memchr(p, '\n', ld->len - ld->pos);
	len = eol ? (size_t)(eol - p) : ld->len - ld->pos;
	ld->pos += len + (eol != NULL);
	ld->line++;
	if (len && p[len - 1] == '\r')
		len--;
	buf[0] = '\0';
	ld->indented = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail_at(ld, ld->line,
			        "control character 0x%02x in the line; the file is not text, or was saved with the wrong encoding",
			        c);
			return buf;
		}
	}
	if (len > (size_t)size - 1) {
		fail_at(ld, ld->line,
		        "line is longer than %d characters; continue a long value on indented lines",
		        size - 1);
		return buf;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	ld->indented = (buf[0] == ' ' || buf[0] == '\t');
	p = buf;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[' && !ld->indented) {
		const char *end = strchr(p, ']');
		if (end) {
			char *text = xstrndup(p + 1, (size_t)(end - p - 1));
			open_section(ld, text);
			free(text);
			return buf;
		}
	}
	if (*p && *p != ';' && *p != '#' && !(*p == '[' && strchr(p, ']')))
		ld->pending_line = ld->line;
	return buf;
}

static int
on_key(void *user, const char *section, const char *key, const char *value)
{
	struct loader *ld = user;
	struct config *cfg = ld->cfg;
	(void)section;

	if (!ld->in_section) {
		fail_at(ld, ld->line,
		        "%s: key outside any section; put it under [cairn], [source NAME], [sink NAME], [retention NAME] or [job NAME]",
		        key);
		return 1;
	}
	ld->pending_line = 0; /* inih took the line */
	if ((ld->err && !ld->all) || ld->skip_keys || cfg->nsections == 0)
		return 1; /* the section header was already refused */
	struct cfg_section *s = &cfg->sections[cfg->nsections - 1];
	struct cfg_entry *last = s->nentries ? &s->entries[s->nentries - 1] : NULL;

	if (ld->indented && last && strcmp(last->key, key) == 0) {
		/* a continuation line: lists go on, words joined by a space */
		char *joined = xasprintf("%s %s", last->value, value);
		free(last->value);
		last->value = joined;
		return 1;
	}
	for (size_t i = 0; i < s->nentries; i++)
		if (strcmp(s->entries[i].key, key) == 0) {
			char label[300];
			section_label(s, label, sizeof(label));
			fail_at(ld, ld->line, "%s %s: set twice (first at line %d); keep one",
			        label, key, s->entries[i].line);
			return 1;
		}
	s->entries = xrealloc(s->entries, (s->nentries + 1) * sizeof(*s->entries));
	s->entries[s->nentries].key = xstrdup(key);
	s->entries[s->nentries].value = xstrdup(value);
	s->entries[s->nentries].line = ld->line;
	s->nentries++;
	return 1;
}

const struct cfg_section *
config_section(const struct config *cfg, enum section_kind kind, const char *name)
{
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct cfg_section *s = &cfg->sections[i];
		if (s->kind == kind &&
		    ((!name && !s->name) || (name && s->name && strcmp(s->name, name) == 0)))
			return s;
	}
	return NULL;
}

const struct cfg_job *
config_job(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->njobs; i++)
		if (strcmp(cfg->jobs[i].name, name) == 0)
			return &cfg->jobs[i];
	return NULL;
}

/* Error about key (or the section, when e is NULL) of s. */
static void __attribute__((format(printf, 4, 5)))
fail_key(struct loader *ld, const struct cfg_section *s, const struct cfg_entry *e, const char *fmt,
         ...)
{
	char label[300], *msg;
	va_list ap;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	section_label(s, label, sizeof(label));
	if (e)
		fail_at(ld, e->line, "%s %s: %s", label, e->key, msg);
	else
		fail_at(ld, s->line, "%s: %s", label, msg);
	free(msg);
}

static void
check_cairn_section(struct loader *ld, const struct cfg_section *s)
{
	struct config *cfg = ld->cfg;
	for (size_t i = 0; i < s->nentries; i++) {
		const struct cfg_entry *e = &s->entries[i];
		char **slot;
		if (strcmp(e->key, "state_dir") == 0)
			slot = &cfg->state_dir;
		else if (strcmp(e->key, "plugin_dir") == 0)
			slot = &cfg->plugin_dir;
		else if (strcmp(e->key, "metrics_file") == 0)
			slot = &cfg->metrics_file;
		else {
			fail_key(
			        ld, s, e,
			        "unknown key; [cairn] takes state_dir, plugin_dir and metrics_file");
			continue;
		}
		if (!*e->value) {
			fail_key(ld, s, e, "empty value; give a %s",
			         slot == &cfg->metrics_file ? "file" : "directory");
			continue;
		}
		free(*slot);
		*slot = path_absolute(e->value, cfg->dir);
	}
}

/* ------------------------------------------------- [check], [serve] */

/* The defaults of cairn check: the seed's four alert rules. */
static const struct cfg_check check_defaults = {
        .max_age = {0, 25 * 3600},
        .max_size_drop = {0, 50},
        .max_verify_age = {0, 0},
        .max_usage = {0, 90},
        .max_log_lag = {0, 5 * 60},
};

static int
parse_percent(const char *text, int64_t *out)
{
	size_t n = strlen(text);
	char *copy = xstrdup(text);
	int rc;
	if (n && copy[n - 1] == '%')
		copy[n - 1] = '\0';
	rc = parse_int(copy, out);
	free(copy);
	return rc || *out < 0 || *out > 100 ? -1 : 0;
}

/* "CRIT" or "WARN,CRIT", each a duration (ages) or a percent; "off" or 0
 * turns the rule off.  0, or -1 when the text is not such a pair. */
static int
parse_level(const char *text, int is_age, struct check_level *lv)
{
	const char *comma = strchr(text, ',');
	int64_t v[2] = {0, 0};
	int n = comma ? 2 : 1;
	if (strcmp(text, "off") == 0) {
		lv->warn = lv->crit = 0;
		return 0;
	}
	for (int i = 0; i < n; i++) {
		char *part = i == 0 && comma ? xstrndup(text, (size_t)(comma - text))
		                             : xstrdup(i ? comma + 1 : text);
		char *p = part, *e;
		while (*p == ' ')
			p++;
		for (e = p + strlen(p); e > p && e[-1] == ' ';)
			*--e = '\0';
		int rc = is_age ? parse_duration(p, &v[i]) : parse_percent(p, &v[i]);
		free(part);
		if (rc || v[i] < 0)
			return -1;
	}
	if (n == 2 && v[0] && v[1] && v[0] > v[1])
		return -1;
	lv->warn = n == 2 ? v[0] : 0;
	lv->crit = n == 2 ? v[1] : v[0];
	return 0;
}

/* Is e one of the threshold keys?  Then parse it into ck and return 1
 * (an error said); else 0. */
static int
check_key(struct loader *ld, const struct cfg_section *s, const struct cfg_entry *e,
          struct cfg_check *ck)
{
	static const struct {
		const char *key;
		size_t off;
		int is_age;
	} keys[] = {{"max_age", offsetof(struct cfg_check, max_age), 1},
	            {"max_size_drop", offsetof(struct cfg_check, max_size_drop), 0},
	            {"max_verify_age", offsetof(struct cfg_check, max_verify_age), 1},
	            {"max_usage", offsetof(struct cfg_check, max_usage), 0},
	            {"max_log_lag", offsetof(struct cfg_check, max_log_lag), 1}};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (strcmp(e->key, keys[k].key) != 0)
			continue;
		struct check_level *lv = (struct check_level *)((char *)ck + keys[k].off);
		if (parse_level(e->value, keys[k].is_age, lv))
			fail_key(
			        ld, s, e,
			        "\"%s\" is not a threshold; give CRIT or WARN,CRIT (warning first), each %s, or off",
			        e->value,
			        keys[k].is_age ? "a duration such as 25h"
			                       : "a percent such as 50%");
		return 1;
	}
	return 0;
}

static void
check_check_section(struct loader *ld, const struct cfg_section *s)
{
	for (size_t i = 0; i < s->nentries; i++)
		if (!check_key(ld, s, &s->entries[i], &ld->cfg->check))
			fail_key(
			        ld, s, &s->entries[i],
			        "unknown key; [check] takes max_age, max_size_drop, max_verify_age, max_usage and max_log_lag");
}

static void
check_serve_section(struct loader *ld, const struct cfg_section *s)
{
	struct cfg_serve *sv = &ld->cfg->serve;
	sv->line = s->line;
	for (size_t i = 0; i < s->nentries; i++) {
		const struct cfg_entry *e = &s->entries[i];
		char **slot = NULL;
		if (strcmp(e->key, "listen") == 0) {
			const char *colon = strrchr(e->value, ':');
			int64_t port;
			if (!colon || colon == e->value || parse_int(colon + 1, &port) ||
			    port < 0 || port > 65535) {
				fail_key(
				        ld, s, e,
				        "\"%s\" is not ADDR:PORT; e.g. 127.0.0.1:9135 or [::1]:9135",
				        e->value);
				continue;
			}
			free(sv->listen);
			sv->listen = xstrdup(e->value);
			continue;
		} else if (strcmp(e->key, "max_connections") == 0) {
			int64_t v;
			if (parse_int(e->value, &v) || v < 1 || v > 10000)
				fail_key(ld, s, e, "\"%s\": give a number from 1 to 10000",
				         e->value);
			else
				sv->max_connections = (int)v;
			continue;
		} else if (strcmp(e->key, "token_file") == 0) {
			slot = &sv->token_file;
		} else if (strcmp(e->key, "tls_cert") == 0) {
			slot = &sv->tls_cert;
		} else if (strcmp(e->key, "tls_key") == 0) {
			slot = &sv->tls_key;
		} else {
			fail_key(
			        ld, s, e,
			        "unknown key; [serve] takes listen, token_file, tls_cert, tls_key and max_connections");
			continue;
		}
		if (!*e->value) {
			fail_key(ld, s, e, "empty value; give a file");
			continue;
		}
		free(*slot);
		*slot = path_absolute(e->value, ld->cfg->dir);
	}
	if (!sv->tls_cert != !sv->tls_key)
		fail_key(ld, s, NULL, "give both tls_cert and tls_key, or neither");
}

static void
check_plugin_section(struct loader *ld, struct cfg_section *s)
{
	size_t said = error_count(ld);
	for (size_t i = 0; i < s->nentries; i++)
		if (strcmp(s->entries[i].key, "plugin") == 0) {
			if (!valid_name(s->entries[i].value)) {
				fail_key(ld, s, &s->entries[i], "\"%s\" is not a plugin name",
				         s->entries[i].value);
				continue;
			}
			s->plugin = s->entries[i].value;
			s->plugin_line = s->entries[i].line;
		}
	if (!s->plugin && error_count(ld) == said)
		fail_key(ld, s, NULL,
		         "no plugin = key; say which plugin serves this %s, e.g. plugin = %s",
		         section_kind_name(s->kind), s->kind == SECTION_SOURCE ? "files" : "local");
}

static void
check_retention(struct loader *ld, const struct cfg_section *s)
{
	static const char *const keys[] = {"keep_last",   "keep_hourly",  "keep_daily",
	                                   "keep_weekly", "keep_monthly", "keep_yearly",
	                                   NULL};
	int keeps = 0;
	for (size_t i = 0; i < s->nentries; i++) {
		const struct cfg_entry *e = &s->entries[i];
		int known = 0;
		int64_t v;
		struct retention_tz tz;
		if (strcmp(e->key, "keep_within") == 0 || strcmp(e->key, "incomplete_grace") == 0) {
			if (parse_duration(e->value, &v) || v < 0)
				fail_key(ld, s, e, "\"%s\" is not a duration; use e.g. 36h or 90d",
				         e->value);
			else
				keeps += e->key[0] == 'k' && v > 0;
			continue;
		}
		if (strcmp(e->key, "timezone") == 0) {
			if (retention_parse_tz(e->value, &tz))
				fail_key(
				        ld, s, e,
				        "\"%s\" is not a time zone cairn can count in; use local (the TZ cairn runs with), UTC or an offset such as +01:00",
				        e->value);
			continue;
		}
		for (int k = 0; keys[k]; k++)
			known |= strcmp(e->key, keys[k]) == 0;
		if (!known) {
			fail_key(
			        ld, s, e,
			        "unknown key; a retention takes keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, timezone and incomplete_grace");
			continue;
		}
		if (strcmp(e->value, "all") != 0 &&
		    (parse_int(e->value, &v) || v < 0 || v > 1000000)) {
			fail_key(ld, s, e, "\"%s\" is not a count; use a whole number or all",
			         e->value);
			continue;
		}
		keeps += strcmp(e->value, "0") != 0;
	}
	if (!keeps)
		fail_key(
		        ld, s, NULL,
		        "keeps no backups at all; set at least one keep_ key, e.g. keep_daily = 7");
}

static int
keep_value(const struct cfg_section *s, const char *key)
{
	int64_t v;
	for (size_t i = 0; i < s->nentries; i++)
		if (strcmp(s->entries[i].key, key) == 0) {
			if (strcmp(s->entries[i].value, "all") == 0)
				return KEEP_ALL;
			if (parse_int(s->entries[i].value, &v) == 0)
				return (int)v;
		}
	return 0;
}

/* keep_within, incomplete_grace and timezone of a checked retention. */
static void
retention_extras(const struct cfg_section *s, struct cfg_retention *r)
{
	r->incomplete_grace = 24 * 60 * 60;
	r->tz.kind = RETENTION_TZ_LOCAL;
	for (size_t i = 0; i < s->nentries; i++) {
		const struct cfg_entry *e = &s->entries[i];
		if (strcmp(e->key, "keep_within") == 0)
			parse_duration(e->value, &r->keep_within);
		else if (strcmp(e->key, "incomplete_grace") == 0)
			parse_duration(e->value, &r->incomplete_grace);
		else if (strcmp(e->key, "timezone") == 0)
			retention_parse_tz(e->value, &r->tz);
	}
}

/* The job keys of issue 10: on_source_failure, prune, the hooks.  1 when
 * e is one of them (an error said if it is wrong), else 0. */
static int
job_run_key(struct loader *ld, const struct cfg_section *s, const struct cfg_entry *e,
            struct cfg_job *job)
{
	static const char *const hook_keys[] = {"before", "after", "on_success", "on_failure",
	                                        NULL};
	int64_t v;
	if (strcmp(e->key, "on_source_failure") == 0) {
		if (strcmp(e->value, "keep") == 0)
			job->on_source_failure = SOURCE_FAILURE_KEEP;
		else if (strcmp(e->value, "discard") == 0)
			job->on_source_failure = SOURCE_FAILURE_DISCARD;
		else
			fail_key(
			        ld, s, e,
			        "\"%s\": use keep (commit the other sources as a partial set) or discard (lose the whole set)",
			        e->value);
		return 1;
	}
	if (strcmp(e->key, "prune") == 0) {
		if (parse_bool(e->value, &v))
			fail_key(ld, s, e, "\"%s\" is not yes or no", e->value);
		else
			job->prune = (int)v;
		return 1;
	}
	if (strcmp(e->key, "hook_timeout") == 0) {
		if (parse_duration(e->value, &v) || v < 1)
			fail_key(ld, s, e, "\"%s\" is not a duration; use e.g. 30s or 5m",
			         e->value);
		else
			job->hooks.timeout = v;
		return 1;
	}
	for (int k = 0; hook_keys[k]; k++) {
		struct strvec words = {0};
		char *why = NULL;
		if (strcmp(e->key, hook_keys[k]) != 0)
			continue;
		if (hook_split(e->value, &words, &why))
			fail_key(ld, s, e, "%s", why);
		else if (!words.n)
			fail_key(ld, s, e, "empty command; give one or remove the key");
		free(why);
		strvec_free(&words);
		const char **slot = k == 0   ? &job->hooks.before
		                    : k == 1 ? &job->hooks.after
		                    : k == 2 ? &job->hooks.on_success
		                             : &job->hooks.on_failure;
		*slot = e->value;
		return 1;
	}
	return 0;
}

/* A job's sources = or sinks = list, each name checked. */
static void
job_list_key(struct loader *ld, const struct cfg_section *s, const struct cfg_entry *e,
             struct cfg_job *job)
{
	struct config *cfg = ld->cfg;
	int sources = e->key[1] == 'o';
	size_t said = error_count(ld);
	enum section_kind kind = sources ? SECTION_SOURCE : SECTION_SINK;
	struct strvec *list = sources ? &job->sources : &job->sinks;
	struct strvec words = {0};
	split_words(e->value, &words);
	for (size_t w = 0; w < words.n; w++) {
		if (!config_section(cfg, kind, words.v[w]))
			fail_key(ld, s, e, "no %s named \"%s\"; define [%s %s] or fix the name",
			         section_kind_name(kind), words.v[w], section_kind_name(kind),
			         words.v[w]);
		else if (strvec_contains(list, words.v[w]))
			fail_key(ld, s, e, "\"%s\" is listed twice", words.v[w]);
		else
			strvec_push(list, words.v[w]);
	}
	strvec_free(&words);
	if (sources && list->n > MANIFEST_MAX_SOURCES)
		fail_key(
		        ld, s, e,
		        "%zu sources, more than the %d a backup set may hold; split them over several jobs",
		        list->n, MANIFEST_MAX_SOURCES);
	if (!list->n && error_count(ld) == said)
		fail_key(ld, s, e, "empty list; name at least one %s", section_kind_name(kind));
}

static void
check_job(struct loader *ld, const struct cfg_section *s, struct cfg_job *job)
{
	struct config *cfg = ld->cfg;
	int have_sources = 0, have_sinks = 0, crypt_bad = 0;
	const struct cfg_entry *level = NULL;
	char *cwhy = NULL;

	job->sec = s;
	job->name = s->name;
	job->compression = COMP_ZSTD;
	job->level = -1;
	job->threads = 1;
	job->prune = 1;
	job->hooks.timeout = 5 * 60;
	job->check = cfg->check;
	config_log_defaults(&job->log);
	config_crypt_defaults(&job->crypt);
	job->crypt.cfg_path = cfg->path;
	for (size_t i = 0; i < s->nentries; i++) {
		const struct cfg_entry *e = &s->entries[i];
		char *why = NULL;
		if (strcmp(e->key, "sources") == 0 || strcmp(e->key, "sinks") == 0) {
			job_list_key(ld, s, e, job);
			if (e->key[1] == 'o')
				have_sources = 1;
			else
				have_sinks = 1;
		} else if (strcmp(e->key, "retention") == 0) {
			job->retention = config_section(cfg, SECTION_RETENTION, e->value);
			if (!job->retention) {
				fail_key(
				        ld, s, e,
				        "no retention named \"%s\"; define [retention %s] or fix the name",
				        e->value, e->value);
				continue;
			}
			job->keep.sec = job->retention;
			job->keep.keep_last = keep_value(job->retention, "keep_last");
			job->keep.keep_hourly = keep_value(job->retention, "keep_hourly");
			job->keep.keep_daily = keep_value(job->retention, "keep_daily");
			job->keep.keep_weekly = keep_value(job->retention, "keep_weekly");
			job->keep.keep_monthly = keep_value(job->retention, "keep_monthly");
			job->keep.keep_yearly = keep_value(job->retention, "keep_yearly");
			retention_extras(job->retention, &job->keep);
		} else if (strcmp(e->key, "compression") == 0) {
			if (parse_compression(e->value, &job->compression))
				fail_key(ld, s, e,
				         "\"%s\" is not a compression; use zstd, gzip, xz or none",
				         e->value);
		} else if (strcmp(e->key, "compression_level") == 0) {
			level = e;
		} else if (strcmp(e->key, "compression_threads") == 0) {
			int64_t v;
			if (parse_int(e->value, &v) || v < 0 || v > 64)
				fail_key(
				        ld, s, e,
				        "\"%s\": use a number of threads from 0 (compress in the reading thread) to 64",
				        e->value);
			else
				job->threads = (int)v;
		} else if (strcmp(e->key, "description") == 0) {
			job->description = e->value;
		} else if (job_run_key(ld, s, e, job)) {
			; /* on_source_failure, prune, a hook */
		} else if (config_log_key(e->key, e->value, &job->log, &why)) {
			if (why) /* segment_span, segment_size (config_log.c) */
				fail_key(ld, s, e, "%s", why);
			free(why);
		} else if (config_crypt_key(e->key, e->value, cfg->dir, &job->crypt, &why)) {
			if (strcmp(e->key, "encryption") == 0) /* config_crypt.c */
				job->crypt.line = e->line;
			if (why)
				fail_key(ld, s, e, "%s", why);
			crypt_bad |= why != NULL;
			free(why);
		} else if (check_key(ld, s, e, &job->check)) {
			; /* a threshold of cairn check for this job */
		} else {
			fail_key(
			        ld, s, e,
			        "unknown key; a job takes sources, sinks, retention, compression, compression_level, compression_threads, description, on_source_failure, prune, before, after, on_success, on_failure, hook_timeout, segment_span, segment_size, pitr_window, encryption, age_recipients, age_recipients_file, age_passphrase_file, age_passphrase_env, age_identity_file, manifest_stats and the [check] keys max_age, max_size_drop, max_verify_age, max_usage, max_log_lag");
		}
	}
	if (!have_sources)
		fail_key(ld, s, NULL, "no sources = key; list the sources to back up");
	if (!have_sinks)
		fail_key(ld, s, NULL, "no sinks = key; list where the backups go");
	if (!crypt_bad && config_crypt_check(&job->crypt, &cwhy))
		fail_key(ld, s, NULL, "%s", cwhy);
	free(cwhy);
	if (level) {
		static const int max[] = {
		        [COMP_NONE] = 0, [COMP_ZSTD] = 19, [COMP_GZIP] = 9, [COMP_XZ] = 9};
		static const int min[] = {
		        [COMP_NONE] = 0, [COMP_ZSTD] = 1, [COMP_GZIP] = 1, [COMP_XZ] = 0};
		int64_t v;
		if (job->compression == COMP_NONE)
			fail_key(ld, s, level, "means nothing with compression = none; remove it");
		else if (parse_int(level->value, &v) || v < min[job->compression] ||
		         v > max[job->compression])
			fail_key(ld, s, level, "\"%s\": %s takes a level from %d to %d",
			         level->value, compression_name(job->compression),
			         min[job->compression], max[job->compression]);
		else
			job->level = (int)v;
	}
}

static char *
default_state_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (geteuid() == 0)
		return xstrdup(CAIRN_LOCALSTATEDIR "/lib/cairn");
	if (xdg && *xdg == '/')
		return path_join(xdg, "cairn");
	if (home && *home)
		return xasprintf("%s/.local/state/cairn", home);
	return xstrdup("/tmp/cairn-state");
}

/* Every section's keys and every job checked; with ld->all each error is
 * said, else the first ends the check. */
static void
check_sections(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	for (size_t i = 0; i < cfg->nsections && (!ld->err || ld->all); i++) {
		struct cfg_section *s = &cfg->sections[i];
		switch (s->kind) {
		case SECTION_CAIRN: check_cairn_section(ld, s); break;
		case SECTION_SOURCE:
		case SECTION_SINK: check_plugin_section(ld, s); break;
		case SECTION_RETENTION: check_retention(ld, s); break;
		case SECTION_JOB: cfg->njobs++; break;
		case SECTION_CHECK: check_check_section(ld, s); break;
		case SECTION_SERVE: check_serve_section(ld, s); break;
		}
	}
	if (!ld->err || ld->all) {
		cfg->jobs = xcalloc(cfg->njobs, sizeof(*cfg->jobs));
		size_t j = 0;
		for (size_t i = 0; i < cfg->nsections && (!ld->err || ld->all); i++)
			if (cfg->sections[i].kind == SECTION_JOB)
				check_job(ld, &cfg->sections[i], &cfg->jobs[j++]);
	}
}

/* ld->all in the order of the file's lines (stable: a line's errors stay
 * in the order they were found). */
static void
sort_by_line(struct loader *ld)
{
	char **v = ld->all->v;
	int *lines = ld->all_lines;
	for (size_t i = 1; i < ld->all->n; i++)
		for (size_t j = i; j > 0 && lines[j - 1] > lines[j]; j--) {
			int l = lines[j];
			char *t = v[j];
			lines[j] = lines[j - 1];
			v[j] = v[j - 1];
			lines[j - 1] = l;
			v[j - 1] = t;
		}
}

/* config_load() (all NULL) and config_load_all(). */
static struct config *
load(const char *path, char **err, struct strvec *all)
{
	struct loader ld = {.all = all};
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct stat st;
	char *data;
	int rc;

	cfg->path = xstrdup(path);
	{
		char *abs = path_absolute(path, NULL);
		cfg->dir = path_dirname(abs);
		free(abs);
	}
	ld.cfg = cfg;
	cfg->check = check_defaults;
	cfg->serve.max_connections = 512;
	if (config_read_file(path, NULL, CONFIG_MAX_BYTES, &st, &data, &ld.len, err) != 0) {
		config_free(cfg);
		return NULL;
	}
	ld.data = data;
	cfg->other_readable = (st.st_mode & S_IROTH) != 0;
	rc = ini_parse_stream(read_line, &ld, on_key, &ld);
	free(data);
	if (rc > 0 && ld.err && rc < ld.err_line && !all) {
		/* inih's syntax error comes first in the file: report that one */
		free(ld.err);
		ld.err = NULL;
	}
	if (rc > 0 && (!ld.err || all)) {
		/* every line inih refused was said by check_pending() */
		int said = 0;
		for (size_t i = 0; all && i < all->n; i++)
			said |= ld.all_lines[i] == rc;
		if (!said)
			syntax_error(&ld, rc);
	} else if (rc < 0) {
		/* inih failed as a whole (out of memory): nothing more to say */
		free(ld.err);
		free(ld.all_lines);
		*err = xasprintf("%s: cannot parse the file (error %d)", path, rc);
		config_free(cfg);
		return NULL;
	}

	check_sections(&ld);
	if (!cfg->state_dir)
		cfg->state_dir = default_state_dir();
	if (!cfg->serve.listen)
		cfg->serve.listen = xstrdup("127.0.0.1:9135");
	if (all) {
		sort_by_line(&ld);
		free(ld.all_lines);
		free(ld.err);
		return cfg;
	}
	if (ld.err) {
		*err = ld.err;
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
config_load(const char *path, char **err)
{
	return load(path, err, NULL);
}

struct config *
config_load_all(const char *path, struct strvec *errs, char **err)
{
	return load(path, err, errs);
}

void
config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nsections; i++) {
		struct cfg_section *s = &cfg->sections[i];
		for (size_t e = 0; e < s->nentries; e++) {
			free(s->entries[e].key);
			free(s->entries[e].value);
		}
		free(s->entries);
		free(s->name);
	}
	for (size_t j = 0; cfg->jobs && j < cfg->njobs; j++) {
		strvec_free(&cfg->jobs[j].sources);
		strvec_free(&cfg->jobs[j].sinks);
		config_crypt_free(&cfg->jobs[j].crypt);
	}
	free(cfg->jobs);
	free(cfg->sections);
	free(cfg->path);
	free(cfg->dir);
	free(cfg->state_dir);
	free(cfg->plugin_dir);
	free(cfg->metrics_file);
	free(cfg->serve.listen);
	free(cfg->serve.token_file);
	free(cfg->serve.tls_cert);
	free(cfg->serve.tls_key);
	free(cfg);
}
