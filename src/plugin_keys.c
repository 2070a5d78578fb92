/* plugin_keys.c - see plugin_keys.h */
#include "autoconf.h"

#include "plugin_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"
#include "values.h"

/* Every key type with its name and what its values look like: the one
 * table `cairn plugins -v`, the value errors and the loader read. */
static const struct {
	const char *name, *word;
} key_types[] = {
        [CAIRN_KEY_STRING] = {"string", "a value"},
        [CAIRN_KEY_INT] = {"int", "a whole number"},
        [CAIRN_KEY_BOOL] = {"bool", "yes or no"},
        [CAIRN_KEY_SIZE] = {"size", "a size such as 512K, 64M or 2G"},
        [CAIRN_KEY_DURATION] = {"duration", "a duration such as 30s, 10m, 2h, 7d or 1w"},
        [CAIRN_KEY_LIST] = {"list", "a value"},
        [CAIRN_KEY_PATH] = {"path", "a value"},
};
#define NTYPES (sizeof(key_types) / sizeof(key_types[0]))

const char *
key_type_name(enum cairn_key_type t)
{
	return (unsigned)t < NTYPES ? key_types[t].name : NULL;
}

const char *
key_type_word(enum cairn_key_type t)
{
	return (unsigned)t < NTYPES && key_types[t].word ? key_types[t].word : "a value";
}

enum key_match
key_match(const struct cairn_key *k, const char *key, size_t len)
{
	size_t nl = strlen(k->name);
	if (len < nl || strncmp(k->name, key, nl) != 0)
		return KEY_NO_MATCH;
	if (len == nl)
		return KEY_EXACT;
	if (!(k->flags & CAIRN_KEY_SECRET))
		return KEY_NO_MATCH;
	if (len - nl == 5 && strncmp(key + nl, "_file", 5) == 0)
		return KEY_SECRET_FILE;
	if (len - nl == 4 && strncmp(key + nl, "_env", 4) == 0)
		return KEY_SECRET_ENV;
	return KEY_NO_MATCH;
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];
	if (lb >= 64)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* ", did you mean path?" or a list of the known keys, into a new string. */
static char *
key_hint(const struct cairn_key *keys, const char *key)
{
	size_t best = 3;
	const char *guess = NULL;
	for (size_t k = 0; keys[k].name; k++) {
		size_t d = edit_distance(key, keys[k].name);
		if (d < best) {
			best = d;
			guess = keys[k].name;
		}
	}
	if (guess)
		return xasprintf("did you mean %s?", guess);
	struct strvec names = {0};
	for (size_t k = 0; keys[k].name; k++)
		strvec_push(&names, keys[k].name);
	char *list = strvec_join(&names, ", ");
	char *r = xasprintf("known keys: %s", *list ? list : "none");
	free(list);
	strvec_free(&names);
	return r;
}

struct key_source {
	const struct config *cfg;
	const struct cfg_section *sec;
	const char *plugin;
	int line;        /* 0 for --set */
	const char *key; /* as written */
};

static char *__attribute__((format(printf, 2, 3)))
key_error(const struct key_source *ks, const char *fmt, ...)
{
	char label[300], *msg, *r;
	va_list ap;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	section_label(ks->sec, label, sizeof(label));
	if (ks->line)
		r = xasprintf("%s:%d: %s %s: %s", ks->cfg->path, ks->line, label, ks->key, msg);
	else
		r = xasprintf("--set %s: %s (for %s)", ks->key, msg, label);
	free(msg);
	return r;
}

/* The secret in data (a file's content or an environment variable's
 * value): its first line without CR LF, a control character in it refused
 * naming where (a path, "$NAME").  Nothing of the content goes into a
 * message.  File and environment follow this one rule. */
static char *
secret_first_line(const char *data, size_t len, const char *where, char **why)
{
	const char *eol = memchr(data, '\n', len);
	size_t n = eol ? (size_t)(eol - data) : len;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)data[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*why = xasprintf(
			        "control character 0x%02x in the first line of %s; the secret is its first line, as text",
			        c, where);
			return NULL;
		}
	}
	return xstrndup(data, n);
}

/* Read the secret of a KEY_file; *readable says whether others may read
 * the file. */
static char *
read_secret_file(const char *path, const char *key, int *readable, char **why)
{
	struct stat st;
	char *data, *r;
	size_t len;

	if (config_read_file(path, key, SECRET_MAX_BYTES, &st, &data, &len, why) != 0)
		return NULL;
	*readable = (st.st_mode & S_IROTH) != 0;
	r = secret_first_line(data, len, path, why);
	free(data);
	return r;
}

