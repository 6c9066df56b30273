#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dd_fs.h"
#include "dd_pki.h"
#include "dd_seed.h"

/* One data dir (with its CA) for the whole file: RSA key generation is slow. */
typedef struct pki_fixture {
    char dir[64];
    dd_pki_ca_t *ca;
} pki_fixture_t;

static int group_setup(void **state)
{
    pki_fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_pki_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL || dd_pki_ca_ensure(f->dir, &f->ca) != DD_PKI_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    pki_fixture_t *f = *state;

    dd_pki_ca_free(f->ca);
    (void)dd_fs_remove_tree(f->dir);
    free(f);
    return 0;
}

static void pki_path(const pki_fixture_t *f, dd_pki_file_t file, char *buf, size_t len)
{
    assert_int_equal(dd_pki_path(f->dir, file, buf, len), DD_PKI_OK);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static X509 *load_cert(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    X509 *cert = NULL;

    assert_int_equal(dd_fs_read_file(path, 0, &text, &len), DD_FS_OK);
    assert_int_equal(dd_pki_cert_from_pem(text, len, &cert), DD_PKI_OK);
    free(text);
    return cert;
}

static EVP_PKEY *load_key_pem(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key;

    assert_non_null(bio);
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(key);
    return key;
}

static EVP_PKEY *load_key_file(const char *path)
{
    char *text = NULL;
    EVP_PKEY *key;

    assert_int_equal(dd_fs_read_file(path, 0, &text, NULL), DD_FS_OK);
    key = load_key_pem(text);
    free(text);
    return key;
}

/* The id computed independently of dd_pki: SHA-256 over i2d_X509. */
static void independent_id(X509 *cert, char out[65])
{
    unsigned char *der = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int der_len = i2d_X509(cert, &der);
    unsigned int i;

    assert_true(der_len > 0);
    assert_int_equal(EVP_Digest(der, (size_t)der_len, md, &md_len, EVP_sha256(), NULL), 1);
    OPENSSL_free(der);
    assert_int_equal(md_len, 32);
    for (i = 0; i < md_len; i++) {
        (void)snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

/* X509_verify_cert against the CA alone, with the given purpose. */
static int verify_against(X509 *ca, X509 *cert, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc;

    assert_non_null(store);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
    rc = X509_verify_cert(ctx);
    if (rc != 1) {
        print_error("verify: %s\n", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

static bool has_san(X509 *cert)
{
    return X509_get_ext_by_NID(cert, NID_subject_alt_name, -1) >= 0;
}

static void assert_cn(X509 *cert, const char *cn)
{
    char buf[128];

    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
                                          sizeof(buf)) > 0);
    assert_string_equal(buf, cn);
}

static void test_dd_pki_ca_created_once(void **state)
{
    pki_fixture_t *f = *state;
    char path[256];
    char id1[DD_PKI_CERT_ID_LEN + 1];
    char id2[DD_PKI_CERT_ID_LEN + 1];
    dd_pki_ca_t *again = NULL;
    X509 *ca = dd_pki_ca_cert(f->ca);

    pki_path(f, DD_PKI_FILE_DIR, path, sizeof(path));
    assert_int_equal(mode_of(path) & 0722, 0700); /* the owner's; nobody else writes */
    pki_path(f, DD_PKI_FILE_ROOTCA_KEY, path, sizeof(path));
    assert_int_equal(mode_of(path), 0600);
    pki_path(f, DD_PKI_FILE_ROOTCA_CERT, path, sizeof(path));
    assert_int_equal(mode_of(path), 0644);
    assert_int_equal(dd_pki_cert_id_from_file(path, id1), DD_PKI_OK);

    /* A CA, self-signed, with the documented subject and extensions. */
    assert_non_null(ca);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
    assert_int_equal(X509_verify(ca, X509_get0_pubkey(ca)), 1);
    assert_cn(ca, DD_PKI_CA_CN);
    assert_true((X509_get_key_usage(ca) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) ==
                (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    assert_int_equal(X509_get_extension_flags(ca) & EXFLAG_CRITICAL, 0);
    assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(ca)), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(ca)), 2048);
    assert_int_equal(verify_against(ca, ca, X509_PURPOSE_ANY), 1);

    /* The second ensure loads the very same CA. */
    assert_int_equal(dd_pki_ca_ensure(f->dir, &again), DD_PKI_OK);
    assert_int_equal(X509_cmp(dd_pki_ca_cert(again), ca), 0);
    assert_int_equal(dd_pki_cert_id_from_file(path, id2), DD_PKI_OK);
    assert_string_equal(id1, id2);
    dd_pki_ca_free(again);
}

static void test_dd_pki_ca_inconsistent(void **state)
{
    pki_fixture_t *f = *state;
    char dir[64];
    char cert_path[256];
    char key_path[256];
    char *saved_key = NULL;
    size_t saved_len = 0;
    dd_pki_ca_t *ca = NULL;
    dd_pki_ca_t *other = NULL;

    (void)f;
    (void)snprintf(dir, sizeof(dir), "/tmp/dd_pki_test2.XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(dd_pki_path(dir, DD_PKI_FILE_ROOTCA_CERT, cert_path, sizeof(cert_path)),
                     DD_PKI_OK);
    assert_int_equal(dd_pki_path(dir, DD_PKI_FILE_ROOTCA_KEY, key_path, sizeof(key_path)),
                     DD_PKI_OK);

    /* A key left by an interrupted creation is replaced. */
    {
        char pki_dir[256];

        assert_int_equal(dd_pki_path(dir, DD_PKI_FILE_DIR, pki_dir, sizeof(pki_dir)), DD_PKI_OK);
        assert_int_equal(dd_fs_mkdirs(pki_dir, 0700), DD_FS_OK);
    }
    assert_int_equal(dd_fs_write_atomic(key_path, "junk", 4, 0600), DD_FS_OK);
    assert_int_equal(dd_pki_ca_ensure(dir, &ca), DD_PKI_OK);
    assert_non_null(ca);
    assert_int_equal(dd_fs_read_file(key_path, 0, &saved_key, &saved_len), DD_FS_OK);

    /* A certificate without its key is refused, never silently replaced. */
    assert_int_equal(remove(key_path), 0);
    assert_int_equal(dd_pki_ca_ensure(dir, &other), DD_PKI_INCONSISTENT);
    assert_null(other);
    assert_true(dd_fs_exists(cert_path));

    /* Same with a key that belongs to another certificate. */
    {
        dd_pki_credentials_t cred;

        assert_int_equal(dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
        assert_int_equal(dd_fs_write_atomic(key_path, cred.private_key_pem,
                                            strlen(cred.private_key_pem), 0600),
                         DD_FS_OK);
        dd_pki_credentials_free(&cred);
    }
    assert_int_equal(dd_pki_ca_ensure(dir, &other), DD_PKI_INCONSISTENT);
    /* A key file that is not PEM at all. */
    assert_int_equal(dd_fs_write_atomic(key_path, "junk", 4, 0600), DD_FS_OK);
    assert_int_equal(dd_pki_ca_ensure(dir, &other), DD_PKI_PARSE_ERROR);

    /* Putting the right key back makes it load again. */
    assert_int_equal(dd_fs_write_atomic(key_path, saved_key, saved_len, 0600), DD_FS_OK);
    assert_int_equal(dd_pki_ca_ensure(dir, &other), DD_PKI_OK);
    assert_int_equal(X509_cmp(dd_pki_ca_cert(other), dd_pki_ca_cert(ca)), 0);

    free(saved_key);
    dd_pki_ca_free(other);
    dd_pki_ca_free(ca);
    assert_int_equal(dd_fs_remove_tree(dir), DD_FS_OK);
}

static void check_device(const pki_fixture_t *f, dd_pki_key_type_t type)
{
    dd_pki_credentials_t cred;
    char id[DD_PKI_CERT_ID_LEN + 1];
    char indep[65];
    X509 *cert = NULL;
    EVP_PKEY *key;
    const ASN1_INTEGER *serial;
    BIGNUM *bn;
    ASN1_TIME *limit;
    time_t t = (time_t)2524607999; /* 2049-12-31T23:59:59Z */

    assert_int_equal(dd_pki_issue_device(f->ca, type, &cred), DD_PKI_OK);
    assert_non_null(strstr(cred.certificate_pem, "-----BEGIN CERTIFICATE-----"));
    assert_non_null(strstr(cred.public_key_pem, "-----BEGIN PUBLIC KEY-----"));
    assert_non_null(strstr(cred.private_key_pem, type == DD_PKI_KEY_RSA2048
                                                     ? "-----BEGIN RSA PRIVATE KEY-----"
                                                     : "-----BEGIN EC PRIVATE KEY-----"));
    assert_int_equal(strlen(cred.certificate_id), DD_PKI_CERT_ID_LEN);

    assert_int_equal(dd_pki_cert_from_pem(cred.certificate_pem, strlen(cred.certificate_pem),
                                          &cert),
                     DD_PKI_OK);
    /* Chain, purpose and extensions. */
    assert_int_equal(verify_against(dd_pki_ca_cert(f->ca), cert, X509_PURPOSE_SSL_CLIENT), 1);
    assert_int_not_equal(verify_against(dd_pki_ca_cert(f->ca), cert, X509_PURPOSE_SSL_SERVER), 1);
    assert_cn(cert, DD_PKI_DEVICE_CN);
    assert_true((X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT) != 0);
    assert_int_equal(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER, 0);
    assert_int_equal(X509_check_ca(cert), 0);
    assert_false(has_san(cert));
    /* Random positive 16-byte serial. */
    serial = X509_get0_serialNumber(cert);
    bn = ASN1_INTEGER_to_BN(serial, NULL);
    assert_non_null(bn);
    assert_false(BN_is_negative(bn));
    assert_int_equal(BN_num_bytes(bn), 16);
    BN_free(bn);
    /* Valid until 2049-12-31T23:59:59Z, like AWS. */
    limit = ASN1_TIME_set(NULL, t);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(cert), limit), 0);
    ASN1_TIME_free(limit);
    assert_true(X509_cmp_current_time(X509_get0_notBefore(cert)) < 0);

    /* The key matches the certificate and has the requested type. */
    key = load_key_pem(cred.private_key_pem);
    assert_int_equal(X509_check_private_key(cert, key), 1);
    if (type == DD_PKI_KEY_RSA2048) {
        assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_RSA);
        assert_int_equal(EVP_PKEY_get_bits(key), 2048);
    } else {
        assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
        assert_int_equal(EVP_PKEY_get_bits(key), 256);
    }
    {
        BIO *bio = BIO_new_mem_buf(cred.public_key_pem, -1);
        EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

        assert_non_null(pub);
        assert_int_equal(EVP_PKEY_eq(pub, X509_get0_pubkey(cert)), 1);
        EVP_PKEY_free(pub);
        BIO_free(bio);
    }
    EVP_PKEY_free(key);

    /* The id: SHA-256 of the DER, the same from every entry point. */
    independent_id(cert, indep);
    assert_string_equal(cred.certificate_id, indep);
    assert_int_equal(dd_pki_cert_id_from_x509(cert, id), DD_PKI_OK);
    assert_string_equal(id, indep);
    assert_int_equal(dd_pki_cert_id_from_pem(cred.certificate_pem, strlen(cred.certificate_pem),
                                             id),
                     DD_PKI_OK);
    assert_string_equal(id, indep);

    X509_free(cert);
    dd_pki_credentials_free(&cred);
    assert_null(cred.private_key_pem);
    assert_null(cred.certificate_pem);
}

static void test_dd_pki_device_rsa(void **state)
{
    check_device(*state, DD_PKI_KEY_RSA2048);
}

static void test_dd_pki_device_ec(void **state)
{
    check_device(*state, DD_PKI_KEY_EC_P256);
}

static void test_dd_pki_device_unique(void **state)
{
    pki_fixture_t *f = *state;
    dd_pki_credentials_t a;
    dd_pki_credentials_t b;

    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &a), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &b), DD_PKI_OK);
    assert_string_not_equal(a.certificate_id, b.certificate_id);
    assert_string_not_equal(a.private_key_pem, b.private_key_pem);
    dd_pki_credentials_free(&a);
    dd_pki_credentials_free(&b);
}

