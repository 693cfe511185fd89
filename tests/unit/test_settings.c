/* The production-mode checks of the option registry (core/settings_check.c),
 * secrets from NAME_FILE (core/options.c) and source-address allow-lists
 * (core/cidr.c):
 *
 *   url       libcurl's parse in every mode; production: https, no loopback
 *             host, no stand-in port
 *   check     missing, development default, "cds-dev" values, optional
 *             settings, one line per offending setting
 *   file      NAME_FILE read and trimmed; NAME and NAME_FILE both set, and
 *             an unreadable file, each reported by name with the others
 *   cidr      IPv4, IPv6, IPv4-mapped peers, prefix edges, malformed lists
 *   registry  every module option named like a secret (…_SECRET, …_TOKEN,
 *             …_KEY, …) is typed CDS_OPT_SECRET or CDS_OPT_KEY, and every
 *             …_URL / …_ISSUER one CDS_OPT_URL, so a new provider setting
 *             cannot slip past production mode as a plain string */
#include "tests/lib/t.h"
#include "api/api.h"
#include "core/cidr.h"
#include "core/options.h"

#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_url(void)
{
    CHECK(cds_url_problem("http://127.0.0.1:9003", 0) == NULL);
    CHECK(cds_url_problem("https://rest.esms.vn", 1) == NULL);
    CHECK(cds_url_problem("https://api.speedsms.vn/index.php", 1) == NULL);
    CHECK(cds_url_problem("https://dev-online-gateway.ghn.vn:443/shiip", 1) == NULL);
    CHECK(cds_url_problem("http://exa mple.vn", 0) != NULL);  /* not a URL */
    CHECK(cds_url_problem("rest.esms.vn", 0) != NULL);        /* no scheme */
    CHECK(cds_url_problem("ftp://rest.esms.vn", 0) != NULL);  /* not http(s) */
    CHECK(cds_url_problem("https://", 0) != NULL);            /* no host */
    CHECK(cds_url_problem("http://rest.esms.vn", 1) != NULL); /* production: https */
    CHECK(cds_url_problem("https://127.0.0.1:8443", 1) != NULL);
    CHECK(cds_url_problem("https://127.8.9.10", 1) != NULL);
    CHECK(cds_url_problem("https://localhost", 1) != NULL);
    CHECK(cds_url_problem("https://api.localhost", 1) != NULL);
    CHECK(cds_url_problem("https://[::1]:9443", 1) != NULL);
    CHECK(cds_url_problem("https://0.0.0.0", 1) != NULL);
    CHECK(cds_url_problem("https://sim.example.vn:9003", 1) != NULL); /* a stand-in port */
    CHECK(cds_url_problem("https://sim.example.vn:9100", 1) == NULL);
}

