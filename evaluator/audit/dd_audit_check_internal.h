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

/* ---- policies and account settings (dd_audit_checks_policy.c) ---- */

#endif /* DD_AUDIT_CHECK_INTERNAL_H_ */
