/**
 * @file dd_outbox.h
 * @brief Publications and webhook posts waiting for their transaction to
 *        commit.
 *
 * "Accepted means durable": a reply, an SNS alert or a webhook post may only
 * leave ddlocald after the transaction that produced it has committed. Code
 * running inside a transaction appends to the outbox; on commit the caller
 * drains it, on rollback it truncates back to the mark taken at BEGIN.
 *
 * Ownership: entries copy their strings and payloads; dd_outbox_take()
 * hands the list to the caller, who frees it with dd_outbox_entries_free().
 * Thread-safe (an internal mutex), though in ddlocald every producer also
 * holds the pipeline lock.
 */
#ifndef DD_OUTBOX_H_
#define DD_OUTBOX_H_

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_outbox_status {
    DD_OUTBOX_OK = 0,
    DD_OUTBOX_BAD_PARAMETER,
    DD_OUTBOX_NO_MEMORY
} dd_outbox_status_t;

/** What to do with an entry. */
typedef enum dd_outbox_kind {
    DD_OUTBOX_PUBLISH = 0, /**< MQTT publish of payload on target (a topic). */
    DD_OUTBOX_WEBHOOK,     /**< HTTP POST of payload to target (a URL); topic = SNS topic name. */
    DD_OUTBOX_LAMBDA       /**< Invocation of target (a function ARN) with payload (the event). */
} dd_outbox_kind_t;

/** One pending entry. */
typedef struct dd_outbox_entry {
    struct dd_outbox_entry *next;
    dd_outbox_kind_t kind;
    char *target;     /**< Topic or URL. */
    char *sns_topic;  /**< WEBHOOK, LAMBDA: SNS topic name, for dead letters. */
    uint8_t *payload; /**< NUL-terminated copy. */
    size_t len;
    int qos;
    int64_t delay_ms; /**< Wall ms to hold it after the commit (fault injection); 0 = none. */
} dd_outbox_entry_t;

/** An outbox. Initialise with dd_outbox_init(). */
typedef struct dd_outbox {
    pthread_mutex_t lock;
    dd_outbox_entry_t *head;
    dd_outbox_entry_t *tail;
    size_t count;
} dd_outbox_t;

/** @brief Initialises an empty outbox. */
void dd_outbox_init(dd_outbox_t *box);

/** @brief Frees every entry and the mutex. */
void dd_outbox_destroy(dd_outbox_t *box);

/** @brief Appends an MQTT publication. */
dd_outbox_status_t dd_outbox_publish(dd_outbox_t *box, const char *topic, const void *payload,
                                     size_t len, int qos);

/** @brief Appends a webhook POST. */
dd_outbox_status_t dd_outbox_webhook(dd_outbox_t *box, const char *sns_topic, const char *url,
                                     const char *body);

/** @brief Appends a Lambda stand-in invocation (dd_lambda.h) of @p function_arn with @p event. */
dd_outbox_status_t dd_outbox_lambda(dd_outbox_t *box, const char *sns_topic,
                                    const char *function_arn, const char *event);

/** @return A mark (the entry count) to truncate back to on rollback. */
size_t dd_outbox_mark(dd_outbox_t *box);

/** @brief Drops the entries appended after @p mark. */
void dd_outbox_truncate(dd_outbox_t *box, size_t mark);

/**
 * @brief Marks the entries appended after @p mark to leave @p delay_ms (wall)
 *        after the commit instead of at once (a fault's late reply or delivery;
 *        the caller holds them).
 */
void dd_outbox_delay(dd_outbox_t *box, size_t mark, int64_t delay_ms);

/** @brief Takes every entry, oldest first (the outbox is empty afterwards). */
dd_outbox_entry_t *dd_outbox_take(dd_outbox_t *box);

/** @brief Frees a list from dd_outbox_take(). */
void dd_outbox_entries_free(dd_outbox_entry_t *head);

/** @return Static text for @p status. */
const char *dd_outbox_strerror(dd_outbox_status_t status);

#endif /* DD_OUTBOX_H_ */