static void test_check(void)
{
    const char *secret = "cds-dev-secret", *key = NULL, *url = "http://127.0.0.1:9001";
    const char *opt = NULL, *plain = "x", *other = "tthc:cds-dev-partner", *fine_url = NULL;
    cds_opt opts[] = {
        {"secret", "CDS_T_SECRET", CDS_OPT_SECRET, &secret, 0, 0, ""},
        {"key", "CDS_T_KEY", CDS_OPT_KEY, &key, 0, 0, ""},
        {"url", "CDS_T_URL", CDS_OPT_URL, &url, 0, 0, ""},
        {"opt", "CDS_T_OPT", CDS_OPT_SECRET | CDS_OPT_OPTIONAL, &opt, 0, 0, ""},
        {"plain", "CDS_T_PLAIN", CDS_OPT_STR, &plain, 0, 0, ""},
        {"other", "CDS_T_OTHER", CDS_OPT_SECRET, &other, 0, 0, ""},
        {"fine", "CDS_T_FINE", CDS_OPT_URL | CDS_OPT_OPTIONAL, &fine_url, 0, 0, ""},
    };
    enum { N = sizeof opts / sizeof opts[0] };
    cds_opt_seen seen[N];
    char err[1024], out[2048];
    char *argv[] = {"x", "serve"};
    /* Nothing configured: development passes, production names four. */
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_INT(cds_opts_check(opts, N, seen, 0, out, sizeof out), 0);
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 4);
    CHECK(strstr(out, "  CDS_T_SECRET: is the development default\n") != NULL);
    CHECK(strstr(out, "  CDS_T_KEY: missing (set it, or CDS_T_KEY_FILE)\n") != NULL);
    CHECK(strstr(out, "  CDS_T_URL: points at this machine") != NULL);
    CHECK(strstr(out, "  CDS_T_OTHER: is the development default\n") != NULL);
    CHECK(strstr(out, "CDS_T_OPT") == NULL && strstr(out, "CDS_T_PLAIN") == NULL);
    cds_opts_seen_free(seen, N);

    /* Configured: the default given again, a cds-dev value, a good one. */
    setenv("CDS_T_SECRET", "cds-dev-secret", 1);
    setenv("CDS_T_KEY", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
    setenv("CDS_T_URL", "https://vneid.example.gov.vn", 1);
    setenv("CDS_T_OPT", "my-cds-dev-key", 1);
    setenv("CDS_T_OTHER", "tthc:9f8e7d6c5b4a", 1);
    setenv("CDS_T_FINE", "https://exa mple.vn", 1);
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 3);
    CHECK(strstr(out, "  CDS_T_SECRET: is the development default\n") != NULL);
    CHECK(strstr(out, "  CDS_T_OPT: is a development value") != NULL);
    CHECK(strstr(out, "  CDS_T_FINE: is not a URL") != NULL);
    /* The malformed URL is refused in development too. */
    CHECK_INT(cds_opts_check(opts, N, seen, 0, out, sizeof out), 1);
    CHECK(strstr(out, "CDS_T_FINE") != NULL);
    cds_opts_seen_free(seen, N);
    unsetenv("CDS_T_FINE");
    unsetenv("CDS_T_OPT");
    unsetenv("CDS_T_KEY");
    unsetenv("CDS_T_SECRET");
    unsetenv("CDS_T_URL");
    unsetenv("CDS_T_OTHER");
}

/* A provider's settings (a CDS_OPT_WITH_PREV run): nothing given passes;
 * one given names every other that has no value, in production only; a
 * default counts as a value; the next provider is not concerned. */
static void test_provider(void)
{
    const char *key = NULL, *key_id = NULL, *team = NULL, *topic = "vn.gov.app",
               *url = "https://api.push.apple.com", *other = NULL, *other_id = NULL;
    cds_opt opts[] = {
        {"key", "CDS_T_APNS_KEY", CDS_OPT_KEY | CDS_OPT_OPTIONAL, &key, 0, 0, ""},
        {"key-id", "CDS_T_APNS_KEY_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, &key_id, 0, 0, ""},
        {"team", "CDS_T_APNS_TEAM_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, &team, 0, 0, ""},
        {"topic", "CDS_T_APNS_TOPIC", CDS_OPT_STR | CDS_OPT_WITH_PREV, &topic, 0, 0, ""},
        {"url", "CDS_T_APNS_URL", CDS_OPT_URL | CDS_OPT_OPTIONAL | CDS_OPT_WITH_PREV, &url, 0, 0, ""},
        {"other", "CDS_T_OTHER_SECRET", CDS_OPT_SECRET | CDS_OPT_OPTIONAL, &other, 0, 0, ""},
        {"other-id", "CDS_T_OTHER_ID", CDS_OPT_STR | CDS_OPT_WITH_PREV, &other_id, 0, 0, ""},
    };
    enum { N = sizeof opts / sizeof opts[0] };
    cds_opt_seen seen[N];
    char err[1024], out[2048];
    char *argv[] = {"x", "serve"};
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 0);
    cds_opts_seen_free(seen, N);

    setenv("CDS_T_APNS_KEY_ID", "AB12CD34EF", 1);
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_INT(cds_opts_check(opts, N, seen, 0, out, sizeof out), 0); /* development: as it was */
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 2);
    CHECK_STR(out, "  CDS_T_APNS_KEY: missing (CDS_T_APNS_KEY_ID of the same provider is set)\n"
                   "  CDS_T_APNS_TEAM_ID: missing (CDS_T_APNS_KEY_ID of the same provider is set)\n");
    cds_opts_seen_free(seen, N);

    /* The whole provider: fine; a development value in it is still refused. */
    setenv("CDS_T_APNS_KEY", "-----BEGIN PRIVATE KEY-----cds-dev", 1);
    setenv("CDS_T_APNS_TEAM_ID", "9ZY8XW7VU6", 1);
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 1);
    CHECK(strstr(out, "  CDS_T_APNS_KEY: is a development value") == out);
    cds_opts_seen_free(seen, N);
    key = NULL; /* what parsing wrote is not a default */
    setenv("CDS_T_APNS_KEY", "-----BEGIN PRIVATE KEY-----", 1);
    setenv("CDS_T_APNS_URL", "", 1); /* empty is unset: the default stays */
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 0);
    cds_opts_seen_free(seen, N);

    /* The next provider, given half: only its own missing setting. */
    unsetenv("CDS_T_APNS_KEY");
    unsetenv("CDS_T_APNS_KEY_ID");
    unsetenv("CDS_T_APNS_TEAM_ID");
    key = key_id = team = NULL;
    setenv("CDS_T_OTHER_ID", "x", 1);
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 1);
    CHECK_STR(out, "  CDS_T_OTHER_SECRET: missing (CDS_T_OTHER_ID of the same provider is set)\n");
    cds_opts_seen_free(seen, N);
    unsetenv("CDS_T_OTHER_ID");
    unsetenv("CDS_T_APNS_URL");
    unsetenv("CDS_T_APNS_TEAM_ID");
    unsetenv("CDS_T_APNS_KEY");
    unsetenv("CDS_T_APNS_KEY_ID");
}

