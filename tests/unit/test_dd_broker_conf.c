/*
 * dd_broker_conf: the generated mosquitto.conf - defaults, every setting the
 * shim depends on (and the ones it must not have), the plain baseline,
 * refused values (control characters, bad ports, relative paths), buffer
 * sizing and the atomic write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_broker_conf.h"
#include "dd_fs.h"

typedef struct fixture {
    dd_broker_conf_options_t o;
    char user[64];
    char log[512];
    char text[16384];
    size_t len;
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;

    memset(&f, 0, sizeof(f));
    assert_int_equal(dd_broker_conf_defaults(&f.o, "/var/lib/dd", f.user, sizeof(f.user), f.log,
                                             sizeof(f.log)),
                     DD_BROKER_CONF_OK);
    f.o.mqtt_port = 8883;
    f.o.alpn_port = 8443;
    f.o.plugin_path = "/opt/ddlocal/ddlocal_shim.so";
    *state = &f;
    return 0;
}

static void render_ok(fixture_t *f)
{
    dd_broker_conf_status_t st = dd_broker_conf_render(&f->o, f->text, sizeof(f->text), &f->len);

    assert_int_equal(st, DD_BROKER_CONF_OK);
    assert_int_equal(strlen(f->text), f->len);
}

/* The text has this exact line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) {
            return true;
        }
        p += n;
    }
    return false;
}

static void expect_line(const char *text, const char *line)
{
    if (!has_line(text, line)) {
        print_error("missing line \"%s\" in:\n%s\n", line, text);
        fail();
    }
}

static void expect_no(const char *text, const char *needle)
{
    if (strstr(text, needle) != NULL) {
        print_error("unexpected \"%s\" in:\n%s\n", needle, text);
        fail();
    }
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;

    while ((text = strstr(text, needle)) != NULL) {
        n++;
        text += strlen(needle);
    }
    return n;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_dd_broker_conf_defaults(void **state)
{
    fixture_t *f = *state;
    struct passwd *pw = getpwuid(geteuid());

    assert_string_equal(f->o.data_dir, "/var/lib/dd");
    assert_string_equal(f->o.bind_address, DD_BROKER_CONF_BIND);
    assert_true(f->o.single_cert_identity);
    assert_true(f->o.kick_on_deny);
    assert_true(f->o.persistence);
    assert_false(f->o.plain);
    assert_string_equal(f->o.log_file, "/var/lib/dd/broker/mosquitto.log");
    assert_non_null(pw);
    assert_string_equal(f->o.run_as_user, pw->pw_name);
    assert_int_equal(dd_broker_conf_defaults(NULL, "/x", f->user, sizeof(f->user), f->log,
                                             sizeof(f->log)),
                     DD_BROKER_CONF_BAD_PARAMETER);
    assert_int_equal(dd_broker_conf_defaults(&f->o, "/x", f->user, 1, f->log, sizeof(f->log)),
                     pw->pw_name[0] != '\0' ? DD_BROKER_CONF_BUFFER_TOO_SMALL : DD_BROKER_CONF_OK);
    assert_int_equal(dd_broker_conf_defaults(&f->o, "/x", f->user, sizeof(f->user), f->log, 5),
                     DD_BROKER_CONF_BUFFER_TOO_SMALL);
}

static void test_dd_broker_conf_shim_settings(void **state)
{
    fixture_t *f = *state;
    char line[256];

    render_ok(f);
    /* The settings the shim depends on (see dd_broker_conf.h for why). */
    expect_line(f->text, "per_listener_settings false");
    expect_line(f->text, "allow_anonymous false");
    (void)snprintf(line, sizeof(line), "user %s", f->user);
    expect_line(f->text, line);
    expect_line(f->text, "queue_qos0_messages true");
    expect_line(f->text, "max_queued_messages 1000000");
    expect_line(f->text, "max_queued_bytes 0");
    expect_line(f->text, "max_inflight_messages 0");
    expect_line(f->text, "persistence true");
    expect_line(f->text, "persistence_location /var/lib/dd/broker/");
    expect_line(f->text, "log_dest file /var/lib/dd/broker/mosquitto.log");
    expect_line(f->text, "plugin /opt/ddlocal/ddlocal_shim.so");
    expect_line(f->text, "plugin_opt_db_path /var/lib/dd/ddlocal.db");
    expect_line(f->text, "plugin_opt_clock real");
    expect_line(f->text, "plugin_opt_single_cert_identity true");
    expect_line(f->text, "plugin_opt_kick_on_deny true");
    expect_line(f->text, "plugin_opt_metering_topic $ddlocal/metering/v1");
    /* Two mTLS listeners on loopback with the data dir's PKI. */
    expect_line(f->text, "listener 8883 127.0.0.1");
    expect_line(f->text, "listener 8443 127.0.0.1");
    assert_int_equal(count(f->text, "\nrequire_certificate true\n"), 2);
    assert_int_equal(count(f->text, "\ncafile /var/lib/dd/pki/rootca.pem\n"), 2);
    assert_int_equal(count(f->text, "\ncertfile /var/lib/dd/pki/server.pem\n"), 2);
    assert_int_equal(count(f->text, "\nkeyfile /var/lib/dd/pki/server.key\n"), 2);
    /* What must never be there: it would bypass BASIC_AUTH, where the shim
     * maps the certificate to a thing. */
    expect_no(f->text, "use_identity_as_username");
    expect_no(f->text, "use_subject_as_username");
    expect_no(f->text, "per_listener_settings true");
    /* Options left at the plugin's defaults are not written. */
    expect_no(f->text, "plugin_opt_region");
    expect_no(f->text, "plugin_opt_metering_flush_ms");
    expect_no(f->text, "plugin_opt_log_level");
    /* The plugin block comes before the listeners (mosquitto reads it globally). */
    assert_true(strstr(f->text, "plugin ") < strstr(f->text, "listener "));
}