static void test_dd_pki_device_files(void **state)
{
    pki_fixture_t *f = *state;
    dd_pki_credentials_t cred;
    char dir[256];
    char path[320];
    char id[DD_PKI_CERT_ID_LEN + 1];
    char ca_path[256];
    X509 *ca;
    X509 *cert;
    EVP_PKEY *key;

    (void)snprintf(dir, sizeof(dir), "%s/things/Thing03", f->dir);
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_RSA2048, &cred), DD_PKI_OK);
    assert_int_equal(dd_pki_credentials_write(&cred, dir), DD_PKI_OK);

    (void)snprintf(path, sizeof(path), "%s/" DD_PKI_DEVICE_PRIVATE_KEY_FILE, dir);
    assert_int_equal(mode_of(path), 0600);
    key = load_key_file(path);
    (void)snprintf(path, sizeof(path), "%s/" DD_PKI_DEVICE_PUBLIC_KEY_FILE, dir);
    assert_int_equal(mode_of(path), 0644);
    (void)snprintf(path, sizeof(path), "%s/" DD_PKI_DEVICE_CERT_FILE, dir);
    assert_int_equal(mode_of(path), 0644);
    assert_int_equal(dd_pki_cert_id_from_file(path, id), DD_PKI_OK);
    assert_string_equal(id, cred.certificate_id);

    /* The trio a device gets: root CA file, certificate, private key. */
    pki_path(f, DD_PKI_FILE_ROOTCA_CERT, ca_path, sizeof(ca_path));
    ca = load_cert(ca_path);
    cert = load_cert(path);
    assert_int_equal(verify_against(ca, cert, X509_PURPOSE_SSL_CLIENT), 1);
    assert_int_equal(X509_check_private_key(cert, key), 1);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    dd_pki_credentials_free(&cred);
}

