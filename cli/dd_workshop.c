#include "dd_workshop.h"

#include "dd_apiclient.h"
#include "dd_clienv.h"
#include "dd_fs.h"
#include "dd_paths.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fixtures_dir(void)
{
    return dd_paths_get(DD_PATHS_FIXTURES);
}

static char *read_fixture(const char *rel)
{
    char path[700];
    char *text = NULL;
    size_t len = 0;

    (void)snprintf(path, sizeof(path), "%s/%s", fixtures_dir(), rel);
    if (dd_fs_read_file(path, 1 << 20, &text, &len) != DD_FS_OK) {
        fprintf(stderr, "ddlocal: cannot read the fixture %s\n", path);
        return NULL;
    }
    return text;
}

static int write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[800];

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (dd_fs_mkdirs(dir, 0700) != DD_FS_OK ||
        dd_fs_write_atomic(path, text, strlen(text), mode) != DD_FS_OK) {
        fprintf(stderr, "ddlocal: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* CreatePolicy (an existing policy is fine); returns 0 on success. */
static int create_policy(const char *api, const char *name, const char *fixture)
{
    char *doc = read_fixture(fixture);
    char path[256];
    cJSON *body;
    int rc;

    if (doc == NULL) {
        return 1;
    }
    body = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(body, "policyDocument", doc);
    free(doc);
    (void)snprintf(path, sizeof(path), "/policies/%s", name);
    rc = dd_apiclient_json_h(api, "POST", path, NULL, body, 409, NULL, NULL) == DD_APICLIENT_OK ? 0
                                                                                                : 1;
    cJSON_Delete(body);
    return rc;
}

static int attach_policy(const char *api, const char *policy, const char *target_arn)
{
    char path[256];
    cJSON *body = cJSON_CreateObject();
    int rc;

    (void)cJSON_AddStringToObject(body, "target", target_arn);
    (void)snprintf(path, sizeof(path), "/target-policies/%s", policy);
    rc = dd_apiclient_json(api, "PUT", path, body, NULL) == DD_APICLIENT_OK ? 0 : 1;
    cJSON_Delete(body);
    return rc;
}

/* A thing with its own certificate, files written for the device. */
static int create_device(const char *api, const char *data_dir, const char *thing,
                         const char *root_ca, const char *endpoint)
{
    char path[256];
    char header[600];
    char dir[700];
    cJSON *body = cJSON_CreateObject();
    cJSON *attrs =
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(body, "attributePayload"), "attributes");
    cJSON *keys = NULL;
    const char *arn;
    const char *pem;
    const char *priv;
    const char *pub;
    int rc = 1;

    (void)cJSON_AddStringToObject(attrs, "SensorType", "DHT22");
    (void)snprintf(path, sizeof(path), "/things/%s", thing);
    if (dd_apiclient_json_h(api, "POST", path, NULL, body, 409, NULL, NULL) != DD_APICLIENT_OK ||
        dd_apiclient_json(api, "POST", "/keys-and-certificate?setAsActive=true", NULL, &keys) !=
            DD_APICLIENT_OK) {
        cJSON_Delete(body);
        return 1;
    }
    cJSON_Delete(body);
    arn = cJSON_GetStringValue(cJSON_GetObjectItem(keys, "certificateArn"));
    pem = cJSON_GetStringValue(cJSON_GetObjectItem(keys, "certificatePem"));
    priv = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(keys, "keyPair"), "PrivateKey"));
    pub = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(keys, "keyPair"), "PublicKey"));
    if (arn == NULL || pem == NULL || priv == NULL || pub == NULL) {
        fprintf(stderr,
                "ddlocal: CreateKeysAndCertificate answered without a certificate and key pair\n");
        cJSON_Delete(keys);
        return 1;
    }
    (void)snprintf(header, sizeof(header), "x-amzn-principal: %s", arn);
    (void)snprintf(path, sizeof(path), "/things/%s/principals", thing);
    if (dd_apiclient_json_h(api, "PUT", path, header, NULL, 0, NULL, NULL) == DD_APICLIENT_OK &&
        attach_policy(api, "DevicePolicy", arn) == 0) {
        (void)snprintf(dir, sizeof(dir), "%s/workshop/%s", data_dir, thing);
        rc = write_file(dir, "cert.pem", pem, 0644) | write_file(dir, "private.key", priv, 0600) |
             write_file(dir, "public.key", pub, 0644) |
             write_file(dir, "rootca.pem", root_ca, 0644);
        if (rc == 0 && strcmp(thing, "Thing03") == 0) {
            /* SensorDevice03 gets the workshop's /tmp layout. */
            (void)snprintf(dir, sizeof(dir), "%s/workshop/tmp", data_dir);
            rc = write_file(dir, "cert.pem", pem, 0644) |
                 write_file(dir, "private.key", priv, 0600) |
                 write_file(dir, "rootca.pem", root_ca, 0644) |
                 write_file(dir, "endpoint", endpoint, 0644);
        }
    }
    cJSON_Delete(keys);
    return rc;
}

