#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_custom.h"

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_dd_custom_spec(void **state)
{
    dd_custom_source_t s;
    char msg[256];

    (void)state;
    assert_int_equal(dd_custom_parse_spec("temp:number:file:/sys/class/thermal/x", &s, msg,
                                          sizeof(msg)),
                     DD_CUSTOM_OK);
    assert_string_equal(s.name, "temp");
    assert_int_equal(s.kind, DD_CUSTOM_NUMBER);
    assert_int_equal(s.origin, DD_CUSTOM_FROM_FILE);
    assert_string_equal(s.target, "/sys/class/thermal/x");
    free(s.target);
    /* The command keeps its own colons. */
    assert_int_equal(dd_custom_parse_spec("peers:ip-address-list:command:ss -tn | cut -d: -f1", &s,
                                          msg, sizeof(msg)),
                     DD_CUSTOM_OK);
    assert_int_equal(s.kind, DD_CUSTOM_IP_LIST);
    assert_int_equal(s.origin, DD_CUSTOM_FROM_COMMAND);
    assert_string_equal(s.target, "ss -tn | cut -d: -f1");
    free(s.target);

    assert_int_equal(dd_custom_parse_spec("x:number:file:", &s, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);
    assert_int_equal(dd_custom_parse_spec("x:number", &s, msg, sizeof(msg)), DD_CUSTOM_INVALID);
    assert_int_equal(dd_custom_parse_spec(":number:file:/x", &s, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);
    assert_int_equal(dd_custom_parse_spec("bad name:number:file:/x", &s, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);
    assert_int_equal(dd_custom_parse_spec("x:float:file:/x", &s, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);
    assert_non_null(strstr(msg, "float"));
    assert_int_equal(dd_custom_parse_spec("x:number:http:/x", &s, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);
    assert_int_equal(dd_custom_parse_spec(NULL, &s, msg, sizeof(msg)), DD_CUSTOM_BAD_PARAMETER);
}

static void test_dd_custom_values(void **state)
{
    dd_report_custom_t v;
    char msg[256];

    (void)state;
    assert_int_equal(dd_custom_parse_value("n", DD_CUSTOM_NUMBER, " 42.5\n", &v, msg, sizeof(msg)),
                     DD_CUSTOM_OK);
    assert_true(v.number == 42.5);
    assert_string_equal(v.name, "n");
    dd_custom_value_free(&v);
    assert_int_equal(dd_custom_parse_value("n", DD_CUSTOM_NUMBER, "-3 other", &v, msg, sizeof(msg)),
                     DD_CUSTOM_OK);
    assert_true(v.number == -3.0);
    dd_custom_value_free(&v);
    assert_int_equal(dd_custom_parse_value("n", DD_CUSTOM_NUMBER, "abc", &v, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);
    assert_int_equal(dd_custom_parse_value("n", DD_CUSTOM_NUMBER, "", &v, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);
    assert_int_equal(dd_custom_parse_value("n", DD_CUSTOM_NUMBER, "nan", &v, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);

    assert_int_equal(dd_custom_parse_value("l", DD_CUSTOM_NUMBER_LIST, "1, 2,3\n4", &v, msg,
                                           sizeof(msg)),
                     DD_CUSTOM_OK);
    assert_int_equal(v.count, 4);
    assert_true(v.numbers[3] == 4.0);
    dd_custom_value_free(&v);
    assert_int_equal(dd_custom_parse_value("l", DD_CUSTOM_NUMBER_LIST, "1 x", &v, msg, sizeof(msg)),
                     DD_CUSTOM_INVALID);
    /* An empty output is an empty list, still a valid array. */
    assert_int_equal(dd_custom_parse_value("l", DD_CUSTOM_NUMBER_LIST, "\n", &v, msg, sizeof(msg)),
                     DD_CUSTOM_OK);
    assert_int_equal(v.count, 0);
    assert_non_null(v.numbers);
    dd_custom_value_free(&v);

    assert_int_equal(dd_custom_parse_value("s", DD_CUSTOM_STRING_LIST, "eth0\nwlan0", &v, msg,
                                           sizeof(msg)),
                     DD_CUSTOM_OK);
    assert_int_equal(v.count, 2);
    assert_string_equal(v.strings[1], "wlan0");
    dd_custom_value_free(&v);

    assert_int_equal(dd_custom_parse_value("i", DD_CUSTOM_IP_LIST, "10.0.0.1 2001:db8::1", &v, msg,
                                           sizeof(msg)),
                     DD_CUSTOM_OK);
    assert_int_equal(v.count, 2);
    assert_int_equal(v.ips[0].family, 4);
    assert_int_equal(v.ips[1].family, 6);
    dd_custom_value_free(&v);
    assert_int_equal(dd_custom_parse_value("i", DD_CUSTOM_IP_LIST, "10.0.0.1 host.local", &v, msg,
                                           sizeof(msg)),
                     DD_CUSTOM_INVALID);
    assert_non_null(strstr(msg, "host.local"));
    assert_null(v.ips);
}

static void test_dd_custom_config(void **state)
{
    char path[] = "/tmp/dd_custom_cfg.XXXXXX";
    int fd = mkstemp(path);
    dd_custom_source_t *src = NULL;
    size_t n = 0;
    char msg[256];

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "[{\"name\":\"temperature\",\"type\":\"number\",\"file\":\"/tmp/t\"},"
                     "{\"name\":\"users\",\"type\":\"string-list\",\"command\":\"who\"}]");
    assert_int_equal(dd_custom_load_config(path, &src, &n, msg, sizeof(msg)), DD_CUSTOM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(src[1].name, "users");
    assert_int_equal(src[1].origin, DD_CUSTOM_FROM_COMMAND);
    assert_string_equal(src[1].target, "who");

    write_file(path, "[{\"name\":\"x\",\"type\":\"number\",\"file\":\"/a\",\"command\":\"b\"}]");
    assert_int_equal(dd_custom_load_config(path, &src, &n, msg, sizeof(msg)), DD_CUSTOM_INVALID);
    assert_non_null(strstr(msg, "[0]"));
    write_file(path, "{\"name\":\"x\"}");
    assert_int_equal(dd_custom_load_config(path, &src, &n, msg, sizeof(msg)), DD_CUSTOM_INVALID);
    write_file(path, "[{\"name\":\"aws:x\",\"type\":\"number\",\"file\":\"/a\"}]");
    assert_int_equal(dd_custom_load_config(path, &src, &n, msg, sizeof(msg)), DD_CUSTOM_INVALID);
    assert_int_equal(n, 2);
    assert_int_equal(dd_custom_load_config("/nonexistent/cfg", &src, &n, msg, sizeof(msg)),
                     DD_CUSTOM_IO_ERROR);
    dd_custom_sources_free(src, n);
    unlink(path);
}

static void test_dd_custom_read(void **state)
{
    char path[] = "/tmp/dd_custom_val.XXXXXX";
    int fd = mkstemp(path);
    dd_custom_source_t s;
    dd_report_custom_t v;
    char msg[256];

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "37500\n");
    memset(&s, 0, sizeof(s));
    (void)snprintf(s.name, sizeof(s.name), "temp");
    s.kind = DD_CUSTOM_NUMBER;
    s.origin = DD_CUSTOM_FROM_FILE;
    s.target = path;
    assert_int_equal(dd_custom_read(&s, 0, &v, msg, sizeof(msg)), DD_CUSTOM_OK);
    assert_true(v.number == 37500.0);
    dd_custom_value_free(&v);
    unlink(path);
    assert_int_equal(dd_custom_read(&s, 0, &v, msg, sizeof(msg)), DD_CUSTOM_IO_ERROR);
    assert_non_null(strstr(msg, path));

    s.origin = DD_CUSTOM_FROM_COMMAND;
    s.kind = DD_CUSTOM_NUMBER_LIST;
    s.target = (char *)"echo 1 2 3";
    assert_int_equal(dd_custom_read(&s, 0, &v, msg, sizeof(msg)), DD_CUSTOM_OK);
    assert_int_equal(v.count, 3);
    dd_custom_value_free(&v);
    s.target = (char *)"echo 5; exit 3";
    assert_int_equal(dd_custom_read(&s, 0, &v, msg, sizeof(msg)), DD_CUSTOM_IO_ERROR);
    assert_non_null(strstr(msg, "exit status 3"));
    /* A hung command is killed, its children too. */
    s.target = (char *)"sleep 5 & sleep 5";
    assert_int_equal(dd_custom_read(&s, 200, &v, msg, sizeof(msg)), DD_CUSTOM_TIMEOUT);
    /* Big outputs are cut at DD_CUSTOM_OUTPUT_MAX, not an error. */
    s.kind = DD_CUSTOM_STRING_LIST;
    s.target = (char *)"yes ab | head -c 200000";
    assert_int_equal(dd_custom_read(&s, 0, &v, msg, sizeof(msg)), DD_CUSTOM_OK);
    assert_true(v.count >= DD_CUSTOM_OUTPUT_MAX / 3 - 1 && v.count <= DD_CUSTOM_OUTPUT_MAX / 3 + 1);
    dd_custom_value_free(&v);
    assert_string_equal(dd_custom_kind_name(DD_CUSTOM_IP_LIST), "ip-address-list");
    assert_string_equal(dd_custom_strerror(DD_CUSTOM_TIMEOUT), "custom metric command timed out");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_custom_spec),
        cmocka_unit_test(test_dd_custom_values),
        cmocka_unit_test(test_dd_custom_config),
        cmocka_unit_test(test_dd_custom_read),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
