#include "dd_shimreg.h"

#include "dd_db.h"
#include "dd_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* ---- entity memory ---------------------------------------------------------- */

static void names_free(dd_shimreg_names_t *n)
{
    size_t i;

    for (i = 0; i < n->count; i++) {
        free(n->items[i]);
    }
    free(n->items);
    n->items = NULL;
    n->count = 0;
}

static void entity_free(dd_registry_kind_t kind, void *e)
{
    if (e == NULL) {
        return;
    }
    switch (kind) {
    case DD_REGISTRY_KIND_THING: names_free(&((dd_shimreg_thing_t *)e)->groups); break;
    case DD_REGISTRY_KIND_CERT:
        names_free(&((dd_shimreg_cert_t *)e)->things);
        names_free(&((dd_shimreg_cert_t *)e)->policies);
        break;
    case DD_REGISTRY_KIND_GROUP:
        free(((dd_shimreg_group_t *)e)->parent);
        names_free(&((dd_shimreg_group_t *)e)->policies);
        break;
    case DD_REGISTRY_KIND_POLICY: dd_policy_free(((dd_shimreg_policy_t *)e)->compiled); break;
    case DD_REGISTRY_KIND_COUNT: break;
    }
    free(e);
}

/* ---- parsing entity states ---------------------------------------------------- */

/* A missing list is an empty one; anything else must be an array of valid names. */
static dd_shimreg_status_t parse_names(const cJSON *state, const char *field, dd_name_kind_t kind,
                                       dd_shimreg_names_t *out, const char *what, char *err,
                                       size_t err_len)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(state, field);
    const cJSON *item;
    size_t n;
    size_t i = 0;

    out->items = NULL;
    out->count = 0;
    if (arr == NULL || cJSON_IsNull(arr)) {
        return DD_SHIMREG_OK;
    }
    if (!cJSON_IsArray(arr)) {
        set_err(err, err_len, "%s: \"%s\" must be a list of names", what, field);
        return DD_SHIMREG_INVALID;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0) {
        return DD_SHIMREG_OK;
    }
    out->items = calloc(n, sizeof(char *));
    if (out->items == NULL) {
        return DD_SHIMREG_NO_MEMORY;
    }
    cJSON_ArrayForEach (item, arr) {
        if (!cJSON_IsString(item) || !dd_name_valid(kind, item->valuestring)) {
            set_err(err, err_len, "%s: \"%s\"[%zu] is not a valid %s name", what, field, i,
                    dd_name_noun(kind));
            out->count = i;
            names_free(out);
            return DD_SHIMREG_INVALID;
        }
        out->items[i] = strdup(item->valuestring);
        if (out->items[i] == NULL) {
            out->count = i;
            names_free(out);
            return DD_SHIMREG_NO_MEMORY;
        }
        i++;
    }
    out->count = i;
    return DD_SHIMREG_OK;
}

static dd_shimreg_status_t parse_thing(const cJSON *state, const char *what, void **out, char *err,
                                       size_t err_len)
{
    dd_shimreg_thing_t *t = calloc(1, sizeof(*t));
    dd_shimreg_status_t st;

    if (t == NULL) {
        return DD_SHIMREG_NO_MEMORY;
    }
    st = parse_names(state, "groups", DD_NAME_THING_GROUP, &t->groups, what, err, err_len);
    if (st != DD_SHIMREG_OK) {
        entity_free(DD_REGISTRY_KIND_THING, t);
        return st;
    }
    *out = t;
    return DD_SHIMREG_OK;
}

