/**
 * @file dd_audit_check_internal.h
 * @brief The computed checks, one function each, for the catalogue in
 *        dd_audit_check.c. Each follows dd_audit_check_fn's contract.
 */
#ifndef DD_AUDIT_CHECK_INTERNAL_H_
#define DD_AUDIT_CHECK_INTERNAL_H_

#include "dd_audit_check.h"

/* ---- certificates and CA certificates (dd_audit_checks_certs.c) ---- */

dd_audit_status_t dd_audit_check_ca_expiring(const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                             void *ctx, int64_t *resources_checked);
dd_audit_status_t dd_audit_check_ca_key_quality(const dd_audit_world_t *world,
                                                dd_audit_sink_fn sink, void *ctx,
                                                int64_t *resources_checked);
dd_audit_status_t dd_audit_check_device_expiring(const dd_audit_world_t *world,
                                                 dd_audit_sink_fn sink, void *ctx,
                                                 int64_t *resources_checked);
dd_audit_status_t dd_audit_check_device_key_quality(const dd_audit_world_t *world,
                                                    dd_audit_sink_fn sink, void *ctx,
                                                    int64_t *resources_checked);
/** Reads certAgeThresholdInDays (or CERT_AGE_THRESHOLD_IN_DAYS), 30..3652, default 365. */
dd_audit_status_t dd_audit_check_device_age(const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                            void *ctx, int64_t *resources_checked);
dd_audit_status_t dd_audit_check_revoked_ca(const dd_audit_world_t *world, dd_audit_sink_fn sink,
                                            void *ctx, int64_t *resources_checked);
dd_audit_status_t dd_audit_check_revoked_device(const dd_audit_world_t *world,
                                                dd_audit_sink_fn sink, void *ctx,
                                                int64_t *resources_checked);
dd_audit_status_t dd_audit_check_intermediate_ca_revoked(const dd_audit_world_t *world,
                                                         dd_audit_sink_fn sink, void *ctx,
                                                         int64_t *resources_checked);

/* ---- the broker's connection history (dd_audit_checks_conn.c) ---- */

/** DEVICE_CERTIFICATE_SHARED_CHECK: connections of different client ids open at the same time
 *  with one certificate, in the 31 days before the audit. One resource per certificate used. */
dd_audit_status_t dd_audit_check_device_certificate_shared(const dd_audit_world_t *world,
                                                           dd_audit_sink_fn sink, void *ctx,
                                                           int64_t *resources_checked);

/** CONFLICTING_CLIENT_IDS_CHECK: a connection closed by the broker because another one came
 *  with its client id, in the 31 days before the audit. One resource per client id used. */
dd_audit_status_t dd_audit_check_conflicting_client_ids(const dd_audit_world_t *world,
                                                        dd_audit_sink_fn sink, void *ctx,
                                                        int64_t *resources_checked);

/* ---- policies and account settings (dd_audit_checks_policy.c) ---- */

/** IOT_POLICY_OVERLY_PERMISSIVE_CHECK: default versions allowing data-plane actions broadly. */
dd_audit_status_t dd_audit_check_policy_permissive(const dd_audit_world_t *world,
                                                   dd_audit_sink_fn sink, void *ctx,
                                                   int64_t *resources_checked);
/** IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK: Deny statements that do not deny. */
dd_audit_status_t dd_audit_check_policy_misconfigured(const dd_audit_world_t *world,
                                                      dd_audit_sink_fn sink, void *ctx,
                                                      int64_t *resources_checked);
/** LOGGING_DISABLED_CHECK: neither the v1 nor the v2 logging options enable logging. */
dd_audit_status_t dd_audit_check_logging_disabled(const dd_audit_world_t *world,
                                                  dd_audit_sink_fn sink, void *ctx,
                                                  int64_t *resources_checked);

#endif /* DD_AUDIT_CHECK_INTERNAL_H_ */