/* Parse text as the value of key k into v.  Returns an error or NULL. */
static char *
set_value(struct typed_config *tc, const struct key_source *ks, const struct cairn_key *k,
          struct cairn_value *v, const char *text, const char *base)
{
	int64_t n = 0;
	int bad = 0;
	switch (k->type) {
	case CAIRN_KEY_INT: bad = parse_int(text, &n); break;
	case CAIRN_KEY_BOOL: bad = parse_bool(text, &n); break;
	case CAIRN_KEY_SIZE: bad = parse_size(text, &n); break;
	case CAIRN_KEY_DURATION: bad = parse_duration(text, &n); break;
	default: break;
	}
	if (bad && (k->flags & CAIRN_KEY_SECRET)) /* never repeat a secret */
		return key_error(ks, "the value given is not %s (not shown: the key is secret)",
		                 key_type_word(k->type));
	if (bad)
		return key_error(ks, "\"%s\" is not %s", text, key_type_word(k->type));
	if (k->type == CAIRN_KEY_PATH && !*text)
		return key_error(ks, "empty path");
	/* a new value replaces the old one; the old strings stay owned */
	v->set = 1;
	v->i = n;
	if (k->type == CAIRN_KEY_PATH) {
		char *abs = path_absolute(text, base);
		strvec_push_own(&tc->owned, abs);
		v->text = abs;
	} else {
		strvec_push(&tc->owned, text);
		v->text = tc->owned.v[tc->owned.n - 1];
	}
	v->list = NULL;
	v->list_len = 0;
	if (k->type == CAIRN_KEY_LIST) {
		struct strvec words = {0};
		split_words(text, &words);
		tc->lists = xrealloc(tc->lists, (tc->nlists + 1) * sizeof(*tc->lists));
		tc->lists[tc->nlists++] = words.v ? words.v : xcalloc(1, sizeof(char *));
		v->list = (const char *const *)tc->lists[tc->nlists - 1];
		v->list_len = words.n;
	}
	return NULL;
}

/* Apply KEY = TEXT from the INI (line > 0) or --set (line 0). */
static char *
apply_key(struct typed_config *tc, const struct key_source *ks, const struct cairn_key *keys,
          const char *text, const char *base)
{
	const char *key = ks->key;
	size_t len = strlen(key);
	for (size_t k = 0; keys[k].name; k++) {
		enum key_match m = key_match(&keys[k], key, len);
		if (m == KEY_NO_MATCH)
			continue;
		if (ks->line) {
			/* a secret given twice (inline and _file, say): say so
			 * rather than let the last one win silently */
			if (tc->line[k] && tc->line[k] != ks->line)
				return key_error(ks, "%s is already given at line %d; keep one",
				                 keys[k].name, tc->line[k]);
			tc->line[k] = ks->line;
		}
		if (m == KEY_EXACT)
			return set_value(tc, ks, &keys[k], &tc->values[k], text, base);
		char *secret, *why = NULL, *r;
		if (m == KEY_SECRET_FILE) {
			char *path = path_absolute(text, base);
			int readable = 0;
			secret = read_secret_file(path, keys[k].name, &readable, &why);
			if (secret && readable) { /* as for a secret inline in the INI */
				r = key_error(
				        ks,
				        "%s holds a secret but others can read it; chmod 600 %s",
				        path, path);
				log_warn("%s", r);
				free(r);
			}
			free(path);
		} else {
			const char *env = getenv(text);
			if (!env)
				return key_error(ks, "environment variable %s is not set", text);
			char *where = xasprintf("$%s", text);
			secret = secret_first_line(env, strlen(env), where, &why);
			free(where);
		}
		if (!secret) {
			r = key_error(ks, "%s", why);
			free(why);
			return r;
		}
		r = set_value(tc, ks, &keys[k], &tc->values[k], secret, base);
		free(secret);
		return r;
	}
	char *hint = key_hint(keys, key);
	char *r = key_error(ks, "unknown key for plugin %s; %s", ks->plugin, hint);
	free(hint);
	return r;
}

/* The required keys the section lacks (not those given with a value in
 * error: that error is said already), each an error into errs. */
static void
missing_required(const struct config *cfg, const struct cfg_section *sec, const char *plugin,
                 const struct cairn_key *keys, const struct typed_config *tc, struct strvec *errs)
{
	char label[300];
	section_label(sec, label, sizeof(label));
	for (size_t k = 0; keys[k].name; k++)
		if ((keys[k].flags & CAIRN_KEY_REQUIRED) && !tc->values[k].set && !tc->line[k])
			strvec_push_own(
			        errs,
			        xasprintf("%s:%d: %s %s: required by plugin %s; add %s = ...%s%s%s",
			                  cfg->path, sec->line, label, keys[k].name, plugin,
			                  keys[k].name, keys[k].help ? " (" : "",
			                  keys[k].help ? keys[k].help : "",
			                  keys[k].help ? ")" : ""));
}

/* Does text hold a URL with a password (scheme://user:password@host)? */
static int
url_has_password(const char *text)
{
	for (const char *p = strstr(text, "://"); p; p = strstr(p, "://")) {
		p += 3;
		size_t auth = strcspn(p, "/?# \t"); /* the authority */
		const char *at = NULL, *colon;
		for (size_t i = 0; i < auth; i++)
			if (p[i] == '@')
				at = p + i;
		if (at && (colon = memchr(p, ':', (size_t)(at - p))) && colon + 1 < at)
			return 1;
	}
	return 0;
}

/* A warning for a secret set inline in a file others can read: a secret
 * key's value, or a password inside a URL (a mongo uri, say). */