static void test_dd_pki_server_and_service(void **state)
{
    pki_fixture_t *f = *state;
    char path[256];
    char key_path[256];
    char id1[DD_PKI_CERT_ID_LEN + 1];
    char id2[DD_PKI_CERT_ID_LEN + 1];
    char server_id[DD_PKI_CERT_ID_LEN + 1];
    X509 *cert;
    X509 *ca = dd_pki_ca_cert(f->ca);

    assert_int_equal(dd_pki_ensure_server(f->ca), DD_PKI_OK);
    pki_path(f, DD_PKI_FILE_SERVER_KEY, key_path, sizeof(key_path));
    assert_int_equal(mode_of(key_path), 0600);
    pki_path(f, DD_PKI_FILE_SERVER_CERT, path, sizeof(path));
    cert = load_cert(path);
    assert_int_equal(verify_against(ca, cert, X509_PURPOSE_SSL_SERVER), 1);
    assert_true(has_san(cert));
    assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
    assert_int_not_equal(X509_check_host(cert, "example.com", 0, 0, NULL), 1);
    assert_true((X509_get_extended_key_usage(cert) & XKU_SSL_SERVER) != 0);
    X509_free(cert);
    assert_int_equal(dd_pki_cert_id_from_file(path, server_id), DD_PKI_OK);

    /* Kept when valid... */
    assert_int_equal(dd_pki_ensure_server(f->ca), DD_PKI_OK);
    assert_int_equal(dd_pki_cert_id_from_file(path, id1), DD_PKI_OK);
    assert_string_equal(id1, server_id);
    /* ...reissued when its key no longer matches. */
    assert_int_equal(dd_fs_write_atomic(key_path, "junk", 4, 0600), DD_FS_OK);
    assert_int_equal(dd_pki_ensure_server(f->ca), DD_PKI_OK);
    assert_int_equal(dd_pki_cert_id_from_file(path, id1), DD_PKI_OK);
    assert_string_not_equal(id1, server_id);

    assert_int_equal(dd_pki_ensure_service(f->ca, id1), DD_PKI_OK);
    pki_path(f, DD_PKI_FILE_SERVICE_KEY, key_path, sizeof(key_path));
    assert_int_equal(mode_of(key_path), 0600);
    pki_path(f, DD_PKI_FILE_SERVICE_CERT, path, sizeof(path));
    cert = load_cert(path);
    assert_int_equal(verify_against(ca, cert, X509_PURPOSE_SSL_CLIENT), 1);
    assert_cn(cert, DD_PKI_SERVICE_CN);
    assert_true((X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT) != 0);
    X509_free(cert);
    assert_int_equal(dd_pki_cert_id_from_file(path, id2), DD_PKI_OK);
    assert_string_equal(id1, id2);
    /* The service id is stable across ensures. */
    assert_int_equal(dd_pki_ensure_service(f->ca, id2), DD_PKI_OK);
    assert_string_equal(id1, id2);
    assert_int_equal(dd_pki_ensure_service(f->ca, NULL), DD_PKI_OK);
}

