/**
 * @file dd_audit_check_internal.h
 * @brief The computed checks, one function each, for the catalogue in
 *        dd_audit_check.c. Each follows dd_audit_check_fn's contract.
 */
#ifndef DD_AUDIT_CHECK_INTERNAL_H_
#define DD_AUDIT_CHECK_INTERNAL_H_

#include "dd_audit_check.h"

/* ---- certificates and CA certificates (dd_audit_checks_certs.c) ---- */

/* ---- the broker's connection history (dd_audit_checks_conn.c) ---- */

/* ---- policies and account settings (dd_audit_checks_policy.c) ---- */

#endif /* DD_AUDIT_CHECK_INTERNAL_H_ */