/*
 * Module 1's shared certificate: one certificate attached to all three things with the
 * DevicePolicy, as the workshop's CloudFormation stack makes it (its key lives in Secrets Manager
 * there, in DIR/workshop/shared/ here). Module 2's audit finds it once two devices used it at the
 * same time; the per-thing certificates made above are what the devices use after Module 2
 * deactivates this one.
 */
static int create_shared_certificate(const char *api, const char *data_dir, const char *root_ca)
{
    char path[256];
    char header[600];
    char dir[700];
    cJSON *keys = NULL;
    const char *arn;
    const char *pem;
    const char *priv;
    const char *pub;
    int rc = 0;
    int i;

    if (dd_apiclient_json(api, "POST", "/keys-and-certificate?setAsActive=true", NULL, &keys) !=
        DD_APICLIENT_OK) {
        return 1;
    }
    arn = cJSON_GetStringValue(cJSON_GetObjectItem(keys, "certificateArn"));
    pem = cJSON_GetStringValue(cJSON_GetObjectItem(keys, "certificatePem"));
    priv = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(keys, "keyPair"), "PrivateKey"));
    pub = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(keys, "keyPair"), "PublicKey"));
    if (arn == NULL || pem == NULL || priv == NULL || pub == NULL) {
        fprintf(stderr,
                "ddlocal: CreateKeysAndCertificate answered without a certificate and key pair\n");
        cJSON_Delete(keys);
        return 1;
    }
    (void)snprintf(header, sizeof(header), "x-amzn-principal: %s", arn);
    for (i = 1; rc == 0 && i <= 3; i++) {
        (void)snprintf(path, sizeof(path), "/things/Thing0%d/principals", i);
        rc = dd_apiclient_json_h(api, "PUT", path, header, NULL, 0, NULL, NULL) == DD_APICLIENT_OK
                 ? 0
                 : 1;
    }
    if (rc == 0) {
        rc = attach_policy(api, "DevicePolicy", arn);
    }
    if (rc == 0) {
        (void)snprintf(dir, sizeof(dir), "%s/workshop/shared", data_dir);
        rc = write_file(dir, "cert.pem", pem, 0644) | write_file(dir, "private.key", priv, 0600) |
             write_file(dir, "public.key", pub, 0644) |
             write_file(dir, "rootca.pem", root_ca, 0644) |
             write_file(dir, "certificate-id",
                        cJSON_GetStringValue(cJSON_GetObjectItem(keys, "certificateId")) != NULL
                            ? cJSON_GetStringValue(cJSON_GetObjectItem(keys, "certificateId"))
                            : "",
                        0644);
    }
    cJSON_Delete(keys);
    return rc;
}

/*
 * Module 1's audit settings: every check of the account's configuration enabled (the workshop's
 * custom resource enables every check the API had) with an audit role, then one on-demand audit
 * of them all, its non-compliant checks printed - the audit Module 2 starts by looking at.
 * Logging stays off: a fresh account has no logging options, which is what the workshop's
 * LOGGING_DISABLED_CHECK finding needs.
 */
