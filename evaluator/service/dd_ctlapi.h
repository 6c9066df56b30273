/**
 * @file dd_ctlapi.h
 * @brief ddlocald's own HTTP operations under /ddlocal/v1/ (not AWS's), as
 *        the API hands them over (dd_pipeline_t's extension hook):
 *        GET /ddlocal/v1/clock (the pipeline clock), POST /ddlocal/v1/clock
 *        {"advanceSeconds":N} (first waits for everything the broker
 *        accepted before the call to be counted - the @c barrier - then
 *        moves a manual clock and evaluates before answering) or
 *        {"scale":X} (changes the rate of a real or scaled clock without a
 *        jump, dd_clock_rescale(); @c rescaled makes the rest follow),
 *        POST /ddlocal/v1/reset {"kinds":[...]} (empties all state or the
 *        chosen kinds: dd_reset.h), POST /ddlocal/v1/snapshot and
 *        /ddlocal/v1/restore {"name":N} (the whole state to/from a file),
 *        GET /ddlocal/v1/health (200 when the broker is connected and the
 *        store writes, else 503 with the problems) and GET
 *        /ddlocal/v1/status (the status panel of `ddlocal up`: counters and
 *        the feed of recent events), GET /ddlocal/v1/events (the
 *        long-poll on dd_events.h's log; it waits without the pipeline
 *        lock) and /ddlocal/v1/faults (injected faults, dd_faults.h: POST
 *        adds one, GET lists them, DELETE clears all, ?thing=&kind= or
 *        /faults/ID).
 *
 * The service supplies what only it knows through callbacks (its counters,
 * what an advance must run: the tick, the shim's clock); this module owns
 * the requests' and answers' JSON and the feed (the last
 * DD_CTLAPI_FEED_SIZE events).
 *
 * Lock rule: dd_ctlapi_handle() is called WITHOUT the pipeline lock and
 * takes @c lock itself around reading the clock and calling @c advanced and
 * @c counters; @c wake runs after it released it. dd_ctlapi_feed() is called
 * with the lock held.
 *
 * Ownership: the service owns the dd_ctlapi_t (zeroed, then the members
 * set); answers are malloc'd JSON text the caller frees.
 */
#ifndef DD_CTLAPI_H_
#define DD_CTLAPI_H_

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_clock.h"
#include "dd_datapoints.h"

struct cJSON;
struct dd_events;
struct dd_events_reader;

/** Status codes of this module. */
typedef enum dd_ctlapi_status {
    DD_CTLAPI_OK = 0,
    DD_CTLAPI_BAD_PARAMETER,
    DD_CTLAPI_NO_MEMORY /**< No answer could be built. */
} dd_ctlapi_status_t;

/** Events kept for the status panel. */
#define DD_CTLAPI_FEED_SIZE 32
/** Longest event text, NUL included (longer ones are cut). */
#define DD_CTLAPI_FEED_TEXT 300

/** The service's counters, for GET /ddlocal/v1/status. */
typedef struct dd_ctlapi_counters {
    bool broker_connected;
    uint64_t connected_clients;
    uint64_t reports_accepted;
    uint64_t reports_rejected;
    uint64_t metering_batches;
    int64_t active_violations;
    uint64_t violation_events;
    uint64_t alerts_published;
    uint64_t webhooks_given_up;
    bool store_writable;
    uint64_t messages_held;
    uint64_t store_stalls;
    const char *store_error; /**< Shown while the store does not write; may be NULL. */
} dd_ctlapi_counters_t;

/** One event of the feed. */
typedef struct dd_ctlapi_event {
    uint64_t seq;
    char text[DD_CTLAPI_FEED_TEXT];
} dd_ctlapi_event_t;

