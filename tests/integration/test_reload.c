/* SIGHUP reloads the TLS certificate and the signing keys without dropping
 * connections (issue 17, item 6), over real sockets: `cds serve` started
 * with certificate A (files named by CDS_TLS_CERT/CDS_TLS_KEY), token keys
 * from CDS_TOKEN_KEYS_FILE and receipt keys from CDS_RECEIPT_KEYS_FILE.
 *
 *   - TLS: an HTTP/2 connection opened with A; the files replaced by B;
 *     kill -HUP; the same connection (libcurl reuses it: no new connect)
 *     still answers; a new handshake presents B (verifies against B, not
 *     against A); a garbage certificate, then B's certificate with A's key,
 *     are refused by the reload (logged) and B stays, the open connection
 *     still answering;
 *   - token keys: a citizen's token signed by k1; the list becomes
 *     "k2=...,k1=..." and HUP: the k1 token still works, a new login's
 *     token is signed by k2 and works; a list naming a missing file keeps
 *     k2 (logged);
 *   - receipt keys: a new key after HUP is registered in receipt_keys by
 *     the signer; a file that is not a key is refused, nothing registered.
 * The server exits 0 on SIGTERM afterwards. */
#include "tests/lib/harness.h"
#include "tests/lib/login.h"
#include "tests/lib/t.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[512];
static th_proc srv;
static th_sim sim;
static char *db;

#include <stdarg.h>

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        exit(1);
    }
}

static char *path(const char *name)
{
    static char p[8][700];
    static int i;
    i = (i + 1) % 8;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

/* Writes `text` to dir/name through a rename, as an operator's deploy
 * tool would (never a half-written file). */
static void put(const char *name, const char *text)
{
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s.new", path(name));
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path(name)) != 0) {
        fprintf(stderr, "cannot write %s\n", path(name));
        exit(1);
    }
}

static void copy(const char *from, const char *to)
{
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s.new", path(to));
    sh("cp '%s' '%s'", path(from), tmp);
    if (rename(tmp, path(to)) != 0) exit(1);
}

/* How many lines of the server's log contain `needle`. */
static int log_count(const char *needle)
{
    FILE *f = fopen(srv.log, "r");
    if (!f) return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    fclose(f);
    return n;
}

/* SIGHUP, then waits (up to 10 s) for one more log line with `needle`. */
static int hup_and_wait(const char *needle)
{
    int before = log_count(needle);
    kill(srv.pid, SIGHUP);
    for (int i = 0; i < 200; i++) {
        if (log_count(needle) > before) return 1;
        usleep(50000);
    }
    fprintf(stderr, "no new '%s' line in %s after SIGHUP\n", needle, srv.log);
    return 0;
}

/* ---------------- TLS ---------------- */

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static CURL *tls_handle(const char *ca)
{
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", srv.tls_url);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    return h;
}

/* One GET /healthz on h: the curl code; *status, *fresh (1: a new
 * connection was made), the certificate's subject into subj. */
static CURLcode get(CURL *h, long *status, long *fresh, char *subj, size_t cap)
{
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    *fresh = -1;
    if (subj) subj[0] = 0;
    if (rc != CURLE_OK) return rc;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, fresh);
    long ver = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &ver);
    CHECK_INT(ver, CURL_HTTP_VERSION_2_0);
    struct curl_certinfo *ci = NULL;
    if (subj && curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
        ci->num_of_certs > 0)
        for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
            if (strncmp(s->data, "Subject:", 8) == 0) snprintf(subj, cap, "%s", s->data + 8);
    return rc;
}

