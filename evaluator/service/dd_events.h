/**
 * @file dd_events.h
 * @brief ddlocald's event log for waiting and watching: an in-memory ring of
 *        structured events (one JSON object each) numbered by a sequence that
 *        only grows - reports accepted or rejected (with the reason),
 *        datapoints, violation events, alerts and their deliveries, group
 *        moves, injected faults that fired. GET /ddlocal/v1/events
 *        (dd_ctlapi) reads it with a long-poll, `ddlocal wait` and
 *        `ddlocal events` call that.
 *
 * The service feeds it with one-line calls where things happen
 * (dd_events_report(), dd_events_violation(), ...); readers ask for the
 * events after a sequence number that match a filter and may wait for the
 * first one. The ring keeps the last @c capacity events: a reader that fell
 * behind is told how many it missed.
 *
 * Threads: every function may be called from any thread; the log has its own
 * mutex and condition variable and never takes the pipeline lock, so feeding
 * it with the pipeline lock held and waiting without it cannot deadlock.
 * Over HTTP nothing blocks: the API serves a long-poll or a stream from a
 * reader (dd_events_poll_open(), dd_events_reader_open()) and suspends the
 * connection until the reader's notification (an event, the deadline from
 * the log's timer thread, the close). dd_events_query() itself blocks its
 * caller (dd_api_call() without HTTP); at most @c max_waiters wait in it at
 * once, a query over that cap is answered at once with "busy": true.
 *
 * Ownership: dd_events_create() returns a log freed by dd_events_destroy()
 * (after dd_events_close() woke the waiters and they returned). Answers are
 * malloc'd JSON text the caller frees.
 */
#ifndef DD_EVENTS_H_
#define DD_EVENTS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/** Status codes of this module. */
typedef enum dd_events_status {
    DD_EVENTS_OK = 0,
    DD_EVENTS_BAD_PARAMETER,
    DD_EVENTS_NO_MEMORY,
    DD_EVENTS_CLOSED /**< dd_events_close() was called: no more waiting. */
} dd_events_status_t;

/** Events kept by ddlocald. */
#define DD_EVENTS_CAPACITY 4096
/** Readers waiting at once in ddlocald (the API has DD_API_THREADS = 4 threads). */
#define DD_EVENTS_MAX_WAITERS 2
/** Longest wait of one query, ms (under the CLI's 30 s HTTP timeout and the API's idle one). */
#define DD_EVENTS_MAX_WAIT_MS 20000
/** Most events in one answer. */
#define DD_EVENTS_MAX_LIMIT 1000
/** Longest filter value (thing, profile and group names are at most 128). */
#define DD_EVENTS_NAME_MAX 128

/** The event log (opaque). */
typedef struct dd_events dd_events_t;

/** What a reader asks for. Zeroed = every event after 0, no waiting, DD_EVENTS_MAX_LIMIT. */
typedef struct dd_events_query {
    uint64_t after;     /**< Events with a larger sequence number. */
    int64_t timeout_ms; /**< Wait at most this long for the first match (0: do not wait). */
    size_t limit;       /**< Most events returned; 0 = DD_EVENTS_MAX_LIMIT. */
    const char *types;  /**< Comma-separated types ("violation,alert"), NULL = all. */
    const char *thing;  /**< Only this thing's events; NULL = all. */
    const char *profile;
    const char *group;
} dd_events_query_t;

/**
 * @brief Creates an event log.
 * @param[in] capacity Events kept (> 0).
 * @param[in] max_waiters Readers that may wait at once.
 * @param[out] out New log.
 * @return DD_EVENTS_OK, DD_EVENTS_BAD_PARAMETER or DD_EVENTS_NO_MEMORY.
 */
dd_events_status_t dd_events_create(size_t capacity, unsigned max_waiters, dd_events_t **out);

/** @brief Wakes every waiter and refuses new waits (they answer at once). NULL is ignored. */
void dd_events_close(dd_events_t *ev);

/** @brief Frees the log; no reader may be inside it. NULL is ignored. */
void dd_events_destroy(dd_events_t *ev);

/**
 * @brief Appends an event and wakes the readers.
 * @param[in] ev Log (NULL: the call does nothing, so callers need no check).
 * @param[in] time_ms Pipeline time of the event.
 * @param[in] type "report", "datapoint", "violation", "alert", "delivery", "group", ...
 * @param[in] fields Object with the event's members (taken; NULL = none). Its
 *                   "thing", "profile" and "group" strings are what filters match.
 * @return DD_EVENTS_OK, DD_EVENTS_BAD_PARAMETER or DD_EVENTS_NO_MEMORY (the event is lost).
 */
dd_events_status_t dd_events_add(dd_events_t *ev, int64_t time_ms, const char *type, cJSON *fields);

/** @brief A report was accepted, or rejected with @p code and @p message (both NULL if accepted). */
void dd_events_report(dd_events_t *ev, int64_t time_ms, const char *thing, bool accepted,
                      const char *code, const char *message);

/**
 * @brief A violation event (@p event_type "in-alarm", "alarm-cleared", ...);
 *        @p value (taken, may be NULL) is the AWS metricValue object.
 */
void dd_events_violation(dd_events_t *ev, int64_t time_ms, const char *event_type,
                         const char *thing, const char *profile, const char *behavior, cJSON *value,
                         bool suppressed);

