#include "dd_policy.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_json.h"

/*
 * Compiled form
 * -------------
 * Every Resource string becomes a pattern: a run of tokens (literal text,
 * `*`, `?`, or a variable) in one token array, literal bytes in one pool.
 * Every statement contributes, for each data-plane action its Action list
 * covers, one rule (pattern, statement) per resource to the list
 * rules[action][effect]. Evaluating is then: walk the Deny list of the
 * action in every policy, then the Allow lists; no parsing, no allocation.
 */

typedef enum tok_kind {
    TOK_LIT = 0,       /* pool[off .. off+len) */
    TOK_STAR,          /* any run of characters, possibly empty */
    TOK_QMARK,         /* exactly one character (one UTF-8 sequence) */
    TOK_VAR_CLIENT_ID, /* ${iot:ClientId} */
    TOK_VAR_THING_NAME /* ${iot:Connection.Thing.ThingName} */
} tok_kind_t;

typedef struct tok {
    uint32_t kind;
    uint32_t off;
    uint32_t len;
} tok_t;

typedef enum pat_kind {
    PAT_ANY = 0, /* "*" alone: matches every resource */
    PAT_EXACT,   /* one literal: length + memcmp */
    PAT_GLOB     /* general case */
} pat_kind_t;

#define VAR_CLIENT_ID 0x1u
#define VAR_THING_NAME 0x2u

typedef struct pattern {
    uint32_t first_tok;
    uint32_t ntok;
    uint32_t min_len; /* literal bytes + one per `?`, variables excluded */
    uint16_t kind;    /* pat_kind_t */
    uint8_t vars;     /* VAR_* the pattern needs */
    uint8_t n_client; /* occurrences of each variable, for min_len; the */
    uint8_t n_thing;  /* 2048-character limit keeps them under 137 */
} pattern_t;

typedef struct rule {
    uint32_t pattern;
    uint32_t statement;
} rule_t;

typedef struct statement {
    char *sid; /* "" when none */
    bool deny;
} statement_t;

enum { EFFECT_DENY = 0, EFFECT_ALLOW = 1 };

struct dd_policy {
    tok_t *toks;
    char *pool;
    pattern_t *pats;
    rule_t *rules;
    statement_t *stmts;
    size_t n_stmts;
    uint32_t list_off[DD_POLICY_ACTION_COUNT][2];
    uint32_t list_len[DD_POLICY_ACTION_COUNT][2];
};

static const char *const ACTION_NAMES[DD_POLICY_ACTION_COUNT] = {
    [DD_POLICY_ACTION_CONNECT] = "iot:Connect",
    [DD_POLICY_ACTION_PUBLISH] = "iot:Publish",
    [DD_POLICY_ACTION_SUBSCRIBE] = "iot:Subscribe",
    [DD_POLICY_ACTION_RECEIVE] = "iot:Receive",
    [DD_POLICY_ACTION_RETAIN_PUBLISH] = "iot:RetainPublish",
};

static const char VAR_NAME_CLIENT_ID[] = "iot:ClientId";
static const char VAR_NAME_THING_NAME[] = "iot:Connection.Thing.ThingName";

/* ==== building: growable arrays ============================================ */

typedef struct builder {
    tok_t *toks;
    size_t ntoks, cap_toks;
    char *pool;
    size_t npool, cap_pool;
    pattern_t *pats;
    size_t npats, cap_pats;
    /* per statement: effect, action mask, its patterns [pat_first, pat_first + pat_count) */
    struct bstmt {
        bool deny;
        unsigned actions;
        uint32_t pat_first;
        uint32_t pat_count;
        char *sid;
    } * stmts;
    size_t nstmts, cap_stmts;
    char *err;
    size_t err_len;
} builder_t;

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *p;

    if (need <= *cap) {
        return true;
    }
    ncap = *cap != 0 ? *cap * 2 : 16;
    while (ncap < need) {
        ncap *= 2;
    }
    p = realloc(*arr, ncap * elem);
    if (p == NULL) {
        return false;
    }
    *arr = p;
    *cap = ncap;
    return true;
}

__attribute__((format(printf, 2, 3))) static void set_err(builder_t *b, const char *fmt, ...)
{
    va_list ap;

    if (b->err == NULL || b->err_len == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(b->err, b->err_len, fmt, ap);
    va_end(ap);
}

/* ==== wildcard matching ===================================================== */

/* Index just past the UTF-8 character starting at s[i] (i < n). */
static inline size_t next_char(const char *s, size_t n, size_t i)
{
    i++;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) {
        i++;
    }
    return i;
}