static dd_shimreg_status_t parse_cert(const cJSON *state, const char *what, void **out, char *err,
                                      size_t err_len)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(state, "status");
    const cJSON *service = cJSON_GetObjectItemCaseSensitive(state, "service");
    dd_shimreg_cert_t *c;
    dd_shimreg_status_t st;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DD_SHIMREG_NO_MEMORY;
    }
    if (!cJSON_IsString(status) || !dd_cert_status_parse(status->valuestring, &c->status)) {
        set_err(err, err_len,
                "%s: \"status\" must be ACTIVE, INACTIVE, REVOKED or "
                "PENDING_ACTIVATION",
                what);
        entity_free(DD_REGISTRY_KIND_CERT, c);
        return DD_SHIMREG_INVALID;
    }
    if (service != NULL && !cJSON_IsBool(service)) {
        set_err(err, err_len, "%s: \"service\" must be a boolean", what);
        entity_free(DD_REGISTRY_KIND_CERT, c);
        return DD_SHIMREG_INVALID;
    }
    c->service = cJSON_IsTrue(service);
    st = parse_names(state, "things", DD_NAME_THING, &c->things, what, err, err_len);
    if (st == DD_SHIMREG_OK) {
        st = parse_names(state, "policies", DD_NAME_POLICY, &c->policies, what, err, err_len);
    }
    if (st != DD_SHIMREG_OK) {
        entity_free(DD_REGISTRY_KIND_CERT, c);
        return st;
    }
    *out = c;
    return DD_SHIMREG_OK;
}

static dd_shimreg_status_t parse_group(const cJSON *state, const char *name, const char *what,
                                       void **out, char *err, size_t err_len)
{
    const cJSON *parent = cJSON_GetObjectItemCaseSensitive(state, "parent");
    dd_shimreg_group_t *g;
    dd_shimreg_status_t st;

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return DD_SHIMREG_NO_MEMORY;
    }
    if (parent != NULL && !cJSON_IsNull(parent) &&
        !(cJSON_IsString(parent) && (parent->valuestring[0] == '\0' ||
                                     dd_name_valid(DD_NAME_THING_GROUP, parent->valuestring)))) {
        set_err(err, err_len, "%s: \"parent\" must be a group name or null", what);
        entity_free(DD_REGISTRY_KIND_GROUP, g);
        return DD_SHIMREG_INVALID;
    }
    if (cJSON_IsString(parent) && parent->valuestring[0] != '\0') {
        if (strcmp(parent->valuestring, name) == 0) {
            set_err(err, err_len, "%s: a group cannot be its own parent", what);
            entity_free(DD_REGISTRY_KIND_GROUP, g);
            return DD_SHIMREG_INVALID;
        }
        g->parent = strdup(parent->valuestring);
        if (g->parent == NULL) {
            entity_free(DD_REGISTRY_KIND_GROUP, g);
            return DD_SHIMREG_NO_MEMORY;
        }
    }
    st = parse_names(state, "policies", DD_NAME_POLICY, &g->policies, what, err, err_len);
    if (st != DD_SHIMREG_OK) {
        entity_free(DD_REGISTRY_KIND_GROUP, g);
        return st;
    }
    *out = g;
    return DD_SHIMREG_OK;
}

static dd_shimreg_status_t parse_policy(const cJSON *state, const char *what, void **out, char *err,
                                        size_t err_len)
{
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(state, "document");
    dd_shimreg_policy_t *p;
    char perr[DD_POLICY_ERROR_MAX];
    dd_policy_status_t ps;

    if (!cJSON_IsString(doc)) {
        set_err(err, err_len, "%s: \"document\" must be the policy document as a string", what);
        return DD_SHIMREG_INVALID;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return DD_SHIMREG_NO_MEMORY;
    }
    perr[0] = '\0';
    ps = dd_policy_parse(doc->valuestring, strlen(doc->valuestring), &p->compiled, perr,
                         sizeof(perr));
    if (ps != DD_POLICY_OK) {
        set_err(err, err_len, "%s: %s", what, perr[0] != '\0' ? perr : dd_policy_strerror(ps));
        free(p);
        return ps == DD_POLICY_NO_MEMORY ? DD_SHIMREG_NO_MEMORY : DD_SHIMREG_INVALID;
    }
    *out = p;
    return DD_SHIMREG_OK;
}

