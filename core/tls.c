/* TLS for the server: one SSL_CTX shared by all loop threads (OpenSSL 3 makes
 * that safe), TLS 1.2 minimum, ALPN choosing h2 over http/1.1. Without a
 * configured certificate a self-signed development certificate (EC P-256,
 * SAN localhost and 127.0.0.1) is made once and kept in the dev cert dir.
 *
 * SIGHUP (cds_tls_reload): a new context is built from the files as they
 * are now and, only if the certificate, the key and their match are all
 * good, replaces the current one. Every SSL takes its own reference to the
 * context it was made from (SSL_new), so connections made before keep
 * theirs until they close and the old context is freed with the last of
 * them; new handshakes get the new certificate. A bad file is logged and
 * the current context stays. The swap and SSL_new share a mutex held for
 * no more than that. */
#include "core/conn.h"
#include "core/files.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char alpn_pref[] = "\x02h2\x08http/1.1";

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, alpn_pref, sizeof alpn_pref - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no overlap: plain HTTP/1.1 */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static void log_ssl_error(const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    cds_log(CDS_LOG_ERROR, "tls_setup", "%s: %s", what, buf);
}

static int write_pem(const char *path, int is_key, void *obj)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    if (is_key) fchmod(fileno(f), 0600);
    int ok = is_key ? PEM_write_PrivateKey(f, obj, NULL, NULL, 0, NULL, NULL)
                    : PEM_write_X509(f, obj);
    if (fclose(f) != 0 || !ok) {
        unlink(tmp);
        return -1;
    }
    return rename(tmp, path); /* atomic: parallel first runs never see half a file */
}

static int make_dev_cert(const char *cert_path, const char *key_path)
{
    int rc = -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!key || !x) goto out;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 24 * 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Cong dan so (development)", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                                              "DNS:localhost,IP:127.0.0.1,IP:::1");
    if (!ext) goto out;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (!X509_sign(x, key, EVP_sha256())) goto out;
    if (write_pem(key_path, 1, key) != 0 || write_pem(cert_path, 0, x) != 0) goto out;
    rc = 0;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

SSL_CTX *cds_tls_ctx_new(const cds_server_config *cfg)
{
    char cert[512], key[512];
    if (cfg->tls_cert && cfg->tls_key) {
        snprintf(cert, sizeof cert, "%s", cfg->tls_cert);
        snprintf(key, sizeof key, "%s", cfg->tls_key);
    } else {
        const char *dir = cfg->dev_cert_dir ? cfg->dev_cert_dir : "var/tls";
        cds_mkdir_p(dir, 0700);
        snprintf(cert, sizeof cert, "%s/dev-cert.pem", dir);
        snprintf(key, sizeof key, "%s/dev-key.pem", dir);
        if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
            if (make_dev_cert(cert, key) != 0) {
                cds_log(CDS_LOG_ERROR, "tls_setup", "cannot create a development certificate in %s: %s",
                        dir, strerror(errno));
                return NULL;
            }
            cds_log(CDS_LOG_INFO, "tls_dev_cert", "made a self-signed development certificate %s", cert);
        }
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* RFC 9113 9.2.2: only AEAD suites with forward secrecy for TLS 1.2. */
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        log_ssl_error(cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        log_ssl_error(key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    return ctx;
}

static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *cur_ctx;

/* "subject, serial, valid until" of the context's certificate, for the log. */
static void describe(SSL_CTX *ctx, char *out, size_t cap)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    out[0] = 0;
    if (!x) return;
    char subj[256] = "", until[64] = "";
    X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof subj);
    BIO *b = BIO_new(BIO_s_mem());
    if (b) {
        ASN1_TIME_print(b, X509_get0_notAfter(x));
        int n = BIO_read(b, until, (int)sizeof until - 1);
        until[n > 0 ? n : 0] = 0;
        BIO_free(b);
    }
    char *serial = NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    if (bn) serial = BN_bn2hex(bn);
    snprintf(out, cap, "%s, serial %s, valid until %s", subj, serial ? serial : "?", until);
    OPENSSL_free(serial);
    BN_free(bn);
}

int cds_tls_start(const cds_server_config *cfg)
{
    SSL_CTX *ctx = cds_tls_ctx_new(cfg);
    if (!ctx) return -1;
    pthread_mutex_lock(&ctx_mu);
    SSL_CTX *old = cur_ctx;
    cur_ctx = ctx;
    pthread_mutex_unlock(&ctx_mu);
    SSL_CTX_free(old);
    return 0;
}

SSL *cds_tls_ssl_new(void)
{
    pthread_mutex_lock(&ctx_mu);
    SSL *ssl = cur_ctx ? SSL_new(cur_ctx) : NULL;
    pthread_mutex_unlock(&ctx_mu);
    return ssl;
}

int cds_tls_reload(const cds_server_config *cfg)
{
    pthread_mutex_lock(&ctx_mu);
    int running = cur_ctx != NULL;
    pthread_mutex_unlock(&ctx_mu);
    if (!running) return 0; /* no TLS listener */
    SSL_CTX *ctx = cds_tls_ctx_new(cfg);
    if (!ctx) {
        cds_log(CDS_LOG_ERROR, "tls_reload",
                "certificate or key not reloaded (see above); the current ones stay in use");
        return -1;
    }
    char what[512];
    describe(ctx, what, sizeof what);
    pthread_mutex_lock(&ctx_mu);
    SSL_CTX *old = cur_ctx;
    cur_ctx = ctx;
    pthread_mutex_unlock(&ctx_mu);
    SSL_CTX_free(old); /* freed when its last connection closes */
    cds_log(CDS_LOG_INFO, "tls_reload", "new handshakes use %s", what);
    return 0;
}

void cds_tls_stop(void)
{
    pthread_mutex_lock(&ctx_mu);
    SSL_CTX *old = cur_ctx;
    cur_ctx = NULL;
    pthread_mutex_unlock(&ctx_mu);
    SSL_CTX_free(old);
}