static int run_first_audit(const char *api, const char *account)
{
    cJSON *config = NULL;
    cJSON *update = cJSON_CreateObject();
    cJSON *checks = cJSON_AddObjectToObject(update, "auditCheckConfigurations");
    cJSON *start = cJSON_CreateObject();
    cJSON *names = cJSON_AddArrayToObject(start, "targetCheckNames");
    cJSON *task = NULL;
    cJSON *check;
    char role[DD_ARN_MAX];
    char path[256];
    const char *task_id;
    int rc = 1;

    (void)snprintf(role, sizeof(role), "arn:aws:iam::%s:role/AWSIoTDeviceDefenderAudit", account);
    (void)cJSON_AddStringToObject(update, "roleArn", role);
    if (dd_apiclient_json(api, "GET", "/audit/configuration", NULL, &config) != DD_APICLIENT_OK) {
        goto done;
    }
    cJSON_ArrayForEach (check, cJSON_GetObjectItem(config, "auditCheckConfigurations")) {
        (void)cJSON_AddBoolToObject(cJSON_AddObjectToObject(checks, check->string), "enabled", 1);
        cJSON_AddItemToArray(names, cJSON_CreateString(check->string));
    }
    if (dd_apiclient_json(api, "PATCH", "/audit/configuration", update, NULL) != DD_APICLIENT_OK ||
        dd_apiclient_json(api, "POST", "/audit/tasks", start, &task) != DD_APICLIENT_OK) {
        goto done;
    }
    task_id = cJSON_GetStringValue(cJSON_GetObjectItem(task, "taskId"));
    if (task_id == NULL) {
        fprintf(stderr, "ddlocal: StartOnDemandAuditTask answered without a taskId\n");
        goto done;
    }
    (void)snprintf(path, sizeof(path), "/audit/tasks/%s", task_id);
    cJSON_Delete(config);
    config = NULL;
    if (dd_apiclient_json(api, "GET", path, NULL, &config) != DD_APICLIENT_OK) {
        goto done;
    }
    printf("On-demand audit %s (all %d checks) - non-compliant:\n", task_id,
           cJSON_GetArraySize(names));
    cJSON_ArrayForEach (check, cJSON_GetObjectItem(config, "auditDetails")) {
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(check, "checkRunStatus"));
        if (status != NULL && strcmp(status, "COMPLETED_NON_COMPLIANT") == 0) {
            printf("  %-40s %d resource(s)\n", check->string,
                   (int)cJSON_GetNumberValue(
                       cJSON_GetObjectItem(check, "nonCompliantResourcesCount")));
        }
    }
    rc = 0;
done:
    cJSON_Delete(config);
    cJSON_Delete(update);
    cJSON_Delete(start);
    cJSON_Delete(task);
    return rc;
}

/* CreateSecurityProfile from a fixture (an existing one is kept) + attach to all things. */
static int create_profile(const char *api, const char *fixture, const char *name,
                          const char *all_things_arn)
{
    char *text = read_fixture(fixture);
    char path[512];
    char escaped[256];
    cJSON *body;
    int rc;

    if (text == NULL) {
        return 1;
    }
    body = cJSON_Parse(text);
    free(text);
    if (body == NULL) {
        fprintf(stderr, "ddlocal: the fixture %s is not JSON\n", fixture);
        return 1;
    }
    cJSON_DeleteItemFromObject(body, "securityProfileName");
    (void)snprintf(path, sizeof(path), "/security-profiles/%s", name);
    rc = dd_apiclient_json_h(api, "POST", path, NULL, body, 409, NULL, NULL) == DD_APICLIENT_OK ? 0
                                                                                                : 1;
    cJSON_Delete(body);
    if (rc == 0) {
        dd_apiclient_escape(all_things_arn, escaped, sizeof(escaped));
        (void)snprintf(path, sizeof(path),
                       "/security-profiles/%s/targets?securityProfileTargetArn=%s", name, escaped);
        rc = dd_apiclient_json(api, "PUT", path, NULL, NULL) == DD_APICLIENT_OK ? 0 : 1;
    }
    return rc;
}

/* The two workshop profiles, attached to all things; existing ones are kept as they are. */
static int create_profiles(const char *api_url, const char *all_things)
{
    int rc = create_profile(api_url, "profiles/module4-workshop.json", DD_WORKSHOP_MODULE4_PROFILE,
                            all_things);

    return rc != 0 ? rc
                   : create_profile(api_url, "profiles/module3-intended.json",
                                    DD_WORKSHOP_MODULE3_PROFILE, all_things);
}