/* Parses one update; *out is NULL for {"exists":false}. */
static dd_shimreg_status_t parse_update(const dd_shimreg_update_t *u, void **out, char *err,
                                        size_t err_len)
{
    const cJSON *exists;
    char what[DD_NAME_MAX + 32];

    *out = NULL;
    if ((unsigned)u->kind >= DD_REGISTRY_KIND_COUNT || u->name == NULL) {
        set_err(err, err_len, "bad entity kind or name");
        return DD_SHIMREG_INVALID;
    }
    (void)snprintf(what, sizeof(what), "%s %s", dd_registry_kind_name(u->kind), u->name);
    if (!cJSON_IsObject(u->state)) {
        set_err(err, err_len, "%s: the state must be a JSON object", what);
        return DD_SHIMREG_INVALID;
    }
    exists = cJSON_GetObjectItemCaseSensitive(u->state, "exists");
    if (!cJSON_IsBool(exists)) {
        set_err(err, err_len, "%s: \"exists\" must be a boolean", what);
        return DD_SHIMREG_INVALID;
    }
    if (cJSON_IsFalse(exists)) {
        return DD_SHIMREG_OK;
    }
    switch (u->kind) {
    case DD_REGISTRY_KIND_THING: return parse_thing(u->state, what, out, err, err_len);
    case DD_REGISTRY_KIND_CERT: return parse_cert(u->state, what, out, err, err_len);
    case DD_REGISTRY_KIND_GROUP: return parse_group(u->state, u->name, what, out, err, err_len);
    case DD_REGISTRY_KIND_POLICY: return parse_policy(u->state, what, out, err, err_len);
    case DD_REGISTRY_KIND_COUNT: break;
    }
    return DD_SHIMREG_INVALID;
}

/* ---- public API ----------------------------------------------------------------- */

void dd_shimreg_init(dd_shimreg_t *reg)
{
    int k;

    if (reg == NULL) {
        return;
    }
    for (k = 0; k < DD_REGISTRY_KIND_COUNT; k++) {
        dd_map_init(&reg->maps[k]);
    }
    reg->generation = 1;
}

static void clear_kind(dd_shimreg_t *reg, dd_registry_kind_t kind)
{
    size_t cursor = 0;
    const char *key;
    void *value;

    while (dd_map_next(&reg->maps[kind], &cursor, &key, &value)) {
        entity_free(kind, value);
    }
    dd_map_destroy(&reg->maps[kind]);
    dd_map_init(&reg->maps[kind]);
}

void dd_shimreg_destroy(dd_shimreg_t *reg)
{
    int k;

    if (reg == NULL) {
        return;
    }
    for (k = 0; k < DD_REGISTRY_KIND_COUNT; k++) {
        clear_kind(reg, (dd_registry_kind_t)k);
        dd_map_destroy(&reg->maps[k]);
    }
}