static void test_file(void)
{
    const char *secret = NULL, *key = NULL, *plain = NULL;
    cds_opt opts[] = {
        {"secret", "CDS_T_SECRET", CDS_OPT_SECRET, &secret, 0, 0, ""},
        {"key", "CDS_T_KEY", CDS_OPT_KEY, &key, 0, 0, ""},
        {"plain", "CDS_T_PLAIN", CDS_OPT_STR, &plain, 0, 0, ""},
    };
    enum { N = sizeof opts / sizeof opts[0] };
    cds_opt_seen seen[N];
    char err[1024], out[1024], path[] = "/tmp/cds-t-secret-XXXXXX";
    char *argv[] = {"x", "serve"};
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "s3cr3t value\r\n\n", 15) == 15);
    close(fd);
    setenv("CDS_T_SECRET_FILE", path, 1);
    setenv("CDS_T_PLAIN_FILE", "/nonexistent", 1); /* not a secret: NAME_FILE means nothing */
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_STR(secret, "s3cr3t value");
    CHECK(plain == NULL);
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 1); /* the key is missing */
    cds_opts_seen_free(seen, N);
    /* Without seen[] (the other commands): read the same, kept until exit. */
    secret = NULL;
    CHECK_INT(cds_opts_parse(opts, N, 2, argv, 2, err, sizeof err), 0);
    CHECK_STR(secret, "s3cr3t value");
    /* Both set, and an unreadable file: both named, in one report. */
    secret = NULL;
    setenv("CDS_T_SECRET", "inline", 1);
    setenv("CDS_T_KEY_FILE", "/nonexistent/key", 1);
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), -2);
    CHECK(strstr(err, "CDS_T_SECRET: set CDS_T_SECRET or CDS_T_SECRET_FILE, not both") != NULL);
    CHECK(strstr(err, "CDS_T_KEY_FILE: cannot read /nonexistent/key") != NULL);
    CHECK(strchr(err, '\n') != NULL);
    /* Reported once: the checks do not call them missing as well. */
    CHECK_INT(cds_opts_check(opts, N, seen, 1, out, sizeof out), 0);
    cds_opts_seen_free(seen, N);
    unsetenv("CDS_T_SECRET");
    unsetenv("CDS_T_SECRET_FILE");
    unsetenv("CDS_T_KEY_FILE");
    unsetenv("CDS_T_PLAIN_FILE");
    unlink(path);

    /* systemd's LoadCredential=: a secret set neither way is read from
     * $CREDENTIALS_DIRECTORY/NAME; NAME or NAME_FILE, when set, win. */
    char creds[] = "/tmp/cds-t-creds-XXXXXX", cred[200];
    CHECK(mkdtemp(creds) != NULL);
    snprintf(cred, sizeof cred, "%s/CDS_T_SECRET", creds);
    fd = open(cred, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "from credential\n", 16) == 16);
    close(fd);
    setenv("CREDENTIALS_DIRECTORY", creds, 1);
    secret = key = NULL;
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_STR(secret, "from credential");
    CHECK(key == NULL); /* no credential of that name: unset, as before */
    cds_opts_seen_free(seen, N);
    setenv("CDS_T_SECRET", "inline", 1);
    CHECK_INT(cds_opts_parse_seen(opts, N, 2, argv, 2, seen, err, sizeof err), 0);
    CHECK_STR(secret, "inline");
    cds_opts_seen_free(seen, N);
    unsetenv("CDS_T_SECRET");
    unsetenv("CREDENTIALS_DIRECTORY");
    unlink(cred);
    rmdir(creds);
}