/** The extension's state and the service's callbacks. */
typedef struct dd_ctlapi {
    pthread_mutex_t *lock; /**< The pipeline lock. */
    dd_clock_t *clock;     /**< The pipeline clock (advanced under @c lock). */
    void *ctx;             /**< Passed to the callbacks. */
    /**
     * Lock NOT held, before an advance: returns 0 once every message the
     * broker accepted before the call has been processed (the barrier), else
     * non-zero with a reason in @p why. May be NULL (no barrier).
     */
    int (*barrier)(void *ctx, char *why, size_t why_len);
    /** Lock held: the manual clock was just advanced; evaluate before the answer. */
    void (*advanced)(void *ctx);
    /**
     * Lock held: the clock's rate just changed from @p old_scale at pipeline time @p at_ms
     * (POST {"scale":X}); make the broker shim, endpoints.json, what a restart starts from
     * and the event log follow. May be NULL.
     */
    void (*rescaled)(void *ctx, double old_scale, int64_t at_ms);
    /**
     * Lock held: empties @p kinds (DD_RESET_* of app/dd_reset.h) and makes the engine and the
     * shim follow; returns 0, else non-zero with a reason in @p why. May be NULL (404).
     */
    int (*reset)(void *ctx, unsigned kinds, char *why, size_t why_len);
    /**
     * Lock held: saves (@p restore false) or restores the whole state to/from the snapshot
     * @p name (validated: [A-Za-z0-9_-]). Returns 200, 404 (no such snapshot) or 500, with a
     * reason in @p why. May be NULL (404).
     */
    int (*snapshot)(void *ctx, const char *name, bool restore, char *why, size_t why_len);
    /**
     * Lock held: sends the broker shim every registry change not sent yet (a
     * CLI command writes the registry itself) and returns 0 once the shim has
     * it, else non-zero with a reason in @p why. May be NULL (404).
     */
    int (*registry_sync)(void *ctx, char *why, size_t why_len);
    /**
     * Lock NOT held: GET /ddlocal/v1/datapoints - the stored history replayed on a connection
     * of its own (dd_datapoints_run() with JSON lines): @p rows and @p stats receive malloc'd
     * texts. Returns 200, 404 (no such profile or behavior) or 500, with a reason in @p why.
     * May be NULL (404).
     */
    int (*datapoints)(void *ctx, const dd_datapoints_query_t *query, char **rows, char **stats,
                      char *why, size_t why_len);
    /** Lock held: fills the counters. */
    void (*counters)(void *ctx, dd_ctlapi_counters_t *out);
    /**
     * Lock held: adds to @p out (an array) one object per device connection open now
     * (thing, clientId, connectedAt ms, sourceIp); returns 0, else non-zero (500). May be
     * NULL (404).
     */
    int (*connections)(void *ctx, struct cJSON *out);
    /** Lock released, after an advance: send what it produced now. May be NULL. */
    void (*wake)(void *ctx);
    /* The feed: event seq k lives at k % DD_CTLAPI_FEED_SIZE. */
    dd_ctlapi_event_t feed[DD_CTLAPI_FEED_SIZE];
    uint64_t feed_seq;
    /** The event log of GET /ddlocal/v1/events (dd_events.h); NULL = none (404). */
    struct dd_events *events;
    /** The fault table of /ddlocal/v1/faults (dd_faults.h), used under @c lock; NULL = 404. */
    struct dd_faults *faults;
} dd_ctlapi_t;

/**
 * @brief Answers one /ddlocal/ request.
 * @param[in,out] c The extension.
 * @param[in] method "GET", "POST", ...
 * @param[in] target Path, with its "?query" if any (still percent-encoded).
 * @param[in] body Request body, may be NULL.
 * @param[in] body_len Its length.
 * @param[out] http_status 200, 400 (bad body, clock not manual), 404 (unknown operation or
 *             fault), 405 (a method /faults does not answer) or
 *             503 (the barrier failed: the broker is not connected or did not answer; or
 *             health: not healthy).
 * @param[out] response malloc'd JSON text ({"message":...} on an error).
 * @return DD_CTLAPI_OK, DD_CTLAPI_BAD_PARAMETER or DD_CTLAPI_NO_MEMORY.
 */
dd_ctlapi_status_t dd_ctlapi_handle(dd_ctlapi_t *c, const char *method, const char *target,
                                    const char *body, size_t body_len, int *http_status,
                                    char **response);

/**
 * @brief Opens the answers that wait: GET /ddlocal/v1/events/stream (same
 *        query as /events but timeout and limit, which it ignores; chunked
 *        JSON lines) and GET /ddlocal/v1/events with timeout > 0 (a
 *        long-poll reader that yields the one JSON answer). The API serves
 *        the reader and suspends the connection while it has nothing.
 * @param[out] reader The reader (on 200); dd_events_reader_close() it.
 * @param[out] content_type Static, on 200.
 * @param[out] response malloc'd JSON error (on 400 or 500).
 * @return 0 when @p target is neither (answer it with dd_ctlapi_handle()),
 *         200 with a reader, or an error status.
 */
int dd_ctlapi_stream_open(dd_ctlapi_t *c, const char *method, const char *target,
                          struct dd_events_reader **reader, const char **content_type,
                          char **response);

/**
 * @brief Appends an event to the feed (lock held); the oldest is dropped
 *        once DD_CTLAPI_FEED_SIZE are kept.
 * @return DD_CTLAPI_OK or DD_CTLAPI_BAD_PARAMETER.
 */
dd_ctlapi_status_t dd_ctlapi_feed(dd_ctlapi_t *c, const char *text);

/** @return Static text for @p status. */
const char *dd_ctlapi_strerror(dd_ctlapi_status_t status);

#endif /* DD_CTLAPI_H_ */