int dd_workshop_provision(const char *data_dir, const char *api_url, bool with_profiles)
{
    dd_clienv_t env;
    char *done = NULL;
    char *root_ca = NULL;
    char path[700];
    char arn[DD_ARN_MAX];
    char all_things[DD_ARN_MAX];
    char endpoint[64] = "127.0.0.1\n";
    size_t len = 0;
    int rc = 0;
    int i;

    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    (void)dd_registry_setting_get(&env.reg, "workshop_provisioned", &done);
    (void)dd_arn_format(&env.reg.arn, DD_NAME_THING_GROUP, DD_WORKSHOP_GROUP, arn, sizeof(arn));
    (void)dd_arn_format_target(&env.reg.arn, DD_ARN_TARGET_ALL_THINGS, NULL, all_things,
                               sizeof(all_things));
    (void)dd_pki_path(env.data_dir, DD_PKI_FILE_ROOTCA_CERT, path, sizeof(path));
    if (done != NULL) {
        /* The world exists; profiles asked for later are still made (each only once). */
        free(done);
        rc = with_profiles ? create_profiles(api_url, all_things) : 0;
        if (rc != 0) {
            fprintf(stderr, "ddlocal: creating the workshop's security profiles failed\n");
        }
        dd_clienv_close(&env);
        return rc != 0 ? 1 : 0;
    }
    if (dd_fs_read_file(path, 1 << 20, &root_ca, &len) != DD_FS_OK) {
        fprintf(stderr, "ddlocal: cannot read %s\n", path);
        dd_clienv_close(&env);
        return 1;
    }
    printf(
        "Provisioning the workshop's world (things, certificates, policies, group, audit%s)...\n",
        with_profiles ? ", security profiles" : "");
    rc |= create_policy(api_url, "DevicePolicy", "policies/device-policy-allow-all.json");
    for (i = 1; rc == 0 && i <= 3; i++) {
        char thing[16];
        (void)snprintf(thing, sizeof(thing), "Thing0%d", i);
        rc |= create_device(api_url, env.data_dir, thing, root_ca, endpoint);
    }
    if (rc == 0) {
        cJSON *empty = cJSON_CreateObject();
        rc |= dd_apiclient_json_h(api_url, "POST", "/thing-groups/" DD_WORKSHOP_GROUP, NULL, empty,
                                  409, NULL, NULL) == DD_APICLIENT_OK
                  ? 0
                  : 1;
        cJSON_Delete(empty);
        rc |= create_policy(api_url, "DenyAll", "policies/deny-all.json");
        rc |= rc == 0 ? attach_policy(api_url, "DenyAll", arn) : 0;
    }
    if (rc == 0) {
        rc = create_shared_certificate(api_url, env.data_dir, root_ca);
    }
    if (rc == 0) {
        rc = run_first_audit(api_url, env.reg.arn.account);
    }
    if (rc == 0) {
        (void)dd_registry_setting_set(&env.reg, "workshop_provisioned", "1");
        rc = with_profiles ? create_profiles(api_url, all_things) : 0;
    }
    if (rc != 0) {
        fprintf(stderr, "ddlocal: workshop provisioning failed; fix the cause and run `ddlocal up "
                        "--workshop` again\n");
    }
    free(root_ca);
    dd_clienv_close(&env);
    return rc != 0 ? 1 : 0;
}

