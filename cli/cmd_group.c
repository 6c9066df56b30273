/*
 * ddlocal group ...: static thing groups and their members.
 */
#include "dd_cli.h"
#include "dd_clienv.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char GROUP_HELP[] =
    "usage: ddlocal group <verb> [options]\n"
    "\n"
    "  create NAME [--parent PARENT] [--description TEXT]   Create a thing group.\n"
    "  add GROUP THING      Add a thing to a group (a running broker applies the\n"
    "                       group's policies to the thing's next packet). Prints\n"
    "                       what it did, or that the thing already was in the group.\n"
    "  remove GROUP THING   Remove a thing from a group. Prints what it did, or that\n"
    "                       the thing was not in the group (nothing changes; exit\n"
    "                       status 0, as AWS's RemoveThingFromThingGroup).\n"
    "  describe NAME        Show a group, its parent chain, members and policies.\n"
    "  list                 List groups.\n"
    "  delete NAME          Delete a group without child groups.\n"
    "\n"
    "common options:\n"
    "  -D, --data-dir DIR  data dir (default $DDLOCAL_DATA_DIR or ./ddlocal-data)\n";

enum { OPT_PARENT = 1000, OPT_DESCRIPTION };

static const struct option GROUP_OPTIONS[] = {
    {"data-dir", required_argument, NULL, 'D'},
    {"parent", required_argument, NULL, OPT_PARENT},
    {"description", required_argument, NULL, OPT_DESCRIPTION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int add_string(void *ctx, const char *name)
{
    cJSON *s = cJSON_CreateString(name);

    if (s != NULL) {
        (void)cJSON_AddItemToArray(ctx, s);
    }
    return 0;
}

static int group_to_json(void *ctx, const dd_registry_group_t *g)
{
    cJSON *obj = cJSON_CreateObject();

    (void)cJSON_AddStringToObject(obj, "groupName", g->name);
    (void)cJSON_AddStringToObject(obj, "groupId", g->group_id);
    if (g->parent[0] != '\0') {
        (void)cJSON_AddStringToObject(obj, "parentGroupName", g->parent);
    }
    if (g->description[0] != '\0') {
        (void)cJSON_AddStringToObject(obj, "description", g->description);
    }
    (void)cJSON_AddNumberToObject(obj, "version", (double)g->version);
    if (cJSON_IsArray(ctx)) {
        (void)cJSON_AddItemToArray(ctx, obj);
    } else {
        (void)cJSON_AddItemToObject(ctx, "thingGroup", obj);
    }
    return 0;
}

/* Is the thing directly in the group? (A missing thing or group is the registry's error.) */
typedef struct member_ctx {
    const char *group;
    bool found;
} member_ctx_t;

static int is_group(void *ctx, const char *name)
{
    member_ctx_t *m = ctx;

    if (strcmp(name, m->group) == 0) {
        m->found = true;
        return 1;
    }
    return 0;
}

static dd_registry_status_t thing_in_group(dd_clienv_t *env, const char *group, const char *thing,
                                           bool *in, dd_registry_error_t *err)
{
    member_ctx_t m = {group, false};
    dd_registry_status_t st;

    st = dd_registry_group_get(&env->reg, group, NULL, NULL, err);
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_thing_groups(&env->reg, thing, NULL, is_group, &m, NULL, 0, err);
    }
    *in = m.found;
    return st;
}

/* add / remove: say what happened - the thing's membership is what the broker enforces. */
static dd_registry_status_t change_membership(dd_clienv_t *env, bool add, const char *group,
                                              const char *thing, dd_registry_error_t *err)
{
    dd_registry_status_t st;
    bool in = false;

    st = thing_in_group(env, group, thing, &in, err);
    if (st != DD_REGISTRY_OK) {
        return st;
    }
    if (add && in) {
        printf("%s is already in thing group %s; nothing changed\n", thing, group);
        return DD_REGISTRY_OK;
    }
    if (!add && !in) {
        printf("%s is not in thing group %s; nothing removed\n", thing, group);
        return DD_REGISTRY_OK;
    }
    st = add ? dd_registry_group_add_thing(&env->reg, group, thing, err)
             : dd_registry_group_remove_thing(&env->reg, group, thing, err);
    if (st == DD_REGISTRY_OK) {
        printf(add ? "added %s to thing group %s\n" : "removed %s from thing group %s\n", thing,
               group);
    }
    return st;
}

static int group_describe(dd_clienv_t *env, const char *name)
{
    dd_registry_error_t err;
    dd_registry_status_t st;
    cJSON *out = cJSON_CreateObject();
    char arn[DD_ARN_MAX];

    st = dd_registry_group_get(&env->reg, name, group_to_json, out, &err);
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_group_ancestors(&env->reg, name, add_string,
                                         cJSON_AddArrayToObject(out, "rootToParent"));
    }
    if (st == DD_REGISTRY_OK) {
        st = dd_registry_group_things(&env->reg, name, false, NULL, add_string,
                                      cJSON_AddArrayToObject(out, "things"), NULL, 0, &err);
    }
    if (st == DD_REGISTRY_OK) {
        (void)dd_arn_format(&env->reg.arn, DD_NAME_THING_GROUP, name, arn, sizeof(arn));
        st =
            dd_registry_policies_for_target(&env->reg, arn, false, NULL, add_string,
                                            cJSON_AddArrayToObject(out, "policies"), NULL, 0, &err);
    }
    if (st != DD_REGISTRY_OK) {
        cJSON_Delete(out);
        return dd_clienv_registry_error(st, &err);
    }
    return dd_clienv_print_json(out);
}

