#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_outbox.h"

/* Number of entries in a list taken from the outbox. */
static size_t list_length(const dd_outbox_entry_t *e)
{
    size_t n = 0;

    for (; e != NULL; e = e->next) {
        n++;
    }
    return n;
}

static void assert_publish(const dd_outbox_entry_t *e, const char *topic, const char *payload,
                           int qos)
{
    assert_non_null(e);
    assert_int_equal(e->kind, DD_OUTBOX_PUBLISH);
    assert_string_equal(e->target, topic);
    assert_null(e->sns_topic);
    assert_int_equal(e->len, strlen(payload));
    assert_memory_equal(e->payload, payload, e->len);
    assert_int_equal(e->payload[e->len], '\0');
    assert_int_equal(e->qos, qos);
}

static void test_dd_outbox_take_returns_entries_oldest_first_and_empties(void **state)
{
    dd_outbox_t box;
    dd_outbox_entry_t *head;
    char topic[32];
    char payload[32];
    int i;

    (void)state;
    dd_outbox_init(&box);
    for (i = 0; i < 5; i++) {
        (void)snprintf(topic, sizeof(topic), "t/%d", i);
        (void)snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
        assert_int_equal(dd_outbox_publish(&box, topic, payload, strlen(payload), i % 2),
                         DD_OUTBOX_OK);
    }
    assert_int_equal(dd_outbox_mark(&box), 5);
    head = dd_outbox_take(&box);
    assert_int_equal(list_length(head), 5);
    assert_publish(head, "t/0", "{\"n\":0}", 0);
    assert_publish(head->next, "t/1", "{\"n\":1}", 1);
    assert_publish(head->next->next->next->next, "t/4", "{\"n\":4}", 0);
    dd_outbox_entries_free(head);
    /* Taken means gone: the outbox is empty and usable again. */
    assert_int_equal(dd_outbox_mark(&box), 0);
    assert_null(dd_outbox_take(&box));
    assert_int_equal(dd_outbox_publish(&box, "again", "x", 1, 1), DD_OUTBOX_OK);
    head = dd_outbox_take(&box);
    assert_int_equal(list_length(head), 1);
    assert_publish(head, "again", "x", 1);
    dd_outbox_entries_free(head);
    dd_outbox_destroy(&box);
}

static void test_dd_outbox_payload_is_a_nul_terminated_copy(void **state)
{
    dd_outbox_t box;
    dd_outbox_entry_t *head;
    uint8_t cbor[4] = {0xa1, 0x00, 0x61, 0x78}; /* binary, with an inner 0 byte, no terminator */
    char topic[16] = "a/b";
    char body[16] = "{\"k\":1}";

    (void)state;
    dd_outbox_init(&box);
    assert_int_equal(dd_outbox_publish(&box, topic, cbor, sizeof(cbor), 1), DD_OUTBOX_OK);
    assert_int_equal(dd_outbox_publish(&box, "empty", NULL, 0, 0), DD_OUTBOX_OK);
    assert_int_equal(dd_outbox_webhook(&box, "alerts", "http://127.0.0.1:1/hook", body),
                     DD_OUTBOX_OK);
    /* The caller's buffers may change or go away once appended. */
    memset(cbor, 0xff, sizeof(cbor));
    memset(topic, 'z', sizeof(topic) - 1);
    memset(body, 'z', sizeof(body) - 1);
    head = dd_outbox_take(&box);
    assert_int_equal(list_length(head), 3);
    assert_string_equal(head->target, "a/b");
    assert_int_equal(head->len, 4);
    assert_memory_equal(head->payload, "\xa1\x00\x61\x78", 4);
    assert_int_equal(head->payload[4], '\0');
    /* An empty payload is still a terminated (empty) string. */
    assert_non_null(head->next->payload);
    assert_int_equal(head->next->len, 0);
    assert_int_equal(head->next->payload[0], '\0');
    assert_string_equal((const char *)head->next->next->payload, "{\"k\":1}");
    dd_outbox_entries_free(head);
    dd_outbox_destroy(&box);
}

static void test_dd_outbox_webhook_entries(void **state)
{
    dd_outbox_t box;
    dd_outbox_entry_t *head;
    const char *body = "{\"Type\":\"Notification\"}";

    (void)state;
    dd_outbox_init(&box);
    assert_int_equal(dd_outbox_publish(&box, "ddlocal/sns/alerts", "m", 1, 1), DD_OUTBOX_OK);
    assert_int_equal(dd_outbox_webhook(&box, "alerts", "http://127.0.0.1:9/hook", body),
                     DD_OUTBOX_OK);
    head = dd_outbox_take(&box);
    assert_int_equal(list_length(head), 2);
    assert_int_equal(head->kind, DD_OUTBOX_PUBLISH);
    assert_int_equal(head->next->kind, DD_OUTBOX_WEBHOOK);
    assert_string_equal(head->next->target, "http://127.0.0.1:9/hook");
    assert_string_equal(head->next->sns_topic, "alerts");
    assert_int_equal(head->next->len, strlen(body));
    assert_string_equal((const char *)head->next->payload, body);
    dd_outbox_entries_free(head);
    dd_outbox_destroy(&box);
}

