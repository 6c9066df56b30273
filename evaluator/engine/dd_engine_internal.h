/**
 * @file dd_engine_internal.h
 * @brief The engine's private data model, shared by the files of the engine
 *        module only: dd_engine.c (evaluation) and dd_engine_state.c (the
 *        binary per-thing state format). Nothing outside evaluator/engine/
 *        includes it; callers use dd_engine.h.
 *
 * Ownership is as in dd_engine.h: the engine owns every profile copy, thing
 * and slot; the functions below follow the same single-thread rule.
 */
#ifndef DD_ENGINE_INTERNAL_H_
#define DD_ENGINE_INTERNAL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_engine.h"
#include "dd_window.h"

/* All durations are multiples of 300 s, so every window closes on a 300-s
 * boundary: the engine looks at windows once per boundary crossed ("pass"). */
#define PASS_MS 300000
/* Longest durationSeconds: device history older than this is never read. */
#define KEEP_MS 3600000
#define ML_DATAPOINTS_NEEDED 25000.0
/* ML Detect: training needs this long since the first datapoint too (AWS: 14 days). */
#define ML_TRAINING_MS (14LL * 24 * 3600 * 1000)
/* The model is refitted once a day of pipeline time (AWS refreshes its models daily). */
#define ML_REFRESH_MS (24LL * 3600 * 1000)
/* Datapoints kept to fit a model: a uniform sample of all of them (reservoir). */
#define ML_SAMPLE_MAX 8192u

/*
 * An ML Detect behavior's model, fleet-wide (docs/reference/evaluation-semantics.md,
 * "ML Detect"): a robust location and scale of the behavior's datapoints, from which a
 * datapoint's modified z-score (x - median) / scale is compared with the confidence level's
 * cut-off.
 */
typedef struct ml_model {
    double *sample; /* reservoir of at most ML_SAMPLE_MAX datapoints */
    uint32_t n;
    uint64_t rng; /* reservoir choices: deterministic per behavior */
    bool active;
    double median;
    double scale;
    int64_t built_ms; /* last fit (lastModelRefreshDate) */
} ml_model_t;

typedef enum item_kind {
    ITEM_STATIC = 0,
    ITEM_STATISTICAL,
    ITEM_ML,
    ITEM_RETAIN,
    ITEM_INERT
} item_kind_t;

/* One compiled behavior, or a retain-only metric (additionalMetricsToRetain*). */
typedef struct item {
    const dd_behavior_t *b; /* NULL for retain-only items */
    char key[DD_PROFILE_NAME_MAX * 2 + 4];
    const char *metric;
    const dd_metric_info_t *info; /* NULL while a custom metric is unknown */
    dd_metric_id_t id;
    bool custom;
    dd_custom_type_t ctype;
    item_kind_t base_kind;
    item_kind_t kind; /* base_kind, or ITEM_INERT while unresolved */
    bool has_dim;
    const char *dim_name;
    dd_dim_op_t dim_op;
    const dd_dimension_def_t *dim;
    dd_criteria_t crit;
    int64_t duration_ms; /* 0: none */
    int to_alarm;
    int to_clear;
    double percentile;
    bool windowed; /* evaluated when a tumbling window closes */
    bool retain;
    bool export_metric;
    bool suppressed;
    uint32_t rk_id; /* retain items: the engine's number for (metric, dimension) */
    uint64_t hash;
    uint64_t ml_datapoints;
    int64_t ml_start_ms;
    ml_model_t ml;
} item_t;

typedef struct cprof {
    dd_profile_t p;
    item_t *items;
    uint32_t nitems;
    bool t_all;
    bool t_reg;
    bool t_unreg;
    size_t ngroups;
    char **groups;
} cprof_t;

typedef struct slot {
    dd_alarm_t alarm;
    double acc;       /* open window's accumulated value */
    int64_t acc_end;  /* its end (0: none) */
    int64_t eval_end; /* last window end evaluated */
    char *vdesc;      /* verificationStateDescription */
} slot_t;