int dd_cmd_group(int argc, char **argv)
{
    const char *data_dir = dd_clienv_default_data_dir();
    const char *parent = NULL;
    const char *description = NULL;
    dd_registry_error_t err;
    dd_registry_status_t st = DD_REGISTRY_OK;
    dd_clienv_t env;
    const char *verb;
    char **pos;
    int npos;
    int c;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(GROUP_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? DD_CLI_USAGE : 0;
    }
    verb = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "D:h", GROUP_OPTIONS, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case OPT_PARENT: parent = optarg; break;
        case OPT_DESCRIPTION: description = optarg; break;
        case 'h': fputs(GROUP_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("group", "unknown option");
        }
    }
    pos = argv + 1 + optind;
    npos = argc - 1 - optind;
    if ((strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0) && npos != 2) {
        return dd_clienv_usage_error("group", "'%s' takes GROUP and THING", verb);
    }
    if ((strcmp(verb, "create") == 0 || strcmp(verb, "describe") == 0 ||
         strcmp(verb, "delete") == 0) &&
        npos != 1) {
        return dd_clienv_usage_error("group", "'%s' takes a group NAME", verb);
    }
    if (strcmp(verb, "create") != 0 && strcmp(verb, "add") != 0 && strcmp(verb, "remove") != 0 &&
        strcmp(verb, "describe") != 0 && strcmp(verb, "list") != 0 && strcmp(verb, "delete") != 0) {
        return dd_clienv_usage_error("group", "unknown verb '%s'", verb);
    }
    if (dd_clienv_open(&env, data_dir) != DD_CLIENV_OK) {
        return 1;
    }
    if (strcmp(verb, "create") == 0 && dd_clienv_follow_seed(&env) != DD_CLIENV_OK) {
        fprintf(stderr, "ddlocal group: cannot read the data dir's seed\n");
        dd_clienv_close(&env);
        return 1;
    }
    rc = 0;
    if (strcmp(verb, "create") == 0) {
        char id[40];
        st = dd_registry_group_create(&env.reg, pos[0], parent, description, NULL, id, sizeof(id),
                                      &err);
        if (st == DD_REGISTRY_OK) {
            cJSON *out = cJSON_CreateObject();
            (void)dd_registry_group_get(&env.reg, pos[0], group_to_json, out, NULL);
            rc = dd_clienv_print_json(out);
        }
    } else if (strcmp(verb, "add") == 0) {
        st = change_membership(&env, true, pos[0], pos[1], &err);
    } else if (strcmp(verb, "remove") == 0) {
        st = change_membership(&env, false, pos[0], pos[1], &err);
    } else if (strcmp(verb, "describe") == 0) {
        rc = group_describe(&env, pos[0]);
    } else if (strcmp(verb, "list") == 0) {
        cJSON *out = cJSON_CreateObject();
        st = dd_registry_group_list(&env.reg, NULL, NULL, true, NULL, group_to_json,
                                    cJSON_AddArrayToObject(out, "thingGroups"), NULL, 0, &err);
        rc = st == DD_REGISTRY_OK ? dd_clienv_print_json(out) : (cJSON_Delete(out), 1);
    } else {
        st = dd_registry_group_delete(&env.reg, pos[0], -1, &err);
    }
    if (st != DD_REGISTRY_OK) {
        rc = dd_clienv_registry_error(st, &err);
    }
    dd_clienv_close(&env);
    return rc;
}