static void test_tls(void)
{
    long st, fresh;
    char subj[256];
    CURL *open_conn = tls_handle(path("a.pem"));
    CHECK_INT(get(open_conn, &st, &fresh, subj, sizeof subj), CURLE_OK);
    CHECK_INT(st, 200);
    CHECK(strstr(subj, "cert-a") != NULL);

    /* B replaces A on disk; the reload makes new handshakes use it. */
    copy("b.pem", "cert.pem");
    copy("b.key", "key.pem");
    CHECK(hup_and_wait("\"event\":\"tls_reload\""));
    CHECK_INT(log_count("cert-b"), 1); /* the reload says which certificate */
    CHECK_INT(get(open_conn, &st, &fresh, NULL, 0), CURLE_OK);
    CHECK_INT(st, 200);
    CHECK_INT(fresh, 0); /* the connection made with A, still open and serving */

    CURL *nb = tls_handle(path("b.pem"));
    CHECK_INT(get(nb, &st, &fresh, subj, sizeof subj), CURLE_OK);
    CHECK_INT(st, 200);
    CHECK_INT(fresh, 1);
    CHECK(strstr(subj, "cert-b") != NULL);
    curl_easy_cleanup(nb);
    CURL *na = tls_handle(path("a.pem"));
    CHECK_INT(get(na, &st, &fresh, NULL, 0), CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(na);

    /* A bad certificate file, then a key that is not the certificate's:
     * each reload fails, logged, and B stays. */
    put("cert.pem", "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
    CHECK(hup_and_wait("certificate or key not reloaded"));
    copy("b.pem", "cert.pem");
    copy("a.key", "key.pem");
    CHECK(hup_and_wait("certificate or key not reloaded"));
    nb = tls_handle(path("b.pem"));
    CHECK_INT(get(nb, &st, &fresh, subj, sizeof subj), CURLE_OK);
    CHECK_INT(st, 200);
    CHECK(strstr(subj, "cert-b") != NULL);
    curl_easy_cleanup(nb);
    CHECK_INT(get(open_conn, &st, &fresh, NULL, 0), CURLE_OK);
    CHECK_INT(st, 200);
    CHECK_INT(fresh, 0);
    curl_easy_cleanup(open_conn);
    copy("b.key", "key.pem");
}

/* ---------------- token keys ---------------- */

/* The kid in a JWT's header, into out. */
static void jwt_kid(const char *jwt, char *out, size_t cap)
{
    out[0] = 0;
    const char *dot = strchr(jwt, '.');
    if (!dot) return;
    size_t n = (size_t)(dot - jwt);
    char b64[1024];
    if (n + 4 >= sizeof b64) return;
    for (size_t i = 0; i < n; i++)
        b64[i] = jwt[i] == '-' ? '+' : jwt[i] == '_' ? '/' : jwt[i];
    while (n % 4)
        b64[n++] = '=';
    b64[n] = 0;
    unsigned char json[800];
    int len = EVP_DecodeBlock(json, (const unsigned char *)b64, (int)n);
    if (len <= 0) return;
    json[len] = 0;
    const char *k = strstr((const char *)json, "\"kid\":\"");
    if (!k) return;
    k += 7;
    size_t i = 0;
    while (k[i] && k[i] != '"' && i + 1 < cap)
        out[i] = k[i], i++;
    out[i] = 0;
}

static long me(const char *token)
{
    th_resp r;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/me", srv.url);
    long st = th_json(&r, "GET", url, token, NULL, NULL);
    th_resp_free(&r);
    return st;
}

static void test_token_keys(void)
{
    th_login l1, l2, l3;
    char kid[64];
    CHECK_INT(th_login_as(&srv, "079085001234", &l1), 200);
    jwt_kid(l1.access, kid, sizeof kid);
    CHECK_STR(kid, "k1");

    char list[1600];
    snprintf(list, sizeof list, "k2=%s,k1=%s\n", path("k2.pem"), path("k1.pem"));
    put("token-keys", list);
    CHECK(hup_and_wait("token keys reloaded: 2, k2 signs"));
    CHECK_INT(me(l1.access), 200); /* signed by k1 before: still verifies */
    CHECK_INT(th_login_as(&srv, "079085001234", &l2), 200);
    jwt_kid(l2.access, kid, sizeof kid);
    CHECK_STR(kid, "k2");
    CHECK_INT(me(l2.access), 200);

    snprintf(list, sizeof list, "k3=%s\n", path("missing.pem"));
    put("token-keys", list);
    CHECK(hup_and_wait("token keys: reload failed"));
    CHECK_INT(th_login_as(&srv, "079085001234", &l3), 200);
    jwt_kid(l3.access, kid, sizeof kid);
    CHECK_STR(kid, "k2");
    CHECK_INT(me(l1.access), 200);
    CHECK_INT(me(l3.access), 200);
}

/* ---------------- receipt keys ---------------- */

static long receipt_keys(void)
{
    return th_db_count(db, "SELECT count(*) FROM receipt_keys");
}

static int wait_receipt_keys(long want)
{
    for (int i = 0; i < 200; i++) {
        if (receipt_keys() == want) return 1;
        usleep(50000);
    }
    return 0;
}

static void test_receipt_keys(void)
{
    CHECK(wait_receipt_keys(1)); /* r1, registered when the signer connected */
    char list[800];
    snprintf(list, sizeof list, "*=%s\n", path("r2.pem"));
    put("receipt-keys", list);
    CHECK(hup_and_wait("receipt keys reloaded: 1"));
    CHECK(wait_receipt_keys(2)); /* the signer registers r2 before signing with it */

    snprintf(list, sizeof list, "*=%s\n", path("a.pem")); /* a certificate, not a key */
    put("receipt-keys", list);
    CHECK(hup_and_wait("receipt keys: reload failed"));
    sleep(2); /* two of the signer's polls */
    CHECK_INT(receipt_keys(), 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    const char *tmp = getenv("CDS_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/reload_%d", tmp && *tmp ? tmp : CDS_BUILD_DIR "/Testing",
             (int)getpid());
    sh("rm -rf '%s' && mkdir -p '%s'", dir, dir);
    for (const char *c = "ab"; *c; c++) {
        char name[2] = {*c, 0}, cmd[1500];
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                 " -keyout '%s/%s.key' -out '%s/%s.pem' -days 2 -subj /CN=cert-%s"
                 " -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
                 dir, name, dir, name, name);
        if (system(cmd) != 0) {
            fprintf(stderr, "openssl req failed\n");
            return 1;
        }
    }
    sh("cp '%s/a.pem' '%s/cert.pem'", dir, dir);
    sh("cp '%s/a.key' '%s/key.pem'", dir, dir);
    const char *keys[] = {"k1", "k2", "r1", "r2"};
    for (size_t i = 0; i < 4; i++)
        sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s/%s.pem'", dir,
           keys[i]);
    char list[800];
    snprintf(list, sizeof list, "k1=%s\n", path("k1.pem"));
    put("token-keys", list);
    snprintf(list, sizeof list, "%s\n", path("r1.pem"));
    put("receipt-keys", list);

    db = th_db_new("reload");
    const char *standins[] = {"vneid", NULL};
    if (th_sim_start(&sim, standins, NULL) != 0) return 1;
    char iss[128], cert[700], key[700], tk[700], rk[700], dev[700];
    snprintf(iss, sizeof iss, "CDS_VNEID_ISSUER=%s", th_sim_url(&sim, "vneid"));
    snprintf(cert, sizeof cert, "CDS_TLS_CERT=%s", path("cert.pem"));
    snprintf(key, sizeof key, "CDS_TLS_KEY=%s", path("key.pem"));
    snprintf(tk, sizeof tk, "CDS_TOKEN_KEYS_FILE=%s", path("token-keys"));
    snprintf(rk, sizeof rk, "CDS_RECEIPT_KEYS_FILE=%s", path("receipt-keys"));
    snprintf(dev, sizeof dev, "CDS_DEV_KEYS_DIR=%s", path("dev"));
    const char *env[] = {
        iss, cert, key, tk, rk, dev, "CDS_AUTO_MIGRATE=1", "CDS_RECEIPT_POLL_MS=200", NULL};
    if (th_server_start(&srv, db, env) != 0) return 1;

    test_tls();
    test_token_keys();
    test_receipt_keys();

    CHECK_INT(th_proc_stop(&srv, SIGTERM), 0);
    CHECK_INT(th_sim_stop(&sim), 0);
    sh("rm -rf '%s'", dir);
    curl_global_cleanup();
    return t_done();
}