/* Pumps bytes between two in-memory TLS endpoints until both finish. */
static void handshake(SSL *client, SSL *server)
{
    int done_c = 0;
    int done_s = 0;
    int rounds;

    for (rounds = 0; rounds < 100 && !(done_c && done_s); rounds++) {
        if (!done_c) {
            int rc = SSL_do_handshake(client);

            if (rc == 1) {
                done_c = 1;
            } else {
                int e = SSL_get_error(client, rc);
                assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
            }
        }
        if (!done_s) {
            int rc = SSL_do_handshake(server);

            if (rc == 1) {
                done_s = 1;
            } else {
                int e = SSL_get_error(server, rc);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    print_error("server: %s\n", ERR_error_string(ERR_get_error(), NULL));
                    fail();
                }
            }
        }
    }
    assert_true(done_c && done_s);
}

static void mtls_with(const pki_fixture_t *f, dd_pki_key_type_t type)
{
    char ca_path[256];
    char cert_path[256];
    char key_path[256];
    char id[DD_PKI_CERT_ID_LEN + 1];
    dd_pki_credentials_t cred;
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *server;
    SSL *client;
    BIO *bs;
    BIO *bc;
    X509 *cert;
    EVP_PKEY *key;

    pki_path(f, DD_PKI_FILE_ROOTCA_CERT, ca_path, sizeof(ca_path));
    pki_path(f, DD_PKI_FILE_SERVER_CERT, cert_path, sizeof(cert_path));
    pki_path(f, DD_PKI_FILE_SERVER_KEY, key_path, sizeof(key_path));
    assert_int_equal(dd_pki_ensure_server(f->ca), DD_PKI_OK);

    /* The broker's side, configured as mosquitto is: cafile, certfile,
     * keyfile, require_certificate. */
    assert_non_null(sctx);
    assert_int_equal(SSL_CTX_use_certificate_file(sctx, cert_path, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(sctx, key_path, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_load_verify_locations(sctx, ca_path, NULL), 1);
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

    /* The device's side: root CA, cert, key; checks the name localhost. */
    assert_int_equal(dd_pki_issue_device(f->ca, type, &cred), DD_PKI_OK);
    assert_non_null(cctx);
    assert_int_equal(SSL_CTX_load_verify_locations(cctx, ca_path, NULL), 1);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(dd_pki_cert_from_pem(cred.certificate_pem, strlen(cred.certificate_pem),
                                          &cert),
                     DD_PKI_OK);
    key = load_key_pem(cred.private_key_pem);
    assert_int_equal(SSL_CTX_use_certificate(cctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(cctx, key), 1);

    server = SSL_new(sctx);
    client = SSL_new(cctx);
    assert_non_null(server);
    assert_non_null(client);
    assert_int_equal(SSL_set1_host(client, "localhost"), 1);
    assert_int_equal(BIO_new_bio_pair(&bs, 0, &bc, 0), 1);
    SSL_set_bio(server, bs, bs);
    SSL_set_bio(client, bc, bc);
    SSL_set_accept_state(server);
    SSL_set_connect_state(client);
    handshake(client, server);
    assert_int_equal(SSL_get_verify_result(server), X509_V_OK);
    assert_int_equal(SSL_get_verify_result(client), X509_V_OK);

    /* What the broker plugin does at connect: id of the peer certificate. */
    {
        X509 *peer = SSL_get1_peer_certificate(server);

        assert_non_null(peer);
        assert_int_equal(dd_pki_cert_id_from_x509(peer, id), DD_PKI_OK);
        assert_string_equal(id, cred.certificate_id);
        X509_free(peer);
    }

    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    dd_pki_credentials_free(&cred);
}

static void test_dd_pki_mtls_handshake(void **state)
{
    mtls_with(*state, DD_PKI_KEY_RSA2048);
    mtls_with(*state, DD_PKI_KEY_EC_P256);
}

/* A fresh data dir whose CA is made with @seed set; the seed stays set. */
static void seeded_fixture(uint64_t seed, pki_fixture_t *f)
{
    assert_int_equal(dd_seed_set(seed, "test"), DD_SEED_OK);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_pki_seed.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(dd_pki_ca_ensure(f->dir, &f->ca), DD_PKI_OK);
}

static void seeded_fixture_free(pki_fixture_t *f)
{
    dd_pki_ca_free(f->ca);
    (void)dd_fs_remove_tree(f->dir);
}

static char *read_text(const pki_fixture_t *f, dd_pki_file_t file)
{
    char path[256];
    char *text = NULL;
    size_t len = 0;

    pki_path(f, file, path, sizeof(path));
    assert_int_equal(dd_fs_read_file(path, 1 << 20, &text, &len), DD_FS_OK);
    return text;
}

/* `up --seed`: the same seed in two fresh data dirs makes the same CA, broker and service
 * certificates and the same device credentials, byte for byte - and they work. */
static void test_dd_pki_seeded_is_deterministic(void **state)
{
    pki_fixture_t a;
    pki_fixture_t b;
    pki_fixture_t c;
    dd_pki_credentials_t ca1;
    dd_pki_credentials_t ca2;
    dd_pki_credentials_t cb1;
    dd_pki_credentials_t cb2;
    dd_pki_credentials_t cc1;
    char *ta;
    char *tb;
    X509 *cert = NULL;

    (void)state;
    seeded_fixture(42, &a);
    assert_int_equal(dd_pki_ensure_server(a.ca), DD_PKI_OK);
    assert_int_equal(dd_pki_ensure_service(a.ca, NULL), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(a.ca, DD_PKI_KEY_RSA2048, &ca1), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(a.ca, DD_PKI_KEY_EC_P256, &ca2), DD_PKI_OK);
    check_device(&a, DD_PKI_KEY_RSA2048);
    check_device(&a, DD_PKI_KEY_EC_P256);
    mtls_with(&a, DD_PKI_KEY_RSA2048);
    mtls_with(&a, DD_PKI_KEY_EC_P256);

    seeded_fixture(42, &b);
    assert_int_equal(dd_pki_ensure_server(b.ca), DD_PKI_OK);
    assert_int_equal(dd_pki_ensure_service(b.ca, NULL), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(b.ca, DD_PKI_KEY_RSA2048, &cb1), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(b.ca, DD_PKI_KEY_EC_P256, &cb2), DD_PKI_OK);
    for (int i = DD_PKI_FILE_ROOTCA_CERT; i <= DD_PKI_FILE_SERVICE_KEY; i++) {
        ta = read_text(&a, (dd_pki_file_t)i);
        tb = read_text(&b, (dd_pki_file_t)i);
        assert_string_equal(ta, tb);
        free(ta);
        free(tb);
    }
    assert_string_equal(ca1.certificate_pem, cb1.certificate_pem);
    assert_string_equal(ca1.private_key_pem, cb1.private_key_pem);
    assert_string_equal(ca1.certificate_id, cb1.certificate_id);
    assert_string_equal(ca2.certificate_pem, cb2.certificate_pem);
    assert_string_equal(ca2.private_key_pem, cb2.private_key_pem);
    assert_string_not_equal(ca1.certificate_id, ca2.certificate_id);

    /* The fixed notBefore of a seeded certificate. */
    assert_int_equal(dd_pki_cert_from_pem(cb1.certificate_pem, strlen(cb1.certificate_pem), &cert),
                     DD_PKI_OK);
    {
        ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)946684800);
        assert_int_equal(ASN1_TIME_compare(X509_get0_notBefore(cert), t), 0);
        ASN1_TIME_free(t);
    }
    X509_free(cert);

    /* Another seed, another CA and other credentials. */
    seeded_fixture(43, &c);
    assert_int_equal(dd_pki_issue_device(c.ca, DD_PKI_KEY_RSA2048, &cc1), DD_PKI_OK);
    ta = read_text(&a, DD_PKI_FILE_ROOTCA_CERT);
    tb = read_text(&c, DD_PKI_FILE_ROOTCA_CERT);
    assert_string_not_equal(ta, tb);
    free(ta);
    free(tb);
    assert_string_not_equal(ca1.certificate_id, cc1.certificate_id);

    dd_seed_unset();
    dd_pki_credentials_free(&ca1);
    dd_pki_credentials_free(&ca2);
    dd_pki_credentials_free(&cb1);
    dd_pki_credentials_free(&cb2);
    dd_pki_credentials_free(&cc1);
    seeded_fixture_free(&a);
    seeded_fixture_free(&b);
    seeded_fixture_free(&c);
}

static void test_dd_pki_bad_input(void **state)
{
    pki_fixture_t *f = *state;
    char id[DD_PKI_CERT_ID_LEN + 1];
    char buf[16];
    dd_pki_credentials_t cred;
    dd_pki_ca_t *ca = NULL;
    X509 *cert = (X509 *)1;
    static const char NOT_PEM[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    char missing[256];

    assert_int_equal(dd_pki_cert_id_from_pem(NOT_PEM, strlen(NOT_PEM), id), DD_PKI_PARSE_ERROR);
    assert_int_equal(ERR_peek_error(), 0); /* no stale OpenSSL errors left behind */
    assert_int_equal(dd_pki_cert_id_from_pem("hello", 5, id), DD_PKI_PARSE_ERROR);
    assert_int_equal(dd_pki_cert_id_from_pem(NULL, 5, id), DD_PKI_BAD_PARAMETER);
    assert_int_equal(dd_pki_cert_id_from_pem("x", 0, id), DD_PKI_BAD_PARAMETER);
    assert_int_equal(dd_pki_cert_id_from_x509(NULL, id), DD_PKI_BAD_PARAMETER);
    assert_int_equal(dd_pki_cert_from_pem("x", 1, &cert), DD_PKI_PARSE_ERROR);
    assert_null(cert);
    (void)snprintf(missing, sizeof(missing), "%s/nope.pem", f->dir);
    assert_int_equal(dd_pki_cert_id_from_file(missing, id), DD_PKI_NOT_FOUND);
    assert_int_equal(dd_pki_issue_device(NULL, DD_PKI_KEY_RSA2048, &cred), DD_PKI_BAD_PARAMETER);
    assert_null(cred.certificate_pem);
    assert_int_equal(dd_pki_issue_device(f->ca, (dd_pki_key_type_t)7, &cred), DD_PKI_BAD_PARAMETER);
    assert_int_equal(dd_pki_credentials_write(&cred, f->dir), DD_PKI_BAD_PARAMETER);
    dd_pki_credentials_free(&cred);
    dd_pki_credentials_free(NULL);
    assert_int_equal(dd_pki_ca_ensure(NULL, &ca), DD_PKI_BAD_PARAMETER);
    assert_int_equal(dd_pki_ca_ensure("", &ca), DD_PKI_BAD_PARAMETER);
    assert_int_equal(dd_pki_ca_ensure(f->dir, NULL), DD_PKI_BAD_PARAMETER);
    assert_int_equal(dd_pki_ensure_server(NULL), DD_PKI_BAD_PARAMETER);
    assert_null(dd_pki_ca_cert(NULL));
    dd_pki_ca_free(NULL);
    assert_int_equal(dd_pki_path(f->dir, DD_PKI_FILE_ROOTCA_CERT, buf, sizeof(buf)),
                     DD_PKI_BUFFER_TOO_SMALL);
    assert_int_equal(dd_pki_path(f->dir, (dd_pki_file_t)42, buf, sizeof(buf)),
                     DD_PKI_BAD_PARAMETER);
    assert_string_equal(dd_pki_path("/d", DD_PKI_FILE_SERVICE_KEY, missing, sizeof(missing)) ==
                                DD_PKI_OK
                            ? missing
                            : "",
                        "/d/pki/service.key");
    assert_string_equal(dd_pki_strerror(DD_PKI_OK), "ok");
    assert_string_equal(dd_pki_strerror(DD_PKI_INCONSISTENT),
                        "CA certificate and key missing or mismatched");
    assert_string_equal(dd_pki_strerror((dd_pki_status_t)99), "unknown pki status");
}

/* A PEM CSR for a fresh P-256 key with subject CN=@cn (malloc'd); *key receives the key. */
static char *make_csr(const char *cn, EVP_PKEY **key)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    char *pem;
    long len;

    *key = EVP_EC_gen("P-256");
    assert_non_null(*key);
    assert_non_null(req);
    assert_non_null(name);
    assert_non_null(bio);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                                                -1, -1, 0),
                     1);
    assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
    assert_int_equal(X509_REQ_set_pubkey(req, *key), 1);
    assert_true(X509_REQ_sign(req, *key, EVP_sha256()) > 0);
    assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
    len = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t)len);
    assert_non_null(pem);
    BIO_free(bio);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return pem;
}