/* Folders of ddlocal and of the device programs, for the PATH line the walkthrough needs. */
static void program_dirs(char *path_dirs, size_t len)
{
    char self[PATH_MAX];
    char devices[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    (void)snprintf(devices, sizeof(devices), "%s", dd_paths_get(DD_PATHS_AGENT));
    slash = strrchr(devices, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    if (n <= 0) {
        (void)snprintf(path_dirs, len, "%s", slash != NULL ? devices : ".");
        return;
    }
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    if (strcmp(self, devices) == 0 || strchr(devices, '/') == NULL) {
        (void)snprintf(path_dirs, len, "%s", self);
    } else {
        (void)snprintf(path_dirs, len, "%s:%s", self, devices);
    }
}

void dd_workshop_print_steps(const char *data_dir, unsigned mqtt_port, const char *api_url,
                             const dd_clock_t *clock)
{
    const char *d = data_dir;
    unsigned p = mqtt_port;
    dd_clienv_t env;
    char region[DD_ARN_PART_MAX] = "us-east-1";
    char dirs[2 * PATH_MAX + 2];
    const char *timing;

    /* The AWS CLI needs a region (the data dir's, for its ARNs) and some credentials even though
     * ddlocal ignores signatures; a fresh machine has neither configured. */
    if (dd_clienv_open(&env, data_dir) == DD_CLIENV_OK) {
        if (env.reg.arn.region[0] != '\0') {
            (void)snprintf(region, sizeof(region), "%s", env.reg.arn.region);
        }
        dd_clienv_close(&env);
    }
    program_dirs(dirs, sizeof(dirs));
    /* The device programs find the clock through DDLOCAL_DATA_DIR (endpoints.json) and schedule on
     * it, so the workshop's own intervals hold at any --time-scale; a manual clock they cannot follow. */
    if (clock != NULL && clock->mode == DD_CLOCK_MANUAL) {
        timing = "  The clock is manual: devices do not follow it, they count real seconds; move "
                 "pipeline time\n"
                 "  with `ddlocal clock advance SECONDS`.\n";
    } else {
        timing = "  Devices follow the pipeline clock: the agent's -i 300 and the sensor's 10 s "
                 "are pipeline\n"
                 "  seconds, at any --time-scale.\n";
    }

    printf(
        "\nWorkshop (Modules 1-5): docs/workshop-walkthrough.md has every step. In another "
        "terminal, first:\n"
        "    export PATH=%s:$PATH\n"
        "    export DDLOCAL_DATA_DIR=%s\n"
        "%s"
        "  Module 2   the audit: the certificate the three things share is in "
        "%s/workshop/shared/\n"
        "             (its id in certificate-id); connect two devices with it, then\n"
        "             `aws iot start-on-demand-audit-task` finds it (walkthrough, Modules 1 and "
        "2).\n"
        "  Module 3   SensorDevice01/02 send telemetry (both healthy; start them before the "
        "profile of\n"
        "             step 3.2, so that their first windows are equal):\n"
        "    ddlocal-sensor -e 127.0.0.1 --port %u -r %s/workshop/Thing01/rootca.pem \\\n"
        "      -c %s/workshop/Thing01/cert.pem -k %s/workshop/Thing01/private.key \\\n"
        "      -t temperature-device-01 -n SensorDevice01 --persistent &\n"
        "    ddlocal-sensor ... (Thing02's files) -t temperature-device-02 -n SensorDevice02 "
        "--persistent &\n"
        "  then create the profile (walkthrough step 3.2; `ddlocal up --workshop --with-profiles` "
        "makes both\n"
        "  workshop profiles for you); step 3.4 compromises SensorDevice02: restart its sensor "
        "with\n"
        "  --compromised (3000-character messages).\n"
        "  Module 4   open a shell on SensorDevice03 - the workshop's Cloud9 host, a network "
        "namespace of its\n"
        "             own, so its agent measures only its own traffic:\n"
        "    ddlocal device SensorDevice03 -D %s\n"
        "  and there (127.0.0.1:8883 is the broker; the workshop's /tmp files are in "
        "%s/workshop/tmp):\n"
        "    cd %s/workshop/tmp\n"
        "    ddlocal-sensor -e 127.0.0.1 -r rootca.pem -c cert.pem -k private.key \\\n"
        "      -t temperature-device-03 -n SensorDevice03 --persistent &\n"
        "    ddlocal-agent --endpoint 127.0.0.1 --rootCA rootca.pem --cert cert.pem --key "
        "private.key \\\n"
        "      --client_id SensorDevice03 --thing_name Thing03 --format json -i 300 &\n"
        "  then restart the sensor with --compromised and watch Thing03 move to IsolatedDevices.\n"
        "  Alerts:     mosquitto_sub -h 127.0.0.1 -p %u --cafile %s/pki/rootca.pem \\\n"
        "                --cert %s/pki/service.pem --key %s/pki/service.key -i ddlocal-watch -t "
        "'ddlocal/sns/#' -v\n"
        "  Violations (any credentials do; ddlocal does not check signatures):\n"
        "    AWS_PAGER= AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \\\n"
        "      aws iot list-active-violations --endpoint-url %s --region %s\n"
        "  Module 5:   a webhook receiver (from the repository's top dir), subscribed to the "
        "topic:\n"
        "    mkdir -p %s/hooks\n"
        "    HOOK_PORT=$(python3 tests/integration/webhook_receiver.py --background %s/hooks)\n"
        "    ddlocal sns subscribe BadIoTDevices http://127.0.0.1:$HOOK_PORT/ok/alerts -D %s\n"
        "  The Module 4 story, narrated: ddlocal demo module4\n\n",
        dirs, d, timing, d, p, d, d, d, d, d, d, p, d, d, d, api_url, region, d, d, d);
}