static inline char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * Case-insensitive glob of an action pattern against an action name, used at
 * parse time only. Iterative: on a mismatch, the last `*` swallows one more
 * character and matching resumes after it, which is enough for `*`/`?`
 * patterns and never recurses.
 */
static bool action_glob(const char *pat, const char *s)
{
    const char *star_p = NULL;
    const char *star_s = NULL;

    for (;;) {
        if (*pat == '*') {
            star_p = ++pat;
            star_s = s;
            continue;
        }
        if (*s == '\0') {
            while (*pat == '*') {
                pat++;
            }
            return *pat == '\0';
        }
        if (*pat == '?' || (*pat != '\0' && ascii_lower(*pat) == ascii_lower(*s))) {
            pat++;
            s++;
            continue;
        }
        if (star_p == NULL) {
            return false;
        }
        pat = star_p;
        s = ++star_s;
    }
}

bool dd_policy_action_matches(const char *pattern, const char *action)
{
    if (pattern == NULL || action == NULL) {
        return false;
    }
    return action_glob(pattern, action);
}

/* The resolved variable values of one evaluation. */
typedef struct var_vals {
    const char *client;
    size_t client_len;
    const char *thing;
    size_t thing_len;
    unsigned have;
} var_vals_t;

/* Text and length of a literal or variable token. */
static inline void tok_text(const dd_policy_t *p, const tok_t *t, const var_vals_t *v,
                            const char **text, size_t *len)
{
    switch (t->kind) {
    case TOK_VAR_CLIENT_ID:
        *text = v->client;
        *len = v->client_len;
        break;
    case TOK_VAR_THING_NAME:
        *text = v->thing;
        *len = v->thing_len;
        break;
    default:
        *text = p->pool + t->off;
        *len = t->len;
        break;
    }
}

/*
 * Does resource s[0..n) match the pattern? Same single-backtrack-point
 * algorithm as action_glob(), over tokens: literals and variable values are
 * compared as whole byte runs, `?` takes one UTF-8 character and a `*`
 * extends by whole characters. Worst case O(n * tokens), no recursion.
 */
static bool match_pattern(const dd_policy_t *p, const pattern_t *pat, const char *s, size_t n,
                          const var_vals_t *v)
{
    const tok_t *t;
    const tok_t *end;
    const tok_t *star_t = NULL;
    size_t star_si = 0;
    size_t si = 0;

    if ((pat->vars & ~v->have) != 0) {
        return false; /* a variable without a value never matches */
    }
    if (pat->kind == PAT_ANY) {
        return true;
    }
    if ((size_t)pat->min_len + pat->n_client * v->client_len + pat->n_thing * v->thing_len > n) {
        return false;
    }
    t = p->toks + pat->first_tok;
    if (pat->kind == PAT_EXACT) {
        return t->len == n && memcmp(p->pool + t->off, s, n) == 0;
    }
    end = t + pat->ntok;
    for (;;) {
        if (t < end) {
            if (t->kind == TOK_STAR) {
                if (t + 1 == end) {
                    return true; /* a trailing star takes whatever is left */
                }
                star_t = ++t;
                star_si = si;
                continue;
            }
            if (t->kind == TOK_QMARK) {
                if (si < n) {
                    si = next_char(s, n, si);
                    t++;
                    continue;
                }
            } else {
                const char *text;
                size_t len;

                tok_text(p, t, v, &text, &len);
                if (n - si >= len && memcmp(s + si, text, len) == 0) {
                    si += len;
                    t++;
                    continue;
                }
            }
        } else if (si == n) {
            return true;
        }
        /* Mismatch: let the last star take one more character. */
        if (star_t == NULL || star_si >= n) {
            return false;
        }
        star_si = next_char(s, n, star_si);
        si = star_si;
        t = star_t;
    }
}

/* ==== parsing ================================================================== */

static bool add_tok(builder_t *b, tok_kind_t kind, uint32_t off, uint32_t len)
{
    if (!grow((void **)&b->toks, &b->cap_toks, b->ntoks + 1, sizeof(tok_t))) {
        return false;
    }
    b->toks[b->ntoks].kind = kind;
    b->toks[b->ntoks].off = off;
    b->toks[b->ntoks].len = len;
    b->ntoks++;
    return true;
}