static void test_cidr(void)
{
    char err[200];
    cds_cidr_list *l = cds_cidr_parse("203.113.131.0/24, 10.1.2.3 2001:db8::/32,192.0.2.128/25", err, sizeof err);
    CHECK(l != NULL);
    CHECK(cds_cidr_match(l, "203.113.131.7"));
    CHECK(cds_cidr_match(l, "203.113.131.255"));
    CHECK(!cds_cidr_match(l, "203.113.132.0"));
    CHECK(cds_cidr_match(l, "10.1.2.3"));
    CHECK(!cds_cidr_match(l, "10.1.2.4"));
    CHECK(cds_cidr_match(l, "2001:db8:ffff::1"));
    CHECK(!cds_cidr_match(l, "2001:db9::1"));
    CHECK(cds_cidr_match(l, "::ffff:203.113.131.9")); /* IPv4-mapped peer */
    CHECK(cds_cidr_match(l, "192.0.2.200"));
    CHECK(!cds_cidr_match(l, "192.0.2.127"));
    CHECK(!cds_cidr_match(l, "not an address"));
    CHECK(!cds_cidr_match(l, NULL));
    cds_cidr_free(l);
    l = cds_cidr_parse("0.0.0.0/0", err, sizeof err);
    CHECK(cds_cidr_match(l, "8.8.8.8") && !cds_cidr_match(l, "2001:db8::1"));
    cds_cidr_free(l);
    CHECK(cds_cidr_parse("", err, sizeof err) == NULL && err[0] == 0);
    CHECK(cds_cidr_parse(NULL, err, sizeof err) == NULL && err[0] == 0);
    CHECK(cds_cidr_parse("10.0.0.0/33", err, sizeof err) == NULL && strstr(err, "10.0.0.0/33"));
    CHECK(cds_cidr_parse("10.0.0.0/", err, sizeof err) == NULL && err[0]);
    CHECK(cds_cidr_parse("10.0.0.0/8, example.vn", err, sizeof err) == NULL && strstr(err, "example.vn"));
    CHECK(cds_cidr_parse("::1/129", err, sizeof err) == NULL && err[0]);
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static void test_registry(void)
{
    static const char *const secret_tails[] = {"_SECRET", "_SECRETS", "_TOKEN", "_KEY", "_KEYS",
                                               "_CLIENTS", "_PASSWORD", "_SERVICE_ACCOUNT"};
    cds_api_config api;
    cds_api_config_defaults(&api);
    cds_opt opts[256];
    size_t n = cds_api_options(&api, opts, sizeof opts / sizeof opts[0]);
    CHECK(n > 50 && n < sizeof opts / sizeof opts[0]);
    int secrets = 0, urls = 0;
    for (size_t i = 0; i < n; i++) {
        const char *env = opts[i].env;
        int kind = CDS_OPT_KIND(opts[i].type);
        if (!env) continue;
        int secret_name = 0;
        for (size_t k = 0; k < sizeof secret_tails / sizeof secret_tails[0]; k++)
            secret_name |= ends_with(env, secret_tails[k]);
        if (secret_name) {
            secrets++;
            if (kind != CDS_OPT_SECRET && kind != CDS_OPT_KEY)
                fprintf(stderr, "%s looks like a secret: give its option the type CDS_OPT_SECRET "
                                "or CDS_OPT_KEY (core/options.h)\n", env);
            CHECK(kind == CDS_OPT_SECRET || kind == CDS_OPT_KEY);
        }
        if (ends_with(env, "_URL") || ends_with(env, "_ISSUER")) {
            urls++;
            if (kind != CDS_OPT_URL)
                fprintf(stderr, "%s looks like a URL: give its option the type CDS_OPT_URL "
                                "(core/options.h)\n", env);
            CHECK(kind == CDS_OPT_URL);
        }
    }
    CHECK(secrets >= 15);
    CHECK(urls >= 8);
}

int main(void)
{
    test_registry();
    test_url();
    test_check();
    test_provider();
    test_file();
    test_cidr();
    return t_done();
}
