/**
 * @file dd_alerts.h
 * @brief The SNS stand-in: the Device Defender alert message, the envelopes
 *        a Lambda or an HTTP subscriber receives, and webhook delivery with
 *        retries and a dead-letter record.
 *
 * An SNS topic `arn:aws:sns:R:A:NAME` is the MQTT topic `ddlocal/sns/NAME`.
 * For each alertable violation event ddlocald publishes there, at QoS 1, the
 * Lambda event `{"Records":[{"EventSource":"aws:sns",...,"Sns":{"Type":
 * "Notification","MessageId":...,"TopicArn":...,"Message":"<alert JSON as a
 * string>","Timestamp":...}}]}` so that the workshop's IsolateDevice code
 * (`json.loads(event['Records'][0]['Sns']['Message'])['thingName']`) reads
 * it unchanged; and it POSTs the SNS HTTP notification (the `Sns` object
 * alone, header `x-amz-sns-message-type: Notification`) to every webhook
 * subscribed to NAME.
 *
 * The alert itself is exactly defender-spec.md §5.2: violationEventTime (epoch
 * ms), thingName, behavior, violationEventType, metricValue (absent on
 * alarm-invalidated), violationId, securityProfileName; verificationState is
 * added on alarm-invalidated only (what consumers read there).
 *
 * The deliverer (retries with a doubling backoff, then a dead letter) POSTs
 * by default; given a deliver function it runs that instead, which is how
 * ddlocald invokes its Lambda stand-ins (dd_lambdarun.h) with the very same
 * retry and dead-letter machinery.
 *
 * Ownership: the builders return malloc'd text freed with free(). The
 * deliverer owns a thread; jobs are copied in.
 */
#ifndef DD_ALERTS_H_
#define DD_ALERTS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_engine.h"
#include "dd_names.h"

/** Status codes of this module. */
typedef enum dd_alerts_status {
    DD_ALERTS_OK = 0,
    DD_ALERTS_BAD_PARAMETER,
    DD_ALERTS_NO_MEMORY,
    DD_ALERTS_STOPPED /**< Deliverer is shutting down. */
} dd_alerts_status_t;

/** MQTT topic prefix of the SNS stand-in. */
#define DD_ALERTS_TOPIC_PREFIX DD_NAME_SNS_TOPIC_PREFIX

/**
 * @brief Builds the alert message JSON of a violation event.
 * @param[in] ev The event.
 * @param[out] out malloc'd compact JSON text.
 */
dd_alerts_status_t dd_alerts_message(const dd_violation_event_t *ev, char **out);

/**
 * @brief Wraps a message in the SNS notification object (what an HTTP
 *        subscriber receives): Type, MessageId, TopicArn, Message, Timestamp
 *        (ISO-8601 UTC with ms), SignatureVersion, Signature,
 *        SigningCertURL, UnsubscribeURL.
 * @param[in] topic_arn SNS topic ARN.
 * @param[in] message The alert JSON text.
 * @param[in] now_ms Publication time (pipeline clock).
 * @param[out] out malloc'd JSON text.
 */
dd_alerts_status_t dd_alerts_sns_notification(const char *topic_arn, const char *message,
                                              int64_t now_ms, char **out);

/**
 * @brief Same notification inside the Lambda event envelope (Records[0].Sns),
 *        as SNS gives it to Lambda: Records[0] = {EventSource "aws:sns",
 *        EventVersion "1.0", EventSubscriptionArn, Sns}, and in Sns the members
 *        SigningCertUrl and UnsubscribeUrl (so spelt by SNS for Lambda).
 */
dd_alerts_status_t dd_alerts_lambda_event(const char *topic_arn, const char *message,
                                          int64_t now_ms, char **out);

/**
 * @brief The event of dd_alerts_lambda_event() as one subscription receives
 *        it: EventSubscriptionArn becomes that subscription's ARN, stable
 *        across messages as in SNS (`TOPIC_ARN:<UUID of the subscription id>`);
 *        everything else, MessageId included, is kept.
 * @param[in] event A Lambda event.
 * @param[in] subscription_id The registry's subscription id (> 0).
 * @param[out] out malloc'd JSON text.
 * @return DD_ALERTS_OK, DD_ALERTS_BAD_PARAMETER (NULL, id <= 0, not a Lambda
 *         event) or DD_ALERTS_NO_MEMORY.
 */
dd_alerts_status_t dd_alerts_lambda_event_for(const char *event, int64_t subscription_id,
                                              char **out);

/** Called by the deliverer when a webhook delivery is given up. */
typedef void (*dd_alerts_dead_letter_fn)(void *ctx, const char *topic, const char *endpoint,
                                         const char *body, int attempts, const char *last_error);

/**
 * Delivers one job once, in place of the HTTP POST; called on the deliverer's
 * thread, so it may block (the next job waits).
 * @param[in] ctx deliver_ctx of the configuration.
 * @param[in] topic, endpoint, body The job as queued.
 * @param[in] job_id A UUID of the job, the same on every attempt.
 * @param[in] attempt 1 for the first attempt.
 * @param[out] error Why it failed (NUL-terminated, at most @p error_len bytes).
 * @return true when delivered.
 */
typedef bool (*dd_alerts_deliver_fn)(void *ctx, const char *topic, const char *endpoint,
                                     const char *body, const char *job_id, int attempt, char *error,
                                     size_t error_len);

/** Deliverer settings. */
typedef struct dd_alerts_webhook_config {
    int max_attempts;   /**< Deliveries tried before dead-lettering (0 = 4). */
    int first_retry_ms; /**< Backoff before the 2nd attempt, doubled each time (0 = 1000). */
    int timeout_ms;     /**< Per request (0 = 5000); HTTP POSTs only. */
    dd_alerts_dead_letter_fn dead_letter;
    void *dead_letter_ctx;
    dd_alerts_deliver_fn deliver; /**< NULL = HTTP POST of body to endpoint. */
    void *deliver_ctx;
    const char *label; /**< Static noun for log lines (NULL = "webhook"). */
    /** Called on the deliverer's thread after a job was delivered (event log); may be NULL. */
    void (*delivered)(void *ctx, const char *label, const char *topic, const char *endpoint,
                      int attempts);
    void *delivered_ctx;
} dd_alerts_webhook_config_t;

typedef struct dd_alerts_webhooks dd_alerts_webhooks_t;

/** @brief Starts the deliverer thread. */
dd_alerts_status_t dd_alerts_webhooks_start(const dd_alerts_webhook_config_t *cfg,
                                            dd_alerts_webhooks_t **out);

/**
 * @brief Queues one delivery of @p body (an SNS notification, or a Lambda
 *        event for a deliver function) to @p endpoint. Never blocks on the
 *        network.
 */
dd_alerts_status_t dd_alerts_webhooks_post(dd_alerts_webhooks_t *w, const char *topic,
                                           const char *endpoint, const char *body);

/**
 * @brief Number of deliveries queued or in flight. A job given up counts until
 *        its dead letter has been written.
 */
size_t dd_alerts_webhooks_pending(dd_alerts_webhooks_t *w);

/** @brief Stops the thread; undelivered jobs are dead-lettered. NULL is ignored. */
void dd_alerts_webhooks_stop(dd_alerts_webhooks_t *w);

/** @return Static text for @p status. */
const char *dd_alerts_strerror(dd_alerts_status_t status);

#endif /* DD_ALERTS_H_ */