static void test_dd_broker_conf_every_option(void **state)
{
    fixture_t *f = *state;

    f->o.bind_address = "0.0.0.0";
    f->o.db_path = "/elsewhere/reg.db";
    f->o.clock_spec = "manual:1700000000000";
    f->o.region = "eu-west-1";
    f->o.account = "111122223333";
    f->o.single_cert_identity = false;
    f->o.kick_on_deny = false;
    f->o.metering_topic = "$ddlocal/metering/test";
    f->o.metering_flush_ms = 25;
    f->o.metering_buffer_bytes = 4096;
    f->o.plugin_debug = true;
    f->o.persistence = false;
    f->o.max_queued_messages = 50;
    f->o.max_inflight_messages = 10;
    f->o.log_file = NULL;
    f->o.log_debug = true;
    f->o.run_as_user = NULL;
    render_ok(f);
    expect_line(f->text, "listener 8883 0.0.0.0");
    expect_line(f->text, "plugin_opt_db_path /elsewhere/reg.db");
    expect_line(f->text, "plugin_opt_clock manual:1700000000000");
    expect_line(f->text, "plugin_opt_region eu-west-1");
    expect_line(f->text, "plugin_opt_account 111122223333");
    expect_line(f->text, "plugin_opt_single_cert_identity false");
    expect_line(f->text, "plugin_opt_kick_on_deny false");
    expect_line(f->text, "plugin_opt_metering_topic $ddlocal/metering/test");
    expect_line(f->text, "plugin_opt_metering_flush_ms 25");
    expect_line(f->text, "plugin_opt_metering_buffer_bytes 4096");
    expect_line(f->text, "plugin_opt_log_level debug");
    expect_line(f->text, "persistence false");
    expect_line(f->text, "max_queued_messages 50");
    expect_line(f->text, "max_inflight_messages 10");
    expect_line(f->text, "log_dest stderr");
    expect_line(f->text, "log_type all");
    expect_no(f->text, "\nuser ");
    expect_no(f->text, "persistence_location");
}

static void test_dd_broker_conf_plain_baseline(void **state)
{
    fixture_t *f = *state;

    /* The benchmark's baseline: same listeners and TLS, no plugin, anonymous. */
    f->o.plain = true;
    assert_int_equal(dd_broker_conf_render(&f->o, f->text, sizeof(f->text), NULL),
                     DD_BROKER_CONF_BAD_PARAMETER);
    f->o.plugin_path = NULL;
    render_ok(f);
    expect_line(f->text, "allow_anonymous true");
    expect_no(f->text, "plugin");
    assert_int_equal(count(f->text, "\nrequire_certificate true\n"), 2);
    expect_line(f->text, "per_listener_settings false");
    /* Neither the plugin nor plain: refused. */
    f->o.plain = false;
    assert_int_equal(dd_broker_conf_render(&f->o, f->text, sizeof(f->text), NULL),
                     DD_BROKER_CONF_BAD_PARAMETER);
}

static void test_dd_broker_conf_refuses_bad_values(void **state)
{
    static const char *const bad_strings[] = {
        "/x\nallow_anonymous true", "/x\r", "/x\ty", "/x\x7f", "",
    };
    fixture_t *f = *state;
    dd_broker_conf_options_t saved = f->o;
    const char **fields[] = {
        &f->o.plugin_path, &f->o.db_path,  &f->o.clock_spec,     &f->o.region,       &f->o.account,
        &f->o.run_as_user, &f->o.log_file, &f->o.metering_topic, &f->o.bind_address, &f->o.data_dir,
    };
    size_t i;
    size_t j;

    /* A value is the rest of its line for mosquitto: no control character
     * (nor an empty value) may reach the file through any option. */
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        for (j = 0; j < sizeof(bad_strings) / sizeof(bad_strings[0]); j++) {
            f->o = saved;
            *fields[i] = bad_strings[j];
            if (dd_broker_conf_render(&f->o, f->text, sizeof(f->text), NULL) !=
                DD_BROKER_CONF_BAD_PARAMETER) {
                print_error("option %zu accepted bad value %zu\n", i, j);
                fail();
            }
        }
    }
    f->o = saved;
    f->o.data_dir = "relative/dir";
    assert_int_equal(dd_broker_conf_render(&f->o, f->text, sizeof(f->text), NULL),
                     DD_BROKER_CONF_BAD_PARAMETER);
    f->o = saved;
    f->o.data_dir = NULL;
    assert_int_equal(dd_broker_conf_render(&f->o, f->text, sizeof(f->text), NULL),
                     DD_BROKER_CONF_BAD_PARAMETER);
    {
        static const int ports[][2] = {{0, 8443},     {8883, 0},  {8883, 8883},
                                       {65536, 8443}, {-1, 8443}, {8883, 70000}};

        for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
            f->o = saved;
            f->o.mqtt_port = ports[i][0];
            f->o.alpn_port = ports[i][1];
            assert_int_equal(dd_broker_conf_render(&f->o, f->text, sizeof(f->text), NULL),
                             DD_BROKER_CONF_BAD_PARAMETER);
        }
    }
    f->o = saved;
    f->o.mqtt_port = 65535;
    f->o.alpn_port = 1;
    render_ok(f);
    assert_int_equal(dd_broker_conf_render(NULL, f->text, sizeof(f->text), NULL),
                     DD_BROKER_CONF_BAD_PARAMETER);
    assert_int_equal(dd_broker_conf_render(&f->o, NULL, 10, NULL), DD_BROKER_CONF_BAD_PARAMETER);
}