static void test_dd_pki_from_csr(void **state)
{
    pki_fixture_t *f = *state;
    EVP_PKEY *key = NULL;
    char *csr = make_csr("dev-42", &key);
    char *pem = NULL;
    char id[DD_PKI_CERT_ID_LEN + 1];
    char id2[DD_PKI_CERT_ID_LEN + 1];
    char cn[64];
    char ca_path[256];
    X509 *cert = NULL;
    X509 *ca = NULL;
    FILE *fp;
    size_t mid;

    assert_int_equal(dd_pki_issue_from_csr(f->ca, csr, strlen(csr), &pem, id), DD_PKI_OK);
    assert_non_null(pem);
    assert_int_equal(dd_pki_cert_from_pem(pem, strlen(pem), &cert), DD_PKI_OK);
    assert_int_equal(dd_pki_cert_id_from_pem(pem, strlen(pem), id2), DD_PKI_OK);
    assert_string_equal(id, id2);
    /* The CSR's key and subject, signed by the data dir's CA. */
    assert_int_equal(X509_check_private_key(cert, key), 1);
    assert_true(
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, "dev-42");
    pki_path(f, DD_PKI_FILE_ROOTCA_CERT, ca_path, sizeof(ca_path));
    fp = fopen(ca_path, "r");
    assert_non_null(fp);
    ca = PEM_read_X509(fp, NULL, NULL, NULL);
    (void)fclose(fp);
    assert_non_null(ca);
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(ca)), 1);
    free(pem);
    pem = NULL;
    /* A damaged CSR (one base64 character changed) or no CSR at all is refused. */
    mid = strlen(csr) / 2;
    while (csr[mid] == '\n') {
        mid++;
    }
    csr[mid] = csr[mid] == 'A' ? 'B' : 'A';
    assert_int_equal(dd_pki_issue_from_csr(f->ca, csr, strlen(csr), &pem, id), DD_PKI_PARSE_ERROR);
    assert_null(pem);
    assert_int_equal(dd_pki_issue_from_csr(f->ca, "hello", 5, &pem, id), DD_PKI_PARSE_ERROR);
    assert_int_equal(dd_pki_issue_from_csr(NULL, "hello", 5, &pem, id), DD_PKI_BAD_PARAMETER);
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(csr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_pki_ca_created_once),
        cmocka_unit_test(test_dd_pki_ca_inconsistent),
        cmocka_unit_test(test_dd_pki_device_rsa),
        cmocka_unit_test(test_dd_pki_device_ec),
        cmocka_unit_test(test_dd_pki_device_unique),
        cmocka_unit_test(test_dd_pki_device_files),
        cmocka_unit_test(test_dd_pki_server_and_service),
        cmocka_unit_test(test_dd_pki_mtls_handshake),
        cmocka_unit_test(test_dd_pki_bad_input),
        cmocka_unit_test(test_dd_pki_from_csr),
        cmocka_unit_test(test_dd_pki_seeded_is_deterministic),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
