#!/usr/bin/python3
"""CA certificates through Debian's python3-boto3 against ddlocal's control API.

Usage: test_api_cacerts_boto3.py PATH/TO/dd_api_testserver

GetRegistrationCode, RegisterCACertificate (DEFAULT with a verification certificate,
SNI_ONLY without), Describe/Update/Delete/ListCACertificates, ListCertificatesByCA,
RegisterCertificate and RegisterCertificateWithoutCA, with the model's errors:
RegistrationCodeValidationException, CertificateValidationException,
CertificateStateException, ResourceAlreadyExistsException, ResourceNotFoundException,
InvalidRequestException. Certificates are made with the openssl command before the server
starts (its pipeline clock starts at the wall clock, and certificates must be valid then).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ddapi_testlib as lib  # noqa: E402

import boto3  # noqa: E402
import botocore.config  # noqa: E402

BINARY = None
SERVER = None
IOT = None
TMP = None
PKI = {}


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def read(name):
    with open(os.path.join(TMP, name), encoding="ascii") as f:
        return f.read()


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", os.path.join(TMP, name + ".key"),
            "-out", os.path.join(TMP, name + ".pem"), "-days", "365", "-subj", "/CN=" + name,
            "-addext", "basicConstraints=critical,CA:TRUE")
    return read(name + ".pem")


def sign(name, ca, cn, ca_flag=False):
    """A certificate for a new key with subject CN=cn, signed by @ca (None: self-signed)."""
    key = os.path.join(TMP, name + ".key")
    out = os.path.join(TMP, name + ".pem")
    if ca is None:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", key, "-out", out, "-days", "30", "-subj", "/CN=" + cn)
        return read(name + ".pem")
    csr = os.path.join(TMP, name + ".csr")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
    ext = []
    if ca_flag:
        with open(os.path.join(TMP, "ca.ext"), "w", encoding="ascii") as f:
            f.write("basicConstraints=critical,CA:TRUE\n")
        ext = ["-extfile", os.path.join(TMP, "ca.ext")]
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(TMP, ca + ".pem"),
            "-CAkey", os.path.join(TMP, ca + ".key"), "-CAcreateserial", "-days", "30",
            "-out", out, *ext)
    return read(name + ".pem")


def setUpModule():
    global SERVER, IOT, TMP
    TMP = tempfile.mkdtemp(prefix="ddapi_ca_")
    PKI["ca1"] = make_ca("ca1")
    PKI["ca2"] = make_ca("ca2")
    PKI["dev1"] = sign("dev1", "ca1", "Device1")
    PKI["dev1b"] = sign("dev1b", "ca1", "Device1b")
    PKI["dev2"] = sign("dev2", "ca2", "Device2")
    PKI["self"] = sign("self", None, "SelfSigned")
    PKI["leaf_not_ca"] = PKI["dev2"]
    SERVER = lib.TestServer(BINARY)
    IOT = boto3.client("iot", endpoint_url=SERVER.endpoint, region_name=lib.REGION,
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=botocore.config.Config(retries={"mode": "standard",
                                                              "max_attempts": 1}))


def tearDownModule():
    IOT.close()
    SERVER.stop()
    shutil.rmtree(TMP, ignore_errors=True)


class CaTestCase(unittest.TestCase):
    maxDiff = None

    def assertError(self, exc_class, http_status, fn, *args, contains=None, **kwargs):
        with self.assertRaises(exc_class) as cm:
            fn(*args, **kwargs)
        resp = cm.exception.response
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], http_status)
        self.assertEqual(resp["Error"]["Code"], exc_class.__name__)
        if contains is not None:
            self.assertIn(contains, resp["Error"]["Message"])
        return resp

    def verification(self, ca, name, cn=None):
        code = IOT.get_registration_code()["registrationCode"]
        return sign(name, ca, cn if cn is not None else code)


class TestCaCertificates(CaTestCase):
    def test_1_registration_code_is_stable(self):
        code = IOT.get_registration_code()["registrationCode"]
        self.assertRegex(code, "^[0-9a-f]{64}$")
        self.assertEqual(IOT.get_registration_code()["registrationCode"], code)

    def test_2_register_describe_update_list_delete(self):
        ex = IOT.exceptions
        ver = self.verification("ca1", "ver1")
        # DEFAULT mode needs the verification certificate; a wrong CN is the code's error.
        self.assertError(ex.InvalidRequestException, 400, IOT.register_ca_certificate,
                         caCertificate=PKI["ca1"], contains="verificationCertificate")
        bad_cn = self.verification("ca1", "verbad", cn="not-the-code")
        self.assertError(ex.RegistrationCodeValidationException, 400,
                         IOT.register_ca_certificate, caCertificate=PKI["ca1"],
                         verificationCertificate=bad_cn)
        other_key = self.verification("ca2", "ver_other")
        self.assertError(ex.CertificateValidationException, 400, IOT.register_ca_certificate,
                         caCertificate=PKI["ca1"], verificationCertificate=other_key,
                         contains="not signed by the CA")
        self.assertError(ex.CertificateValidationException, 400, IOT.register_ca_certificate,
                         caCertificate="garbage", verificationCertificate=ver)
        self.assertError(ex.CertificateValidationException, 400, IOT.register_ca_certificate,
                         caCertificate=PKI["leaf_not_ca"], certificateMode="SNI_ONLY",
                         contains="not a CA certificate")

        reg = IOT.register_ca_certificate(caCertificate=PKI["ca1"], verificationCertificate=ver,
                                          setAsActive=True, allowAutoRegistration=True,
                                          registrationConfig={"templateName": "Tpl1"})
        ca_id = reg["certificateId"]
        self.assertEqual(reg["certificateArn"],
                         "arn:aws:iot:%s:%s:cacert/%s" % (lib.REGION, lib.ACCOUNT, ca_id))
        resp = self.assertError(ex.ResourceAlreadyExistsException, 409,
                                IOT.register_ca_certificate, caCertificate=PKI["ca1"],
                                verificationCertificate=ver)
        self.assertIn(ca_id, resp["Error"]["Message"])

        d = IOT.describe_ca_certificate(certificateId=ca_id)
        desc = d["certificateDescription"]
        self.assertEqual(desc["status"], "ACTIVE")
        self.assertEqual(desc["autoRegistrationStatus"], "ENABLE")
        self.assertEqual(desc["certificateMode"], "DEFAULT")
        self.assertEqual(desc["ownedBy"], lib.ACCOUNT)
        self.assertEqual(desc["certificatePem"].strip(), PKI["ca1"].strip())
        self.assertLess(desc["validity"]["notBefore"], desc["validity"]["notAfter"])
        self.assertEqual(d["registrationConfig"], {"templateName": "Tpl1"})
        self.assertError(ex.ResourceNotFoundException, 404, IOT.describe_ca_certificate,
                         certificateId="0" * 64)
        self.assertError(ex.InvalidRequestException, 400, IOT.describe_ca_certificate,
                         certificateId="z" * 64)

        # A device certificate of the CA; ListCertificatesByCA; DescribeCertificate shows it.
        dev = IOT.register_certificate(certificatePem=PKI["dev1"], status="ACTIVE")
        self.assertEqual(IOT.describe_certificate(certificateId=dev["certificateId"])
                         ["certificateDescription"]["status"], "ACTIVE")
        by_ca = IOT.list_certificates_by_ca(caCertificateId=ca_id)["certificates"]
        self.assertEqual([c["certificateId"] for c in by_ca], [dev["certificateId"]])
        self.assertEqual(by_ca[0]["certificateMode"], "DEFAULT")
        self.assertError(ex.ResourceAlreadyExistsException, 409, IOT.register_certificate,
                         certificatePem=PKI["dev1"])
        # Signed by a CA that is not registered.
        self.assertError(ex.CertificateValidationException, 400, IOT.register_certificate,
                         certificatePem=PKI["dev2"], contains="registered CA")

        # Update: INACTIVE refuses new registrations of its certificates.
        IOT.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE",
                                  newAutoRegistrationStatus="DISABLE")
        desc = IOT.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
        self.assertEqual((desc["status"], desc["autoRegistrationStatus"]),
                         ("INACTIVE", "DISABLE"))
        self.assertError(ex.CertificateStateException, 406, IOT.register_certificate,
                         certificatePem=PKI["dev1b"], contains="INACTIVE")
        self.assertError(ex.InvalidRequestException, 400, IOT.update_ca_certificate,
                         certificateId=ca_id, newStatus="REVOKED")

        # List with and without the template filter.
        listed = IOT.list_ca_certificates()["certificates"]
        self.assertIn(ca_id, [c["certificateId"] for c in listed])
        self.assertEqual([c["certificateId"] for c in
                          IOT.list_ca_certificates(templateName="Tpl1")["certificates"]], [ca_id])
        self.assertEqual(IOT.list_ca_certificates(templateName="Other")["certificates"], [])

        # Delete: refused while certificates of it exist, and while ACTIVE.
        self.assertError(ex.CertificateStateException, 406, IOT.delete_ca_certificate,
                         certificateId=ca_id, contains="device certificates")
        IOT.update_certificate(certificateId=dev["certificateId"], newStatus="INACTIVE")
        IOT.delete_certificate(certificateId=dev["certificateId"])
        IOT.update_ca_certificate(certificateId=ca_id, newStatus="ACTIVE")
        self.assertError(ex.CertificateStateException, 406, IOT.delete_ca_certificate,
                         certificateId=ca_id, contains="ACTIVE")
        IOT.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
        IOT.delete_ca_certificate(certificateId=ca_id)
        self.assertError(ex.ResourceNotFoundException, 404, IOT.delete_ca_certificate,
                         certificateId=ca_id)
        self.assertEqual(IOT.list_certificates_by_ca(caCertificateId=ca_id)["certificates"], [])

    def test_3_sni_only_and_without_ca(self):
        ex = IOT.exceptions
        reg = IOT.register_ca_certificate(caCertificate=PKI["ca2"], certificateMode="SNI_ONLY")
        desc = IOT.describe_ca_certificate(certificateId=reg["certificateId"])
        self.assertEqual(desc["certificateDescription"]["status"], "INACTIVE")
        self.assertEqual(desc["certificateDescription"]["certificateMode"], "SNI_ONLY")
        self.assertNotIn("registrationConfig", desc)
        self.assertError(ex.CertificateStateException, 406, IOT.register_certificate,
                         certificatePem=PKI["dev2"], caCertificatePem=PKI["ca2"])
        IOT.update_ca_certificate(certificateId=reg["certificateId"], newStatus="ACTIVE")
        dev = IOT.register_certificate(certificatePem=PKI["dev2"], caCertificatePem=PKI["ca2"])
        got = IOT.describe_certificate(certificateId=dev["certificateId"])
        self.assertEqual(got["certificateDescription"]["status"], "INACTIVE")
        self.assertEqual(got["certificateDescription"]["certificateMode"], "SNI_ONLY")

        noca = IOT.register_certificate_without_ca(certificatePem=PKI["self"], status="ACTIVE")
        got = IOT.describe_certificate(certificateId=noca["certificateId"])
        self.assertEqual(got["certificateDescription"]["status"], "ACTIVE")
        self.assertEqual(got["certificateDescription"]["certificateMode"], "SNI_ONLY")
        self.assertError(ex.ResourceAlreadyExistsException, 409,
                         IOT.register_certificate_without_ca, certificatePem=PKI["self"])
        self.assertError(ex.CertificateValidationException, 400,
                         IOT.register_certificate_without_ca, certificatePem="nope")
        self.assertError(ex.InvalidRequestException, 400, IOT.register_certificate_without_ca,
                         certificatePem=PKI["self"], status="PENDING_TRANSFER")
        # The self-signed certificate is the broker's trust anchor now (capath).
        trust = os.path.join(SERVER.data_dir, "pki", "trust")
        self.assertTrue(any(n.endswith(".0") for n in os.listdir(trust)))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_api_cacerts_boto3.py PATH/TO/dd_api_testserver")
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