dd_shimreg_status_t dd_shimreg_apply(dd_shimreg_t *reg, const dd_shimreg_update_t *updates,
                                     size_t count, unsigned flags, char *err, size_t err_len)
{
    void **parsed;
    bool *skip;
    size_t i;
    int k;
    dd_shimreg_status_t st = DD_SHIMREG_OK;

    set_err(err, err_len, "%s", "");
    if (reg == NULL || (updates == NULL && count > 0)) {
        return DD_SHIMREG_BAD_PARAMETER;
    }
    parsed = calloc(count > 0 ? count : 1, sizeof(void *));
    skip = calloc(count > 0 ? count : 1, sizeof(bool));
    if (parsed == NULL || skip == NULL) {
        free(parsed);
        free(skip);
        return DD_SHIMREG_NO_MEMORY;
    }
    /* Phase 1: parse everything; nothing changes yet. */
    for (i = 0; i < count; i++) {
        char one[DD_POLICY_ERROR_MAX + DD_NAME_MAX + 64];

        st = parse_update(&updates[i], &parsed[i], one, sizeof(one));
        if (st == DD_SHIMREG_INVALID && (flags & DD_SHIMREG_LENIENT) != 0) {
            DD_LOG_WARN("registry: skipping %s", one);
            skip[i] = true;
            st = DD_SHIMREG_OK;
            continue;
        }
        if (st != DD_SHIMREG_OK) {
            set_err(err, err_len, "%s", one);
            break;
        }
    }
    if (st != DD_SHIMREG_OK) {
        for (i = 0; i < count; i++) {
            entity_free(updates[i].kind, parsed[i]);
        }
        free(parsed);
        free(skip);
        return st;
    }
    /* Phase 2: swap in. */
    if ((flags & DD_SHIMREG_FULL) != 0) {
        for (k = 0; k < DD_REGISTRY_KIND_COUNT; k++) {
            clear_kind(reg, (dd_registry_kind_t)k);
        }
    }
    for (i = 0; i < count; i++) {
        dd_map_t *map;
        void *old = NULL;

        if (skip[i]) {
            continue;
        }
        map = &reg->maps[updates[i].kind];
        if (parsed[i] == NULL) {
            if (dd_map_remove(map, updates[i].name, &old) == DD_MAP_OK) {
                entity_free(updates[i].kind, old);
            }
            continue;
        }
        if (dd_map_put(map, updates[i].name, parsed[i], &old) != DD_MAP_OK) {
            /* Only on allocation failure; what was applied so far stays. */
            DD_LOG_ERROR("registry: out of memory applying %s %s",
                         dd_registry_kind_name(updates[i].kind), updates[i].name);
            entity_free(updates[i].kind, parsed[i]);
            st = DD_SHIMREG_NO_MEMORY;
            continue;
        }
        entity_free(updates[i].kind, old);
    }
    free(parsed);
    free(skip);
    reg->generation++;
    return st;
}

/* ---- loading from the database ------------------------------------------------------ */

typedef struct load_ctx {
    dd_registry_t *src;
    dd_registry_kind_t kind;
    dd_shimreg_update_t *updates;
    cJSON **states;
    size_t count;
    size_t cap;
    bool failed;
} load_ctx_t;

static int load_name_cb(void *ctx, const char *name)
{
    load_ctx_t *l = ctx;
    cJSON *state = NULL;
    char *copy;

    if (l->count == l->cap) {
        size_t ncap = l->cap == 0 ? 64 : l->cap * 2;
        dd_shimreg_update_t *nu = realloc(l->updates, ncap * sizeof(*nu));
        cJSON **ns;

        if (nu == NULL) {
            l->failed = true;
            return 1;
        }
        l->updates = nu;
        ns = realloc(l->states, ncap * sizeof(*ns));
        if (ns == NULL) {
            l->failed = true;
            return 1;
        }
        l->states = ns;
        l->cap = ncap;
    }
    if (dd_registry_entity_json(l->src, l->kind, name, &state) != DD_REGISTRY_OK || state == NULL) {
        cJSON_Delete(state);
        l->failed = true;
        return 1;
    }
    copy = strdup(name);
    if (copy == NULL) {
        cJSON_Delete(state);
        l->failed = true;
        return 1;
    }
    l->updates[l->count].kind = l->kind;
    l->updates[l->count].name = copy;
    l->updates[l->count].state = state;
    l->states[l->count] = state;
    l->count++;
    return 0;
}