static void test_dd_broker_conf_buffer_too_small(void **state)
{
    fixture_t *f = *state;
    char small[64];
    size_t need = 0;
    char *exact;

    render_ok(f);
    assert_int_equal(dd_broker_conf_render(&f->o, small, sizeof(small), &need),
                     DD_BROKER_CONF_BUFFER_TOO_SMALL);
    assert_int_equal(need, f->len);
    /* The size reported plus the NUL is enough, and gives the same text. */
    exact = malloc(need + 1);
    assert_non_null(exact);
    assert_int_equal(dd_broker_conf_render(&f->o, exact, need, NULL),
                     DD_BROKER_CONF_BUFFER_TOO_SMALL);
    assert_int_equal(dd_broker_conf_render(&f->o, exact, need + 1, NULL), DD_BROKER_CONF_OK);
    assert_string_equal(exact, f->text);
    free(exact);
}

static void test_dd_broker_conf_write_and_path(void **state)
{
    fixture_t *f = *state;
    char dir[] = "/tmp/test_dd_broker_conf.XXXXXX";
    char path[512];
    char *text = NULL;
    size_t len = 0;
    struct stat sb;

    assert_non_null(mkdtemp(dir));
    f->o.data_dir = dir;
    f->o.log_file = NULL;
    assert_int_equal(dd_broker_conf_path(dir, DD_BROKER_CONF_FILE, path, sizeof(path)),
                     DD_BROKER_CONF_OK);
    assert_non_null(strstr(path, "/broker/mosquitto.conf"));
    assert_int_equal(dd_broker_conf_write(&f->o, path), DD_BROKER_CONF_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    assert_int_equal(dd_fs_read_file(path, 0, &text, &len), DD_FS_OK);
    render_ok(f);
    assert_int_equal(len, f->len);
    assert_memory_equal(text, f->text, len);
    free(text);
    {
        char bdir[512];

        assert_int_equal(dd_broker_conf_path(dir, "", bdir, sizeof(bdir)), DD_BROKER_CONF_OK);
        assert_int_equal(stat(bdir, &sb), 0);
        assert_true(S_ISDIR(sb.st_mode));
        assert_int_equal(sb.st_mode & 0777, 0700);
    }
    /* Bad options write nothing. */
    f->o.mqtt_port = 0;
    assert_int_equal(dd_broker_conf_write(&f->o, path), DD_BROKER_CONF_BAD_PARAMETER);
    f->o.mqtt_port = 8883;
    assert_int_equal(dd_broker_conf_write(&f->o, "/nonexistent-dir/x/mosquitto.conf"),
                     DD_BROKER_CONF_IO_ERROR);

    assert_int_equal(dd_broker_conf_path(dir, "x", path, 5), DD_BROKER_CONF_BUFFER_TOO_SMALL);
    assert_int_equal(dd_broker_conf_path("", "x", path, sizeof(path)),
                     DD_BROKER_CONF_BAD_PARAMETER);
    assert_string_equal(dd_broker_conf_strerror(DD_BROKER_CONF_IO_ERROR), "I/O error");
    assert_string_equal(dd_broker_conf_strerror((dd_broker_conf_status_t)9), "unknown status");
    assert_int_equal(dd_fs_remove_tree(dir), DD_FS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_dd_broker_conf_defaults, setup),
        cmocka_unit_test_setup(test_dd_broker_conf_shim_settings, setup),
        cmocka_unit_test_setup(test_dd_broker_conf_every_option, setup),
        cmocka_unit_test_setup(test_dd_broker_conf_plain_baseline, setup),
        cmocka_unit_test_setup(test_dd_broker_conf_refuses_bad_values, setup),
        cmocka_unit_test_setup(test_dd_broker_conf_buffer_too_small, setup),
        cmocka_unit_test_setup(test_dd_broker_conf_write_and_path, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