typedef struct pstate {
    cprof_t *prof;
    slot_t *slots;
} pstate_t;

typedef struct thing {
    char *name; /* in the thing's allocation, after the struct */
    uint64_t hash;
    uint32_t index; /* in dd_engine.things (things are never dropped) */
    uint64_t cover_gen;
    bool registered;
    bool event_registered;
    bool connected;
    bool dirty;
    int64_t connect_ms;
    int64_t disconnect_ms;
    int64_t last_device_ms;
    int64_t last_cloud_ms;
    uint64_t id_counter;
    dd_window_t hist;
    pstate_t *ps;
    uint32_t nps;
} thing_t;

typedef struct pending {
    uint32_t prof;
    uint32_t item;
    uint32_t thing;
    int64_t end;
    double value;
} pending_t;

/* A (metric, dimension) pair retained by some item: items share its number (rk_id). */
typedef struct retained_key {
    char *metric;
    char *dim; /* NULL when none */
} retained_key_t;

/* An entry of the things' hash table. */
typedef struct thing_entry {
    uint32_t index1; /* thing index + 1; 0: empty */
    uint32_t tag;    /* high half of the thing's hash */
} thing_entry_t;

struct dd_engine {
    dd_engine_config_t cfg;
    bool has_registry;
    dd_engine_registry_t registry;
    dd_engine_sink_t sink;
    cprof_t **profs;
    size_t nprofs;
    dd_custom_metric_def_t *customs;
    size_t ncustoms;
    dd_dimension_def_t **dims;
    size_t ndims;
    thing_t **things;
    size_t nthings;
    size_t things_cap;
    thing_entry_t *table; /* open addressing */
    size_t table_cap;
    uint64_t cover_gen;
    int64_t now;
    int64_t last_closed; /* last 300-s boundary passed */
    /* No IN_ALARM slot is due for invalidation (now > its last datapoint +
     * invalidate_after_ms) before this time, at least: a pass without windowed items skips
     * the walk over every thing's slots while now is not past it (dd_engine.c, maybe_pass). 0
     * (after an import) makes the next pass walk and compute it again. */
    int64_t inval_due;
    uint32_t *dirty;
    size_t ndirty;
    size_t dirty_cap;
    uint8_t *blob;
    size_t blob_cap;
    char *gbuf; /* registry groups, NUL-separated */
    size_t gbuf_len;
    size_t gbuf_cap;
    size_t ngroups;
    pending_t *pend;
    size_t npend;
    size_t pend_cap;
    double *vals;
    size_t vals_cap;
    retained_key_t *rkeys; /* every pair ever retained, numbered by position */
    size_t nrkeys;
    uint32_t rk[64]; /* the pairs retained for the current datapoint's thing and time */
    size_t nrk;
    bool oom;
};

/** @brief A heap copy of @p s (NULL when out of memory). */
char *dd_engine_dup_str(const char *s);

/**
 * @brief Grows @p *arr (elements of @p elem bytes) to hold at least @p need,
 *        doubling from 16.
 * @return false when out of memory (@p *arr is unchanged).
 */
bool dd_engine_grow_array(void **arr, size_t *cap, size_t need, size_t elem);

/** @return The state of @p name, created when new (NULL when out of memory). */
thing_t *dd_engine_get_thing(dd_engine_t *e, const char *name);

/** @return The compiled profile @p name (its position in @p index if not NULL), or NULL. */
cprof_t *dd_engine_find_prof(const dd_engine_t *e, const char *name, size_t *index);

/** @brief Frees the slots of one thing x profile state. */
void dd_engine_free_pstate(pstate_t *ps);

/**
 * @brief Writes @p t's state blob (dd_engine_state.c) into the engine's
 *        reusable buffer e->blob.
 * @return Its length, or 0 when out of memory.
 */
size_t dd_engine_state_write(dd_engine_t *e, const thing_t *t);

#endif /* DD_ENGINE_INTERNAL_H_ */