static void test_dd_outbox_truncate_drops_only_later_entries(void **state)
{
    dd_outbox_t box;
    dd_outbox_entry_t *head;
    size_t mark;

    (void)state;
    dd_outbox_init(&box);
    /* A transaction that commits: its entries stay. */
    assert_int_equal(dd_outbox_publish(&box, "committed/1", "1", 1, 1), DD_OUTBOX_OK);
    assert_int_equal(dd_outbox_webhook(&box, "t", "http://h/1", "w1"), DD_OUTBOX_OK);
    /* The next one rolls back. */
    mark = dd_outbox_mark(&box);
    assert_int_equal(mark, 2);
    assert_int_equal(dd_outbox_publish(&box, "rolled-back/1", "2", 1, 1), DD_OUTBOX_OK);
    assert_int_equal(dd_outbox_webhook(&box, "t", "http://h/2", "w2"), DD_OUTBOX_OK);
    assert_int_equal(dd_outbox_mark(&box), 4);
    dd_outbox_truncate(&box, mark);
    assert_int_equal(dd_outbox_mark(&box), 2);
    /* Appending after a truncation goes after the kept entries (the tail moved back). */
    assert_int_equal(dd_outbox_publish(&box, "after", "3", 1, 0), DD_OUTBOX_OK);
    /* A mark at or beyond the count drops nothing. */
    dd_outbox_truncate(&box, 3);
    dd_outbox_truncate(&box, 99);
    head = dd_outbox_take(&box);
    assert_int_equal(list_length(head), 3);
    assert_string_equal(head->target, "committed/1");
    assert_string_equal(head->next->target, "http://h/1");
    assert_string_equal(head->next->next->target, "after");
    assert_null(head->next->next->next);
    dd_outbox_entries_free(head);

    /* Truncating to 0 empties the outbox, which then works as new. */
    assert_int_equal(dd_outbox_publish(&box, "x", "1", 1, 1), DD_OUTBOX_OK);
    assert_int_equal(dd_outbox_publish(&box, "y", "2", 1, 1), DD_OUTBOX_OK);
    dd_outbox_truncate(&box, 0);
    assert_int_equal(dd_outbox_mark(&box), 0);
    assert_null(dd_outbox_take(&box));
    assert_int_equal(dd_outbox_publish(&box, "z", "3", 1, 1), DD_OUTBOX_OK);
    head = dd_outbox_take(&box);
    assert_int_equal(list_length(head), 1);
    assert_string_equal(head->target, "z");
    dd_outbox_entries_free(head);
    /* Destroy frees what was never taken (checked by the sanitizer build). */
    assert_int_equal(dd_outbox_publish(&box, "left", "4", 1, 1), DD_OUTBOX_OK);
    dd_outbox_destroy(&box);
}

static void test_dd_outbox_delay_marks_only_later_entries(void **state)
{
    dd_outbox_t box;
    dd_outbox_entry_t *head;
    size_t mark;

    (void)state;
    dd_outbox_init(&box);
    assert_int_equal(dd_outbox_publish(&box, "t/a", "a", 1, 1), DD_OUTBOX_OK);
    mark = dd_outbox_mark(&box);
    assert_int_equal(dd_outbox_publish(&box, "t/b", "b", 1, 1), DD_OUTBOX_OK);
    assert_int_equal(dd_outbox_webhook(&box, "sns", "http://127.0.0.1:1/", "c"), DD_OUTBOX_OK);
    dd_outbox_delay(&box, mark, 250);
    dd_outbox_delay(NULL, 0, 1);
    head = dd_outbox_take(&box);
    assert_int_equal(list_length(head), 3);
    assert_int_equal(head->delay_ms, 0);
    assert_int_equal(head->next->delay_ms, 250);
    assert_int_equal(head->next->next->delay_ms, 250);
    dd_outbox_entries_free(head);
    dd_outbox_destroy(&box);
}

static void test_dd_outbox_empty_and_bad_parameters(void **state)
{
    dd_outbox_t box;

    (void)state;
    dd_outbox_init(&box);
    assert_null(dd_outbox_take(&box));
    assert_int_equal(dd_outbox_mark(&box), 0);
    dd_outbox_truncate(&box, 0);
    assert_int_equal(dd_outbox_publish(NULL, "t", "x", 1, 1), DD_OUTBOX_BAD_PARAMETER);
    assert_int_equal(dd_outbox_publish(&box, NULL, "x", 1, 1), DD_OUTBOX_BAD_PARAMETER);
    assert_int_equal(dd_outbox_publish(&box, "t", NULL, 1, 1), DD_OUTBOX_BAD_PARAMETER);
    assert_int_equal(dd_outbox_webhook(&box, NULL, "http://h/", "b"), DD_OUTBOX_BAD_PARAMETER);
    assert_int_equal(dd_outbox_webhook(&box, "t", NULL, "b"), DD_OUTBOX_BAD_PARAMETER);
    assert_int_equal(dd_outbox_webhook(&box, "t", "http://h/", NULL), DD_OUTBOX_BAD_PARAMETER);
    /* Refused appends left nothing behind. */
    assert_int_equal(dd_outbox_mark(&box), 0);
    assert_null(dd_outbox_take(&box));
    assert_null(dd_outbox_take(NULL));
    assert_int_equal(dd_outbox_mark(NULL), 0);
    dd_outbox_truncate(NULL, 0);
    dd_outbox_entries_free(NULL);
    assert_string_equal(dd_outbox_strerror(DD_OUTBOX_OK), "ok");
    assert_string_equal(dd_outbox_strerror(DD_OUTBOX_BAD_PARAMETER), "bad parameter");
    dd_outbox_destroy(&box);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_outbox_take_returns_entries_oldest_first_and_empties),
        cmocka_unit_test(test_dd_outbox_payload_is_a_nul_terminated_copy),
        cmocka_unit_test(test_dd_outbox_webhook_entries),
        cmocka_unit_test(test_dd_outbox_truncate_drops_only_later_entries),
        cmocka_unit_test(test_dd_outbox_delay_marks_only_later_entries),
        cmocka_unit_test(test_dd_outbox_empty_and_bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