/* Appends one literal byte, extending the previous literal token if any. */
static bool add_lit(builder_t *b, uint32_t first_tok, char c)
{
    if (!grow((void **)&b->pool, &b->cap_pool, b->npool + 1, 1)) {
        return false;
    }
    b->pool[b->npool] = c;
    if (b->ntoks > first_tok && b->toks[b->ntoks - 1].kind == TOK_LIT &&
        b->toks[b->ntoks - 1].off + b->toks[b->ntoks - 1].len == b->npool) {
        b->toks[b->ntoks - 1].len++;
    } else if (!add_tok(b, TOK_LIT, (uint32_t)b->npool, 1)) {
        return false;
    }
    b->npool++;
    return true;
}

/* Compiles one Resource string. @where is e.g. "Statement[0].Resource[1]". */
static dd_policy_status_t compile_resource(builder_t *b, const char *where, const char *r)
{
    pattern_t pat;
    size_t colons = 0;
    size_t i;

    memset(&pat, 0, sizeof(pat));
    if (r[0] == '\0') {
        set_err(b, "%s must not be empty", where);
        return DD_POLICY_MALFORMED;
    }
    if (strcmp(r, "*") != 0) {
        for (i = 0; r[i] != '\0'; i++) {
            colons += r[i] == ':';
        }
        if (strncmp(r, "arn:", 4) != 0 || colons < 5) {
            set_err(b, "%s \"%.80s\" is not \"*\" or an ARN (arn:aws:iot:REGION:ACCOUNT:TYPE/NAME)",
                    where, r);
            return DD_POLICY_MALFORMED;
        }
    }
    pat.first_tok = (uint32_t)b->ntoks;
    for (i = 0; r[i] != '\0'; i++) {
        bool ok;

        if (r[i] == '*') {
            /* "**" is "*". */
            ok = (b->ntoks > pat.first_tok && b->toks[b->ntoks - 1].kind == TOK_STAR) ||
                 add_tok(b, TOK_STAR, 0, 0);
        } else if (r[i] == '?') {
            pat.min_len++;
            ok = add_tok(b, TOK_QMARK, 0, 0);
        } else if (r[i] == '$' && r[i + 1] == '{') {
            const char *name = r + i + 2;
            const char *close = strchr(name, '}');
            size_t nlen;

            if (close == NULL) {
                set_err(b, "%s has an unterminated policy variable \"%.60s\"", where, r + i);
                return DD_POLICY_MALFORMED;
            }
            nlen = (size_t)(close - name);
            if (nlen == 1 && (name[0] == '*' || name[0] == '?' || name[0] == '$')) {
                /* ${*} ${?} ${$}: the character itself, not a wildcard. */
                pat.min_len++;
                ok = add_lit(b, pat.first_tok, name[0]);
            } else if (nlen == sizeof(VAR_NAME_CLIENT_ID) - 1 &&
                       memcmp(name, VAR_NAME_CLIENT_ID, nlen) == 0) {
                pat.vars |= VAR_CLIENT_ID;
                pat.n_client++;
                ok = add_tok(b, TOK_VAR_CLIENT_ID, 0, 0);
            } else if (nlen == sizeof(VAR_NAME_THING_NAME) - 1 &&
                       memcmp(name, VAR_NAME_THING_NAME, nlen) == 0) {
                pat.vars |= VAR_THING_NAME;
                pat.n_thing++;
                ok = add_tok(b, TOK_VAR_THING_NAME, 0, 0);
            } else {
                set_err(b,
                        "%s: policy variable ${%.*s} is not supported by ddlocal "
                        "(only ${iot:ClientId} and ${iot:Connection.Thing.ThingName})",
                        where, (int)(nlen > 60 ? 60 : nlen), name);
                return DD_POLICY_UNSUPPORTED;
            }
            i += nlen + 2; /* "${" + name; the loop's i++ skips the "}" */
        } else {
            pat.min_len++;
            ok = add_lit(b, pat.first_tok, r[i]);
        }
        if (!ok) {
            return DD_POLICY_NO_MEMORY;
        }
    }
    pat.ntok = (uint32_t)b->ntoks - pat.first_tok;
    if (pat.ntok == 1 && b->toks[pat.first_tok].kind == TOK_STAR) {
        pat.kind = PAT_ANY;
    } else if (pat.ntok == 1 && b->toks[pat.first_tok].kind == TOK_LIT) {
        pat.kind = PAT_EXACT;
    } else {
        pat.kind = PAT_GLOB;
    }
    if (!grow((void **)&b->pats, &b->cap_pats, b->npats + 1, sizeof(pattern_t))) {
        return DD_POLICY_NO_MEMORY;
    }
    b->pats[b->npats++] = pat;
    return DD_POLICY_OK;
}

