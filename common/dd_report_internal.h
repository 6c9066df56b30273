/**
 * @file dd_report_internal.h
 * @brief Private to dd_report*.c: the format-neutral view of a parsed
 *        document that the validator walks, the key table, and the
 *        per-format entry points.
 *
 * The validator (dd_report.c) never sees cJSON or libcbor types: each wire
 * format supplies a dd_rops_t that answers "what kind is this node", "give
 * me its number / string", and iterates arrays and maps. Nodes stay owned by
 * the parser's tree (cJSON items, or the CBOR back-end's arena) for the whole
 * decode, and CBOR strings point into the payload, so strings the validator
 * keeps are copied into the report. Temporary memory (the CBOR tree builder,
 * joined chunked strings) comes from dd_report_scratch() and is released when
 * the decode ends.
 */
#ifndef DD_REPORT_INTERNAL_H_
#define DD_REPORT_INTERNAL_H_

#include <stdarg.h>

#include "dd_report.h"

/** Every member name of the report schema (custom inner keys have no short form). */
typedef enum dd_rkey {
    DD_RK_HEADER = 0,
    DD_RK_REPORT_ID,
    DD_RK_VERSION,
    DD_RK_METRICS,
    DD_RK_CUSTOM_METRICS,
    DD_RK_TCP_CONNECTIONS,
    DD_RK_ESTABLISHED,
    DD_RK_CONNECTIONS,
    DD_RK_REMOTE_ADDR,
    DD_RK_LOCAL_PORT,
    DD_RK_LOCAL_INTERFACE,
    DD_RK_TOTAL,
    DD_RK_LISTENING_TCP,
    DD_RK_LISTENING_UDP,
    DD_RK_PORTS,
    DD_RK_PORT,
    DD_RK_INTERFACE,
    DD_RK_NETWORK_STATS,
    DD_RK_BYTES_IN,
    DD_RK_BYTES_OUT,
    DD_RK_PACKETS_IN,
    DD_RK_PACKETS_OUT,
    DD_RK_COUNT
} dd_rkey_t;

/** One schema key in both spellings. */
typedef struct dd_rkey_name {
    const char *name[2]; /**< [DD_REPORT_KEYS_LONG], [DD_REPORT_KEYS_SHORT] */
    unsigned char len[2];
} dd_rkey_name_t;

extern const dd_rkey_name_t dd_report_keys[DD_RK_COUNT];

/** @return The spelling of @p key in @p style. */
static inline const char *dd_report_key(dd_rkey_t key, dd_report_keys_t style)
{
    return dd_report_keys[key].name[style == DD_REPORT_KEYS_SHORT ? 1 : 0];
}

/** Custom metric inner keys, indexed by dd_custom_kind_t. */
extern const char *const dd_report_custom_keys[4];

/** Node kinds as the validator sees them. */
typedef enum dd_rval {
    DD_RV_NULL = 0, /**< JSON null, CBOR null / undefined: "absent" */
    DD_RV_BOOL,
    DD_RV_NUMBER,
    DD_RV_STRING,
    DD_RV_ARRAY,
    DD_RV_MAP,
    DD_RV_OTHER /**< CBOR byte string, tag, simple value */
} dd_rval_t;

/** A number as found on the wire. */
typedef struct dd_rnum {
    enum { DD_RN_UINT, DD_RN_NEGINT, DD_RN_FLOAT } kind;
    uint64_t u; /**< UINT: the value; NEGINT: the value is -1 - u */
    double d;   /**< FLOAT */
} dd_rnum_t;

/** One array element or map member. */
typedef struct dd_rmember {
    const char *key; /**< Map key text, NULL for arrays and non-text keys. */
    size_t key_len;
    const void *value;
} dd_rmember_t;

/** Iteration state over one array or map. */
typedef struct dd_riter {
    const void *node;
    const void *cur;
    size_t index;
} dd_riter_t;

typedef struct dd_rctx dd_rctx_t;

