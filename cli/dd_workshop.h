/**
 * @file dd_workshop.h
 * @brief The "Protect your IoT fleet" workshop's world, provisioned through
 *        ddlocald's AWS IoT API exactly as a boto3 script would on AWS:
 *        Thing01-03 (SensorType=DHT22) with a certificate each, the device
 *        policy, the IsolatedDevices group with its DenyAll policy, and the
 *        world of the workshop's Modules 1-2: one more certificate shared by
 *        all three things (with the DevicePolicy), logging off, every audit
 *        check enabled and one on-demand audit already run. The learner creates the security profiles
 *        (the workshop's step 3); on request the Module 3 and Module 4 profiles
 *        are made too, attached to all things with the BadIoTDevices SNS topic
 *        as alert target (`--with-profiles`, the demos).
 *
 * Device files are written like the workshop lays them out:
 *   DIR/workshop/Thing0N/{cert.pem,private.key,public.key,rootca.pem}
 *   DIR/workshop/shared/{cert.pem,private.key,public.key,rootca.pem,certificate-id}  (Module 1's
 *   shared certificate; the per-thing ones are what devices use after Module 2 deactivates it)
 *   DIR/workshop/tmp/{rootca.pem,cert.pem,private.key,endpoint}  (SensorDevice03 = Thing03,
 *   the workshop's /tmp files)
 * The world is provisioned once per data dir (a setting records it); profiles
 * asked for later are created then, an existing profile is left as it is.
 */
#ifndef DD_WORKSHOP_H_
#define DD_WORKSHOP_H_

#include <stdbool.h>

#include "dd_clock.h"

/** Profiles and names the workshop uses. */
#define DD_WORKSHOP_SNS_TOPIC "BadIoTDevices"
#define DD_WORKSHOP_GROUP "IsolatedDevices"
#define DD_WORKSHOP_MODULE4_PROFILE "DetectSendingMoreThanAverageBytes"
#define DD_WORKSHOP_MODULE3_PROFILE "DetectLargeMessageSize"

/**
 * @brief Provisions the workshop's world through the API at @p api_url
 *        (skipped when already done for this data dir).
 * @param[in] data_dir Absolute data dir.
 * @param[in] api_url ddlocald's API.
 * @param[in] with_profiles Also create and attach the two workshop profiles
 *            (those missing; an existing one is kept).
 * @return 0 on success; 1 after printing what failed.
 */
int dd_workshop_provision(const char *data_dir, const char *api_url, bool with_profiles);

/**
 * @brief Prints the local commands for each workshop step, with the PATH and
 *        DDLOCAL_DATA_DIR lines a new terminal needs.
 * @param[in] data_dir Absolute data dir.
 * @param[in] mqtt_port The broker's 8883-role port.
 * @param[in] api_url ddlocald's API.
 * @param[in] clock The pipeline clock, or NULL if unknown (a manual clock
 *            gets a note: devices cannot follow it).
 */
void dd_workshop_print_steps(const char *data_dir, unsigned mqtt_port, const char *api_url,
                             const dd_clock_t *clock);

#endif /* DD_WORKSHOP_H_ */