/* "service:Name" with [A-Za-z0-9-] in the service and [A-Za-z0-9*?] in the
 * name, or "*". */
static bool action_well_formed(const char *a)
{
    const char *colon = strchr(a, ':');
    const char *c;

    if (strcmp(a, "*") == 0) {
        return true;
    }
    if (colon == NULL || colon == a || colon[1] == '\0') {
        return false;
    }
    for (c = a; c < colon; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-')) {
            return false;
        }
    }
    for (c = colon + 1; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '*' || *c == '?')) {
            return false;
        }
    }
    return true;
}

/* Longest element path a statement builds, "Statement[<int>].Resource", with the NUL. */
#define PATH_LEN 96

/*
 * Walks a string-or-list element (Action, Resource), calling @fn on each
 * string with its path for messages. @path is "Statement[i].Action".
 */
typedef dd_policy_status_t (*item_fn)(builder_t *b, const char *where, const char *value,
                                      void *ctx);

static dd_policy_status_t each_string(builder_t *b, const char *path, const cJSON *item, item_fn fn,
                                      void *ctx)
{
    /* Room for any path a statement builds (PATH_LEN) plus "[<int>]". */
    char where[PATH_LEN + sizeof("[-2147483648]")];
    const cJSON *e;
    int i = 0;

    if (cJSON_IsString(item)) {
        return fn(b, path, item->valuestring, ctx);
    }
    if (!cJSON_IsArray(item)) {
        set_err(b, "%s must be a string or a list of strings", path);
        return DD_POLICY_MALFORMED;
    }
    if (item->child == NULL) {
        set_err(b, "%s must not be an empty list", path);
        return DD_POLICY_MALFORMED;
    }
    cJSON_ArrayForEach (e, item) {
        dd_policy_status_t st;

        if (snprintf(where, sizeof(where), "%s[%d]", path, i) >= (int)sizeof(where)) {
            set_err(b, "%.40s...: element path too long", path);
            return DD_POLICY_MALFORMED;
        }
        if (!cJSON_IsString(e)) {
            set_err(b, "%s must be a string", where);
            return DD_POLICY_MALFORMED;
        }
        st = fn(b, where, e->valuestring, ctx);
        if (st != DD_POLICY_OK) {
            return st;
        }
        i++;
    }
    return DD_POLICY_OK;
}

static dd_policy_status_t on_action(builder_t *b, const char *where, const char *a, void *ctx)
{
    unsigned *mask = ctx;
    int i;

    if (a[0] == '\0') {
        set_err(b, "%s must not be empty", where);
        return DD_POLICY_MALFORMED;
    }
    if (!action_well_formed(a)) {
        set_err(b, "%s \"%.60s\" is not an action of the form \"iot:Action\" or \"*\"", where, a);
        return DD_POLICY_MALFORMED;
    }
    for (i = 0; i < DD_POLICY_ACTION_COUNT; i++) {
        if (action_glob(a, ACTION_NAMES[i])) {
            *mask |= 1u << i;
        }
    }
    return DD_POLICY_OK;
}

static dd_policy_status_t on_resource(builder_t *b, const char *where, const char *r, void *ctx)
{
    (void)ctx;
    return compile_resource(b, where, r);
}

/* Rejects unknown and duplicate members of an object; @known is NULL-terminated. */
static dd_policy_status_t check_members(builder_t *b, const cJSON *obj, const char *path,
                                        const char *const *known)
{
    const cJSON *m;
    const cJSON *o;

    cJSON_ArrayForEach (m, obj) {
        const char *const *k;

        for (o = obj->child; o != m; o = o->next) {
            if (strcmp(o->string, m->string) == 0) {
                set_err(b, "%s%sduplicate element \"%.40s\"", path, path[0] ? ": " : "", m->string);
                return DD_POLICY_MALFORMED;
            }
        }
        for (k = known; *k != NULL && strcmp(*k, m->string) != 0; k++) {
        }
        if (*k != NULL) {
            continue;
        }
        if (path[0] != '\0' &&
            (strcmp(m->string, "Condition") == 0 || strcmp(m->string, "NotAction") == 0 ||
             strcmp(m->string, "NotResource") == 0)) {
            set_err(b, "%s.%s is not supported by ddlocal", path, m->string);
            return DD_POLICY_UNSUPPORTED;
        }
        if (path[0] != '\0' &&
            (strcmp(m->string, "Principal") == 0 || strcmp(m->string, "NotPrincipal") == 0)) {
            set_err(b, "%s.%s is not allowed in an AWS IoT policy", path, m->string);
            return DD_POLICY_MALFORMED;
        }
        set_err(b, "%s%sunknown element \"%.40s\"", path, path[0] ? ": " : "", m->string);
        return DD_POLICY_MALFORMED;
    }
    return DD_POLICY_OK;
}