/**
 * @brief An alert was published on an SNS stand-in topic; @p message (may be NULL) is the SNS
 *        message body (the alert JSON, as a string), so that readers of the log see what the
 *        topic's subscribers got.
 */
void dd_events_alert(dd_events_t *ev, int64_t time_ms, const char *event_type, const char *thing,
                     const char *profile, const char *behavior, const char *topic,
                     const char *message);

/** @brief A webhook or Lambda delivery ended: delivered, or given up with @p error. */
void dd_events_delivery(dd_events_t *ev, int64_t time_ms, const char *kind, const char *topic,
                        const char *endpoint, bool delivered, int attempts, const char *error);

/** @brief A thing was added to (@p added) or removed from a thing group. */
void dd_events_group(dd_events_t *ev, int64_t time_ms, const char *thing, const char *group,
                     bool added);

/**
 * @brief A fault fired (dd_faults.h, type "fault"): @p outcome says what it did ("throttled",
 *        "delayed", "no-reply", "disconnected", "dropped", "failed"), @p delay_ms (> 0) how
 *        late, @p detail (may be NULL) what it acted on (a reply or alert topic, an action).
 */
void dd_events_fault(dd_events_t *ev, int64_t time_ms, uint64_t fault_id, const char *kind,
                     const char *thing, const char *outcome, int64_t delay_ms, const char *detail);

/**
 * @brief The broker refused something (type "enforcement", from the shim's
 *        metering): @p action "iot:Connect", "iot:Publish", "iot:Subscribe" or "iot:Receive",
 *        @p reason why (dd_metering_reason_name(): "policy", "certificate-not-active",
 *        "revoked", ...), @p subject the topic, topic filter or client id
 *        (may be NULL). @p thing is the thing name, or the client id of an
 *        unregistered client (@p registered false).
 */
void dd_events_enforcement(dd_events_t *ev, int64_t time_ms, const char *thing, bool registered,
                           const char *action, const char *reason, const char *subject);

/** @brief A metric value the engine retained; @p value (taken) is the AWS metricValue. */
void dd_events_datapoint(dd_events_t *ev, int64_t time_ms, const char *thing, const char *metric,
                         cJSON *value);

/**
 * @brief Answers a reader: the events after q->after that match, waiting up
 *        to q->timeout_ms for the first one (without any other lock).
 * @param[in] ev Log.
 * @param[in] q Query.
 * @param[out] json malloc'd {"events":[...],"lastSeq":N,"missed":M,"busy":B}:
 *             lastSeq is the sequence to pass as @c after next time (the
 *             newest event looked at, matching or not), missed how many
 *             events after q->after the ring no longer holds, busy that the
 *             waiter cap answered without waiting.
 * @return DD_EVENTS_OK, DD_EVENTS_BAD_PARAMETER or DD_EVENTS_NO_MEMORY.
 */
dd_events_status_t dd_events_query(dd_events_t *ev, const dd_events_query_t *q, char **json);

/** A stream reader of the log (GET /ddlocal/v1/events/stream; opaque). */
typedef struct dd_events_reader dd_events_reader_t;

/**
 * @brief Opens a reader that returns the matching events after q->after as
 *        JSON lines (q->timeout_ms and q->limit are ignored; the filter
 *        strings are copied). A reader that fell behind the ring reads a
 *        line {"missed":N} first.
 * @return DD_EVENTS_OK, DD_EVENTS_BAD_PARAMETER or DD_EVENTS_NO_MEMORY.
 */
dd_events_status_t dd_events_reader_open(dd_events_t *ev, const dd_events_query_t *q,
                                         dd_events_reader_t **out);

/**
 * @brief Opens a long-poll reader: it reads nothing (0) until an event after
 *        q->after matches, events were dropped, q->timeout_ms passed or the
 *        log closed, then the whole answer of dd_events_query() (busy is
 *        false), then -1. Its notification fires at the deadline too (the
 *        log's timer thread), so the API can suspend the connection instead
 *        of holding a thread: there is no waiter cap on this path.
 * @return DD_EVENTS_OK, DD_EVENTS_BAD_PARAMETER or DD_EVENTS_NO_MEMORY.
 */
dd_events_status_t dd_events_poll_open(dd_events_t *ev, const dd_events_query_t *q,
                                       dd_events_reader_t **out);

/**
 * @brief Copies up to @p max bytes of the next lines into @p buf, never waiting.
 * @return Bytes copied, 0 when there is nothing now, -1 once the log is closed.
 */
long dd_events_reader_read(dd_events_reader_t *r, char *buf, size_t max);

/**
 * @brief Calls @p ready(@p arg) once, from the thread that adds the next
 *        event (with the log's lock held: @p ready must only signal), or at
 *        once when the reader has something already or the log is closed.
 */
void dd_events_reader_notify(dd_events_reader_t *r, void (*ready)(void *arg), void *arg);

/** @brief Closes a reader; no notification is called after it returns. NULL is ignored. */
void dd_events_reader_close(dd_events_reader_t *r);

/** @return The sequence number of the newest event (0 before the first). */
uint64_t dd_events_last_seq(dd_events_t *ev);

/** @return Static text for @p status. */
const char *dd_events_strerror(dd_events_status_t status);

#endif /* DD_EVENTS_H_ */