static void
warn_readable_secret(const struct config *cfg, const struct cfg_entry *en,
                     const struct cairn_key *keys)
{
	const char *secret_key = NULL;
	for (size_t k = 0; keys[k].name; k++) {
		if (!(keys[k].flags & CAIRN_KEY_SECRET))
			continue;
		if (!strcmp(en->key, keys[k].name)) {
			log_warn(
			        "%s:%d: %s holds a secret but others can read the file; chmod 600 it or use %s_file =",
			        cfg->path, en->line, en->key, en->key);
			return;
		}
		if (!secret_key)
			secret_key = keys[k].name;
	}
	if (!url_has_password(en->value))
		return;
	if (secret_key)
		log_warn(
		        "%s:%d: %s holds a password (user:password@ in a URL) but others can read the file; chmod 600 it, or take the password out of the URL and use %s_file =",
		        cfg->path, en->line, en->key, secret_key);
	else
		log_warn(
		        "%s:%d: %s holds a password (user:password@ in a URL) but others can read the file; chmod 600 it",
		        cfg->path, en->line, en->key);
}

int
config_typed_all(const struct config *cfg, const struct cfg_section *sec, const char *plugin,
                 const struct cairn_key *keys, const struct strvec *overrides,
                 struct typed_config **out, struct strvec *errs)
{
	struct typed_config *tc = xcalloc(1, sizeof(*tc));
	size_t nkeys = 0, nerrs = errs->n;
	char *e;
	struct key_source ks = {.cfg = cfg, .sec = sec, .plugin = plugin};
	static const struct cairn_key no_keys[] = {{.name = NULL}};

	if (!keys) /* a plugin without keys may leave its table NULL */
		keys = no_keys;
	while (keys[nkeys].name)
		nkeys++;
	tc->values = xcalloc(nkeys + 1, sizeof(*tc->values));
	tc->line = xcalloc(nkeys + 1, sizeof(*tc->line));
	for (size_t k = 0; k < nkeys; k++) {
		tc->values[k].name = keys[k].name;
		tc->values[k].type = keys[k].type;
		if (keys[k].default_value) {
			ks.key = keys[k].name;
			ks.line = sec->line;
			e = set_value(tc, &ks, &keys[k], &tc->values[k], keys[k].default_value,
			              cfg->dir);
			if (e) { /* the plugin's own default is broken */
				free(e);
				strvec_push_own(
				        errs,
				        xasprintf(
				                "plugin %s: the default of key %s (\"%s\") is not %s; report this to the plugin's author",
				                plugin, keys[k].name, keys[k].default_value,
				                key_type_word(keys[k].type)));
			}
		}
	}
	for (size_t i = 0; i < sec->nentries; i++) {
		const struct cfg_entry *en = &sec->entries[i];
		if (strcmp(en->key, "plugin") == 0)
			continue;
		ks.key = en->key;
		ks.line = en->line;
		if ((e = apply_key(tc, &ks, keys, en->value, cfg->dir)))
			strvec_push_own(errs, e);
		else if (cfg->other_readable)
			warn_readable_secret(cfg, en, keys);
	}
	for (size_t i = 0; overrides && i < overrides->n; i++) {
		const char *eq = strchr(overrides->v[i], '=');
		char *key = eq ? xstrndup(overrides->v[i], (size_t)(eq - overrides->v[i]))
		               : xstrdup(overrides->v[i]);
		ks.key = key;
		ks.line = 0;
		if (!eq) /* no value to keep quiet about */
			e = xasprintf("--set %s: use --set KEY=VALUE", overrides->v[i]);
		else if (eq == overrides->v[i])
			e = xstrdup("--set with no key before '=': use --set KEY=VALUE");
		else
			e = apply_key(tc, &ks, keys, eq + 1, NULL);
		if (e)
			strvec_push_own(errs, e);
		free(key);
	}
	missing_required(cfg, sec, plugin, keys, tc, errs);
	if (errs->n > nerrs) {
		typed_config_free(tc);
		return CAIRN_E_CONFIG;
	}
	tc->pub.count = nkeys;
	tc->pub.values = tc->values;
	tc->pub.instance = sec->name;
	*out = tc;
	return 0;
}

int
config_typed(const struct config *cfg, const struct cfg_section *sec, const char *plugin,
             const struct cairn_key *keys, const struct strvec *overrides,
             struct typed_config **out, char **err)
{
	struct strvec errs = {0};
	int rc = config_typed_all(cfg, sec, plugin, keys, overrides, out, &errs);
	if (rc) { /* the first error is the one to say */
		*err = errs.v[0];
		errs.v[0] = NULL;
	}
	strvec_free(&errs);
	return rc;
}

void
typed_config_free(struct typed_config *tc)
{
	if (!tc)
		return;
	for (size_t i = 0; i < tc->nlists; i++) {
		for (char **w = tc->lists[i]; *w; w++)
			free(*w);
		free(tc->lists[i]);
	}
	free(tc->lists);
	strvec_free(&tc->owned);
	free(tc->line);
	free(tc->values);
	free(tc);
}