static dd_policy_status_t parse_statement(builder_t *b, const cJSON *s, const char *path)
{
    static const char *const KNOWN[] = {"Sid", "Effect", "Action", "Resource", NULL};
    char sub[PATH_LEN];
    const cJSON *sid;
    const cJSON *effect;
    const cJSON *action;
    const cJSON *resource;
    struct bstmt st;
    dd_policy_status_t rc;

    memset(&st, 0, sizeof(st));
    if (!cJSON_IsObject(s)) {
        set_err(b, "%s must be an object", path);
        return DD_POLICY_MALFORMED;
    }
    rc = check_members(b, s, path, KNOWN);
    if (rc != DD_POLICY_OK) {
        return rc;
    }
    sid = cJSON_GetObjectItemCaseSensitive(s, "Sid");
    effect = cJSON_GetObjectItemCaseSensitive(s, "Effect");
    action = cJSON_GetObjectItemCaseSensitive(s, "Action");
    resource = cJSON_GetObjectItemCaseSensitive(s, "Resource");
    if (sid != NULL && !cJSON_IsString(sid)) {
        set_err(b, "%s.Sid must be a string", path);
        return DD_POLICY_MALFORMED;
    }
    if (effect == NULL) {
        set_err(b, "%s.Effect is missing", path);
        return DD_POLICY_MALFORMED;
    }
    if (!cJSON_IsString(effect) ||
        (strcmp(effect->valuestring, "Allow") != 0 && strcmp(effect->valuestring, "Deny") != 0)) {
        set_err(b, "%s.Effect must be \"Allow\" or \"Deny\"", path);
        return DD_POLICY_MALFORMED;
    }
    if (action == NULL) {
        set_err(b, "%s.Action is missing", path);
        return DD_POLICY_MALFORMED;
    }
    if (resource == NULL) {
        set_err(b, "%s.Resource is missing", path);
        return DD_POLICY_MALFORMED;
    }
    st.deny = strcmp(effect->valuestring, "Deny") == 0;
    (void)snprintf(sub, sizeof(sub), "%s.Action", path);
    rc = each_string(b, sub, action, on_action, &st.actions);
    if (rc != DD_POLICY_OK) {
        return rc;
    }
    st.pat_first = (uint32_t)b->npats;
    (void)snprintf(sub, sizeof(sub), "%s.Resource", path);
    rc = each_string(b, sub, resource, on_resource, NULL);
    if (rc != DD_POLICY_OK) {
        return rc;
    }
    st.pat_count = (uint32_t)b->npats - st.pat_first;
    st.sid = strdup(sid != NULL ? sid->valuestring : "");
    if (st.sid == NULL ||
        !grow((void **)&b->stmts, &b->cap_stmts, b->nstmts + 1, sizeof(b->stmts[0]))) {
        free(st.sid);
        return DD_POLICY_NO_MEMORY;
    }
    b->stmts[b->nstmts++] = st;
    return DD_POLICY_OK;
}

static dd_policy_status_t parse_document(builder_t *b, const cJSON *root)
{
    static const char *const KNOWN[] = {"Version", "Statement", "Id", NULL};
    const cJSON *version;
    const cJSON *id;
    const cJSON *stmts;
    dd_policy_status_t rc;

    if (!cJSON_IsObject(root)) {
        set_err(b, "the policy document must be a JSON object");
        return DD_POLICY_MALFORMED;
    }
    rc = check_members(b, root, "", KNOWN);
    if (rc != DD_POLICY_OK) {
        return rc;
    }
    version = cJSON_GetObjectItemCaseSensitive(root, "Version");
    id = cJSON_GetObjectItemCaseSensitive(root, "Id");
    stmts = cJSON_GetObjectItemCaseSensitive(root, "Statement");
    if (version == NULL) {
        set_err(b, "Version is missing; it must be \"2012-10-17\"");
        return DD_POLICY_MALFORMED;
    }
    if (!cJSON_IsString(version)) {
        set_err(b, "Version must be the string \"2012-10-17\"");
        return DD_POLICY_MALFORMED;
    }
    if (strcmp(version->valuestring, "2012-10-17") != 0) {
        if (strcmp(version->valuestring, "2008-10-17") == 0) {
            set_err(b, "Version \"2008-10-17\" is not supported by ddlocal; use \"2012-10-17\"");
            return DD_POLICY_UNSUPPORTED;
        }
        set_err(b, "Version \"%.40s\" is not valid; it must be \"2012-10-17\"",
                version->valuestring);
        return DD_POLICY_MALFORMED;
    }
    if (id != NULL && !cJSON_IsString(id)) {
        set_err(b, "Id must be a string");
        return DD_POLICY_MALFORMED;
    }
    if (stmts == NULL) {
        set_err(b, "Statement is missing");
        return DD_POLICY_MALFORMED;
    }
    if (cJSON_IsObject(stmts)) {
        return parse_statement(b, stmts, "Statement");
    }
    if (cJSON_IsArray(stmts)) {
        const cJSON *s;
        int i = 0;

        if (stmts->child == NULL) {
            set_err(b, "Statement must not be an empty list");
            return DD_POLICY_MALFORMED;
        }
        cJSON_ArrayForEach (s, stmts) {
            char path[32];

            (void)snprintf(path, sizeof(path), "Statement[%d]", i++);
            rc = parse_statement(b, s, path);
            if (rc != DD_POLICY_OK) {
                return rc;
            }
        }
        return DD_POLICY_OK;
    }
    set_err(b, "Statement must be an object or a list of objects");
    return DD_POLICY_MALFORMED;
}