/** A wire format's view of its parse tree. */
typedef struct dd_rops {
    dd_rval_t (*kind)(const void *node);
    /** Only called on DD_RV_NUMBER nodes. */
    void (*number)(const void *node, dd_rnum_t *out);
    /** Only called on DD_RV_STRING nodes; false = out of memory. */
    bool (*string)(dd_rctx_t *c, const void *node, const char **s, size_t *len);
    /** Elements of an array / members of a map. */
    size_t (*count)(const void *node);
    void (*iter_init)(const void *node, dd_riter_t *it);
    /** @return 1 with a member, 0 at the end, -1 out of memory. */
    int (*iter_next)(dd_rctx_t *c, dd_riter_t *it, dd_rmember_t *m);
    /** Integers travel as doubles: refuse those above DD_REPORT_JSON_MAX_INT. */
    bool doubles_only;
} dd_rops_t;

/** Longest member path kept for error details (the schema is 7 deep). */
#define DD_RPATH_MAX 12

typedef struct dd_rscratch dd_rscratch_t;

/** Decode state shared by the validator and the format back-ends. */
struct dd_rctx {
    const dd_rops_t *ops;
    dd_report_options_t opts;
    dd_report_t *out;
    dd_report_error_t *err;
    dd_rscratch_t *scratch;
    size_t depth;
    struct {
        const char *key; /**< As sent; NULL for an array index frame */
        size_t len;
        size_t index;
    } path[DD_RPATH_MAX];
    bool used_long;
    bool used_short;
};

/** @brief Temporary memory released when the decode ends; NULL when out of memory. */
void *dd_report_scratch(dd_rctx_t *c, size_t n);

/**
 * @brief Records a refusal: err->status and err->detail ("<path>: <message>").
 * @return @p status.
 */
dd_report_status_t dd_report_fail(dd_rctx_t *c, dd_report_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** @brief Validates a parsed document into c->out (the format-neutral part). */
dd_report_status_t dd_report_walk(dd_rctx_t *c, const void *root);

/** @brief Parses JSON and runs dd_report_walk(). */
dd_report_status_t dd_report_json_decode(dd_rctx_t *c, const uint8_t *payload, size_t len);

/** JSON back-end over a tree the caller parsed (dd_report_decode_cjson()). */
dd_report_status_t dd_report_json_decode_tree(dd_rctx_t *c, const void *root);

/** @brief Parses CBOR and runs dd_report_walk(). */
dd_report_status_t dd_report_cbor_decode(dd_rctx_t *c, const uint8_t *payload, size_t len);

dd_report_status_t dd_report_json_encode(const dd_report_t *report, dd_report_keys_t keys,
                                         uint8_t *buf, size_t len, size_t *out_len);
/** The JSON half of dd_report_encode_cached() (parameters checked by the caller). */
dd_report_status_t dd_report_json_encode_cached(dd_report_cache_t *cache, const dd_report_t *report,
                                                dd_report_keys_t keys, uint8_t *buf, size_t len,
                                                size_t *out_len);
dd_report_status_t dd_report_cbor_encode(const dd_report_t *report, dd_report_keys_t keys,
                                         uint8_t *buf, size_t len, size_t *out_len);

/** A reply, for both formats. */
typedef struct dd_reply {
    const char *thing_name;
    bool has_report_id;
    uint64_t report_id;
    bool accepted;
    const char *error_code;    /**< rejected only */
    const char *error_message; /**< rejected only */
    int64_t timestamp_ms;
} dd_reply_t;

dd_report_status_t dd_report_json_reply(const dd_reply_t *reply, uint8_t *buf, size_t len,
                                        size_t *out_len);
dd_report_status_t dd_report_cbor_reply(const dd_reply_t *reply, uint8_t *buf, size_t len,
                                        size_t *out_len);

/** @brief Checks what both encoders need (finite numbers, known kinds, no NULL lists). */
dd_report_status_t dd_report_check_encodable(const dd_report_t *report);

#endif /* DD_REPORT_INTERNAL_H_ */