dd_shimreg_status_t dd_shimreg_load(dd_shimreg_t *reg, dd_registry_t *src, char *err,
                                    size_t err_len)
{
    load_ctx_t l;
    dd_shimreg_status_t st = DD_SHIMREG_OK;
    size_t i;
    int k;

    set_err(err, err_len, "%s", "");
    if (reg == NULL || src == NULL) {
        return DD_SHIMREG_BAD_PARAMETER;
    }
    memset(&l, 0, sizeof(l));
    l.src = src;
    for (k = 0; k < DD_REGISTRY_KIND_COUNT && !l.failed; k++) {
        l.kind = (dd_registry_kind_t)k;
        if (dd_registry_entity_names(src, l.kind, load_name_cb, &l) != DD_REGISTRY_OK) {
            l.failed = true;
        }
    }
    if (l.failed) {
        set_err(err, err_len, "cannot read the registry");
        st = DD_SHIMREG_STORE_ERROR;
    } else {
        st = dd_shimreg_apply(reg, l.updates, l.count, DD_SHIMREG_FULL | DD_SHIMREG_LENIENT, err,
                              err_len);
    }
    for (i = 0; i < l.count; i++) {
        free((char *)l.updates[i].name);
        cJSON_Delete(l.states[i]);
    }
    free(l.updates);
    free(l.states);
    return st;
}

dd_shimreg_status_t dd_shimreg_load_file(dd_shimreg_t *reg, const char *db_path, char *err,
                                         size_t err_len)
{
    sqlite3 *db = NULL;
    dd_registry_t src;
    dd_clock_t clock;
    dd_shimreg_status_t st;

    if (reg == NULL || db_path == NULL) {
        return DD_SHIMREG_BAD_PARAMETER;
    }
    if (dd_db_open(db_path, true, &db) != DD_DB_OK) {
        set_err(err, err_len, "cannot open %s read-only", db_path);
        return DD_SHIMREG_STORE_ERROR;
    }
    /* A read-only handle cannot run dd_registry_open()'s migrations; the
     * entity queries only need the handle, so the struct is filled here. */
    (void)dd_clock_init_real(&clock);
    memset(&src, 0, sizeof(src));
    src.db = db;
    dd_arn_ctx_default(&src.arn);
    src.clock = &clock;
    st = dd_shimreg_load(reg, &src, err, err_len);
    dd_db_close(db);
    return st;
}

/* ---- lookups ----------------------------------------------------------------------- */

uint64_t dd_shimreg_generation(const dd_shimreg_t *reg)
{
    return reg != NULL ? reg->generation : 0;
}

static void *lookup(const dd_shimreg_t *reg, dd_registry_kind_t kind, const char *name)
{
    if (reg == NULL || name == NULL) {
        return NULL;
    }
    return dd_map_get(&reg->maps[kind], name);
}

const dd_shimreg_cert_t *dd_shimreg_cert(const dd_shimreg_t *reg, const char *cert_id)
{
    return lookup(reg, DD_REGISTRY_KIND_CERT, cert_id);
}

const dd_shimreg_thing_t *dd_shimreg_thing(const dd_shimreg_t *reg, const char *name)
{
    return lookup(reg, DD_REGISTRY_KIND_THING, name);
}

const dd_shimreg_group_t *dd_shimreg_group(const dd_shimreg_t *reg, const char *name)
{
    return lookup(reg, DD_REGISTRY_KIND_GROUP, name);
}

const dd_policy_t *dd_shimreg_policy(const dd_shimreg_t *reg, const char *name)
{
    const dd_shimreg_policy_t *p = lookup(reg, DD_REGISTRY_KIND_POLICY, name);

    return p != NULL ? p->compiled : NULL;
}

size_t dd_shimreg_count(const dd_shimreg_t *reg, dd_registry_kind_t kind)
{
    if (reg == NULL || (unsigned)kind >= DD_REGISTRY_KIND_COUNT) {
        return 0;
    }
    return dd_map_count(&reg->maps[kind]);
}

/* A growable list of policy names, each at most once. */
typedef struct name_set {
    const char **items;
    size_t count;
    size_t cap;
} name_set_t;