/* Moves the builder's arrays into a policy and lays out the rule lists. */
static dd_policy_status_t finish(builder_t *b, dd_policy_t **out)
{
    dd_policy_t *p = calloc(1, sizeof(*p));
    size_t n_rules = 0;
    size_t pos = 0;
    size_t i;
    int a;
    int e;

    if (p == NULL) {
        return DD_POLICY_NO_MEMORY;
    }
    for (i = 0; i < b->nstmts; i++) {
        n_rules += (size_t)__builtin_popcount(b->stmts[i].actions) * b->stmts[i].pat_count;
    }
    if (n_rules > UINT32_MAX || b->npats > UINT32_MAX) {
        free(p);
        return DD_POLICY_NO_MEMORY;
    }
    p->rules = calloc(n_rules != 0 ? n_rules : 1, sizeof(rule_t));
    p->stmts = calloc(b->nstmts, sizeof(statement_t));
    if (p->rules == NULL || p->stmts == NULL) {
        free(p->rules);
        free(p->stmts);
        free(p);
        return DD_POLICY_NO_MEMORY;
    }
    /* Rules of each (action, effect) list are contiguous, in document order. */
    for (a = 0; a < DD_POLICY_ACTION_COUNT; a++) {
        for (e = 0; e < 2; e++) {
            p->list_off[a][e] = (uint32_t)pos;
            for (i = 0; i < b->nstmts; i++) {
                const struct bstmt *s = &b->stmts[i];
                uint32_t k;

                if ((s->actions & (1u << a)) == 0 || s->deny != (e == EFFECT_DENY)) {
                    continue;
                }
                for (k = 0; k < s->pat_count; k++) {
                    p->rules[pos].pattern = s->pat_first + k;
                    p->rules[pos].statement = (uint32_t)i;
                    pos++;
                }
            }
            p->list_len[a][e] = (uint32_t)(pos - p->list_off[a][e]);
        }
    }
    for (i = 0; i < b->nstmts; i++) {
        p->stmts[i].sid = b->stmts[i].sid;
        p->stmts[i].deny = b->stmts[i].deny;
        b->stmts[i].sid = NULL;
    }
    p->n_stmts = b->nstmts;
    p->toks = b->toks;
    p->pool = b->pool;
    p->pats = b->pats;
    b->toks = NULL;
    b->pool = NULL;
    b->pats = NULL;
    *out = p;
    return DD_POLICY_OK;
}

static void builder_free(builder_t *b)
{
    size_t i;

    for (i = 0; i < b->nstmts; i++) {
        free(b->stmts[i].sid);
    }
    free(b->stmts);
    free(b->toks);
    free(b->pool);
    free(b->pats);
}

/* JSON whitespace is not counted towards AWS's 2048-character limit;
 * characters are counted as UTF-8 sequences, not bytes. */
