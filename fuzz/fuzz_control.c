/**
 * @file fuzz_control.c
 * @brief libFuzzer harness: the payloads of ddlocal's internal control
 *        topics ($CONTROL/ddlocal/v1/registry, clock, response), which the
 *        broker shim decodes. The first input byte picks the topic.
 */
#include <stddef.h>
#include <stdint.h>

#include "dd_control.h"
#include "dd_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const TOPICS[] = {DD_CONTROL_TOPIC_REGISTRY, DD_CONTROL_TOPIC_CLOCK,
                                         DD_CONTROL_TOPIC_RESPONSE, "$CONTROL/ddlocal/v1/x"};
    dd_control_message_t msg;
    char id[DD_CONTROL_ID_MAX + 1];
    char err[256];
    bool ok;

    if (size == 0) {
        return 0;
    }
    (void)dd_control_decode(TOPICS[data[0] % 4], data + 1, size - 1, &msg, err, sizeof(err));
    dd_control_message_free(&msg); /* after a failure too, as dd_control.h says */
    (void)dd_control_decode_response(data + 1, size - 1, id, &ok, err, sizeof(err));
    return 0;
}