static bool set_add(name_set_t *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->count; i++) {
        if (strcmp(s->items[i], name) == 0) {
            return true;
        }
    }
    if (s->count == s->cap) {
        size_t ncap = s->cap == 0 ? 8 : s->cap * 2;
        const char **n = realloc(s->items, ncap * sizeof(*n));

        if (n == NULL) {
            return false;
        }
        s->items = n;
        s->cap = ncap;
    }
    s->items[s->count++] = name;
    return true;
}

static bool set_add_all(name_set_t *s, const dd_shimreg_names_t *names)
{
    size_t i;

    for (i = 0; i < names->count; i++) {
        if (!set_add(s, names->items[i])) {
            return false;
        }
    }
    return true;
}

dd_shimreg_status_t dd_shimreg_policies_for(const dd_shimreg_t *reg, const char *cert_id,
                                            const char *thing, const dd_policy_t ***out,
                                            size_t *count)
{
    const dd_shimreg_cert_t *cert;
    const dd_shimreg_thing_t *t;
    name_set_t names = {NULL, 0, 0};
    const dd_policy_t **arr = NULL;
    size_t n = 0;
    size_t i;
    bool ok = true;

    if (reg == NULL || cert_id == NULL || out == NULL || count == NULL) {
        return DD_SHIMREG_BAD_PARAMETER;
    }
    *out = NULL;
    *count = 0;
    cert = dd_shimreg_cert(reg, cert_id);
    if (cert != NULL) {
        ok = set_add_all(&names, &cert->policies);
    }
    t = thing != NULL && thing[0] != '\0' ? dd_shimreg_thing(reg, thing) : NULL;
    for (i = 0; ok && t != NULL && i < t->groups.count; i++) {
        const char *gname = t->groups.items[i];
        int depth;

        /* Walk up to the root; the depth bound also stops a cycle that a
         * sequence of updates could create. */
        for (depth = 0; ok && gname != NULL && depth < DD_SHIMREG_MAX_DEPTH; depth++) {
            const dd_shimreg_group_t *g = dd_shimreg_group(reg, gname);

            if (g == NULL) {
                break;
            }
            ok = set_add_all(&names, &g->policies);
            gname = g->parent;
        }
    }
    if (ok && names.count > 0) {
        arr = malloc(names.count * sizeof(*arr));
        ok = arr != NULL;
        for (i = 0; ok && i < names.count; i++) {
            const dd_policy_t *p = dd_shimreg_policy(reg, names.items[i]);

            if (p != NULL) {
                arr[n++] = p;
            }
        }
    }
    free(names.items);
    if (!ok) {
        free(arr);
        return DD_SHIMREG_NO_MEMORY;
    }
    if (n == 0) {
        free(arr);
        arr = NULL;
    }
    *out = arr;
    *count = n;
    return DD_SHIMREG_OK;
}

bool dd_shimreg_thing_in_group(const dd_shimreg_t *reg, const char *thing, const char *group)
{
    const dd_shimreg_thing_t *t = dd_shimreg_thing(reg, thing);
    size_t i;

    if (t == NULL || group == NULL) {
        return false;
    }
    for (i = 0; i < t->groups.count; i++) {
        const char *gname = t->groups.items[i];
        int depth;

        for (depth = 0; gname != NULL && depth < DD_SHIMREG_MAX_DEPTH; depth++) {
            const dd_shimreg_group_t *g;

            if (strcmp(gname, group) == 0) {
                return true;
            }
            g = dd_shimreg_group(reg, gname);
            gname = g != NULL ? g->parent : NULL;
        }
    }
    return false;
}

const char *dd_shimreg_strerror(dd_shimreg_status_t status)
{
    switch (status) {
    case DD_SHIMREG_OK: return "success";
    case DD_SHIMREG_BAD_PARAMETER: return "bad parameter";
    case DD_SHIMREG_INVALID: return "invalid entity";
    case DD_SHIMREG_NOT_FOUND: return "not found";
    case DD_SHIMREG_NO_MEMORY: return "out of memory";
    case DD_SHIMREG_STORE_ERROR: return "registry read failed";
    }
    return "unknown status";
}