static size_t count_chars(const char *doc, size_t len)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)doc[i];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && (c & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

dd_policy_status_t dd_policy_parse(const char *doc, size_t len, dd_policy_t **policy, char *err,
                                   size_t err_len)
{
    builder_t b;
    cJSON *root = NULL;
    dd_json_error_t jerr;
    dd_json_status_t js;
    size_t chars;
    dd_policy_status_t rc;

    if (policy != NULL) {
        *policy = NULL;
    }
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    if (doc == NULL || policy == NULL || (err == NULL && err_len > 0)) {
        return DD_POLICY_BAD_PARAMETER;
    }
    memset(&b, 0, sizeof(b));
    b.err = err;
    b.err_len = err_len;
    if (len > DD_POLICY_DOC_MAX_BYTES) {
        set_err(&b, "the policy document is %zu bytes; ddlocal accepts at most %d", len,
                DD_POLICY_DOC_MAX_BYTES);
        return DD_POLICY_TOO_LARGE;
    }
    chars = count_chars(doc, len);
    if (chars > DD_POLICY_DOC_MAX_CHARS) {
        set_err(&b,
                "the policy document has %zu characters without whitespace; "
                "the limit is %d",
                chars, DD_POLICY_DOC_MAX_CHARS);
        return DD_POLICY_TOO_LARGE;
    }
    if (memchr(doc, '\0', len) != NULL) {
        set_err(&b, "the policy document contains a NUL character");
        return DD_POLICY_MALFORMED;
    }
    /* Strict RFC 8259 (no 01, no \u0000 cutting an action or resource short, nothing after the
     * value); duplicate elements are left to parse_document(), which names them. */
    js = dd_json_parse(doc, len, DD_JSON_ALLOW_DUPLICATES, &root, &jerr);
    if (js == DD_JSON_NO_MEMORY) {
        return DD_POLICY_NO_MEMORY;
    }
    if (js != DD_JSON_OK) {
        set_err(&b, "the policy document is not valid JSON: %s", jerr.message);
        return DD_POLICY_MALFORMED;
    }
    rc = parse_document(&b, root);
    cJSON_Delete(root);
    if (rc == DD_POLICY_OK) {
        rc = finish(&b, policy);
    }
    builder_free(&b);
    if (rc == DD_POLICY_NO_MEMORY) {
        set_err(&b, "out of memory");
    }
    return rc;
}

dd_policy_status_t dd_policy_validate(const char *doc, size_t len, char *err, size_t err_len)
{
    dd_policy_t *p = NULL;
    dd_policy_status_t rc = dd_policy_parse(doc, len, &p, err, err_len);

    dd_policy_free(p);
    return rc;
}

void dd_policy_free(dd_policy_t *policy)
{
    size_t i;

    if (policy == NULL) {
        return;
    }
    for (i = 0; i < policy->n_stmts; i++) {
        free(policy->stmts[i].sid);
    }
    free(policy->stmts);
    free(policy->rules);
    free(policy->pats);
    free(policy->toks);
    free(policy->pool);
    free(policy);
}

size_t dd_policy_statement_count(const dd_policy_t *policy)
{
    return policy != NULL ? policy->n_stmts : 0;
}

/* ==== evaluation ================================================================ */

/* First rule of policy @p's list (@action, @effect) that matches, or -1. */
static inline long find_match(const dd_policy_t *p, int action, int effect, const char *res,
                              size_t res_len, const var_vals_t *v)
{
    const rule_t *r = p->rules + p->list_off[action][effect];
    uint32_t n = p->list_len[action][effect];
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (match_pattern(p, &p->pats[r[i].pattern], res, res_len, v)) {
            return (long)r[i].statement;
        }
    }
    return -1;
}

dd_policy_status_t dd_policy_evaluate(const dd_policy_t *const *policies, size_t count,
                                      dd_policy_action_t action, const char *resource,
                                      const dd_policy_vars_t *vars, dd_policy_decision_t *decision,
                                      dd_policy_match_t *match)
{
    var_vals_t v;
    size_t res_len;
    size_t i;
    int e;

    if (decision != NULL) {
        *decision = DD_POLICY_DENY_DEFAULT;
    }
    if (decision == NULL || resource == NULL || (policies == NULL && count > 0) ||
        (unsigned)action >= DD_POLICY_ACTION_COUNT) {
        return DD_POLICY_BAD_PARAMETER;
    }
    for (i = 0; i < count; i++) {
        if (policies[i] == NULL) {
            return DD_POLICY_BAD_PARAMETER;
        }
    }
    memset(&v, 0, sizeof(v));
    if (vars != NULL && vars->client_id != NULL && vars->client_id[0] != '\0') {
        v.client = vars->client_id;
        v.client_len = strlen(v.client);
        v.have |= VAR_CLIENT_ID;
    }
    if (vars != NULL && vars->thing_name != NULL && vars->thing_name[0] != '\0') {
        v.thing = vars->thing_name;
        v.thing_len = strlen(v.thing);
        v.have |= VAR_THING_NAME;
    }
    res_len = strlen(resource);
    /* Every Deny first: explicit deny wins whatever the order of policies. */
    for (e = EFFECT_DENY; e <= EFFECT_ALLOW; e++) {
        for (i = 0; i < count; i++) {
            long s = find_match(policies[i], (int)action, e, resource, res_len, &v);

            if (s >= 0) {
                *decision = e == EFFECT_DENY ? DD_POLICY_DENY_EXPLICIT : DD_POLICY_ALLOW;
                if (match != NULL) {
                    match->policy_index = i;
                    match->statement_index = (size_t)s;
                    match->sid = policies[i]->stmts[s].sid;
                }
                return DD_POLICY_OK;
            }
        }
    }
    return DD_POLICY_OK;
}

/* ==== resource ARNs ========================================================= */

static dd_policy_status_t build_arn(const dd_arn_ctx_t *ctx, const char *type, const char *name,
                                    char *buf, size_t len)
{
    const char *parts[7];
    size_t lens[7];
    size_t total = 0;
    size_t i;
    char *w;

    if (ctx == NULL || name == NULL || buf == NULL || len == 0) {
        return DD_POLICY_BAD_PARAMETER;
    }
    parts[0] = "arn:aws:iot:";
    parts[1] = ctx->region;
    parts[2] = ":";
    parts[3] = ctx->account;
    parts[4] = ":";
    parts[5] = type;
    parts[6] = name;
    for (i = 0; i < 7; i++) {
        lens[i] = strlen(parts[i]);
        total += lens[i];
    }
    if (total >= len) {
        buf[0] = '\0';
        return DD_POLICY_BUFFER_TOO_SMALL;
    }
    w = buf;
    for (i = 0; i < 7; i++) {
        memcpy(w, parts[i], lens[i]);
        w += lens[i];
    }
    *w = '\0';
    return DD_POLICY_OK;
}

dd_policy_status_t dd_policy_client_arn(const dd_arn_ctx_t *ctx, const char *client_id, char *buf,
                                        size_t len)
{
    return build_arn(ctx, "client/", client_id, buf, len);
}

dd_policy_status_t dd_policy_topic_arn(const dd_arn_ctx_t *ctx, const char *topic, char *buf,
                                       size_t len)
{
    return build_arn(ctx, "topic/", topic, buf, len);
}

dd_policy_status_t dd_policy_topicfilter_arn(const dd_arn_ctx_t *ctx, const char *filter, char *buf,
                                             size_t len)
{
    return build_arn(ctx, "topicfilter/", filter, buf, len);
}

dd_policy_status_t dd_policy_resource_arn(const dd_arn_ctx_t *ctx, dd_policy_action_t action,
                                          const char *name, char *buf, size_t len)
{
    switch (action) {
    case DD_POLICY_ACTION_CONNECT: return dd_policy_client_arn(ctx, name, buf, len);
    case DD_POLICY_ACTION_SUBSCRIBE: return dd_policy_topicfilter_arn(ctx, name, buf, len);
    case DD_POLICY_ACTION_PUBLISH:
    case DD_POLICY_ACTION_RECEIVE:
    case DD_POLICY_ACTION_RETAIN_PUBLISH: return dd_policy_topic_arn(ctx, name, buf, len);
    case DD_POLICY_ACTION_COUNT: break;
    }
    return DD_POLICY_BAD_PARAMETER;
}

const char *dd_policy_action_name(dd_policy_action_t action)
{
    return (unsigned)action < DD_POLICY_ACTION_COUNT ? ACTION_NAMES[action] : "?";
}

const char *dd_policy_decision_name(dd_policy_decision_t decision)
{
    switch (decision) {
    case DD_POLICY_DENY_DEFAULT: return "DENY_DEFAULT";
    case DD_POLICY_DENY_EXPLICIT: return "DENY_EXPLICIT";
    case DD_POLICY_ALLOW: return "ALLOW";
    }
    return "?";
}

const char *dd_policy_strerror(dd_policy_status_t status)
{
    switch (status) {
    case DD_POLICY_OK: return "ok";
    case DD_POLICY_BAD_PARAMETER: return "bad parameter";
    case DD_POLICY_MALFORMED: return "malformed policy document";
    case DD_POLICY_UNSUPPORTED: return "policy feature not supported by ddlocal";
    case DD_POLICY_TOO_LARGE: return "policy document too large";
    case DD_POLICY_NO_MEMORY: return "out of memory";
    case DD_POLICY_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown policy status";
}
