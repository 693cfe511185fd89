/* `cds staff`: operators bootstrap and manage staff accounts from a shell
 * (auth/staff.h; the same SQL as the operators' routes and console):
 *
 *   cds staff location --code C --name N --address A --agency AG --actor WHO
 *       an agent location (post office); prints its id
 *   cds staff create --login L --name N --role operator|auditor|agent
 *                    [--location UUID] [--oidc-subject SUB] [--no-password] --actor WHO
 *       reads the password from the first line of standard input (unless
 *       --no-password: then the account logs in with staff OIDC only) and
 *       prints the id, the new TOTP secret and its otpauth:// URI (shown
 *       this once; the secret is kept sealed)
 *   cds staff totp --login L --actor WHO
 *       a new TOTP secret (the old one stops working, sessions end)
 *   cds staff disable --login L --actor WHO
 *       the account's sessions end at once on every node
 *
 * The TOTP secret is sealed with the personal-data keys (CDS_DATA_KEYS, or
 * the development key in CDS_DEV_KEYS_DIR), so run this with the same
 * settings as the servers. Exit status 0 on success, 1 when refused (the
 * reason printed), 2 for a usage error. */
#include "auth/auth.h"
#include "auth/staff.h"
#include "cli/cli.h"
#include "core/options.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *me = "cds staff";

static int print_totp(const char *login, const char *secret, const char *issuer)
{
    char *uri = cds_totp_uri(issuer, login, secret);
    if (!uri) return 1;
    printf("totp_secret=%s\notpauth_uri=%s\n", secret, uri);
    free(uri);
    return 0;
}

static int read_password(char *out, size_t cap)
{
    if (!fgets(out, (int)cap, stdin)) return -1;
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

static int cmd_create(PGconn *c, const cds_auth_config *ac, const char *login, const char *name,
                      const char *role, const char *location, const char *subject, int no_password,
                      const char *by)
{
    char pw[256], hash[CDS_STAFF_HASH_MAX], secret[33];
    char *sealed = NULL;
    if (!no_password) {
        const char *why;
        if (read_password(pw, sizeof pw) != 0) {
            fprintf(stderr, "%s create: no password on standard input\n", me);
            return 2;
        }
        if (!cds_staff_password_acceptable(pw, &why)) {
            fprintf(stderr, "%s create: password refused: %s\n", me, why);
            OPENSSL_cleanse(pw, sizeof pw);
            return 2;
        }
        int hrc = cds_staff_password_hash(pw, hash);
        OPENSSL_cleanse(pw, sizeof pw);
        if (hrc != 0 || cds_totp_secret_new(secret) != 0 || !(sealed = cds_staff_totp_seal(secret))) {
            fprintf(stderr, "%s create: hashing or sealing failed\n", me);
            return 1;
        }
    }
    const char *v[] = {login, name, role, location, no_password ? NULL : hash, sealed, subject, by};
    PGresult *r = cds_cli_query(me, c,
                      "SELECT status, id FROM cds_staff_create($1, $2, $3, $4::uuid, $5, $6, $7, $8)",
                      8, v, 1);
    free(sealed);
    int rc = 1;
    if (r) {
        const char *st = PQgetvalue(r, 0, 0);
        if (strcmp(st, "created") == 0) {
            printf("id=%s\n", PQgetvalue(r, 0, 1));
            rc = no_password ? 0 : print_totp(login, secret, ac->totp_issuer);
        } else if (strcmp(st, "exists") == 0) {
            fprintf(stderr, "%s create: login %s is taken (id %s)\n", me, login, PQgetvalue(r, 0, 1));
        } else {
            fprintf(stderr, "%s create: %s\n", me,
                    strcmp(st, "no_location") == 0 ? "no such agent location"
                                                   : "an agent needs --location, other roles none");
        }
        PQclear(r);
    }
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

int cds_cmd_staff(int argc, char **argv)
{
    const char *db = NULL, *login = NULL, *name = NULL, *role = NULL, *location = NULL,
               *subject = NULL, *actor = NULL, *code = NULL, *address = NULL, *agency = NULL;
    int no_password = 0;
    cds_auth_config ac;
    cds_auth_config_defaults(&ac);
    cds_opt opts[64] = {
        {"login", NULL, CDS_OPT_STR, &login, 0, 0, "the account's login (a-z 0-9 . _ -)"},
        {"name", NULL, CDS_OPT_STR, &name, 0, 0, "create, location: display name"},
        {"role", NULL, CDS_OPT_STR, &role, 0, 0, "create: operator, auditor or agent"},
        {"location", NULL, CDS_OPT_STR, &location, 0, 0, "create: an agent's location id"},
        {"oidc-subject", NULL, CDS_OPT_STR, &subject, 0, 0, "create: the subject at the staff OIDC issuer"},
        {"no-password", NULL, CDS_OPT_INT, &no_password, 0, 1, "create: 1 = staff OIDC login only"},
        {"code", NULL, CDS_OPT_STR, &code, 0, 0, "location: its code"},
        {"address", NULL, CDS_OPT_STR, &address, 0, 0, "location: its address"},
        {"agency", NULL, CDS_OPT_STR, &agency, 0, 0, "location: the agency code it files for"},
        {"actor", NULL, CDS_OPT_STR, &actor, 0, 0, "who does it (the audit log)"},
        {"database-url", "CDS_DATABASE_URL", CDS_OPT_SECRET, &db, 0, 0, "PostgreSQL connection string"},
    };
    size_t nopts = 11;
    nopts += cds_auth_options(&ac, opts + nopts, sizeof opts / sizeof opts[0] - nopts);
    const char *usage =
        "usage: cds staff location --code C --name N --address A --agency AG --actor WHO\n"
        "       cds staff create --login L --name N --role R [--location ID] [--oidc-subject S]\n"
        "                        [--no-password 1] --actor WHO   (password on standard input)\n"
        "       cds staff totp --login L --actor WHO\n"
        "       cds staff disable --login L --actor WHO";
    int rc = cds_cli_args(me, usage, opts, nopts, argc, argv);
    if (rc >= 0) return rc;
    const char *sub = argv[2];
    int is_loc = !strcmp(sub, "location"), is_create = !strcmp(sub, "create"),
        is_totp = !strcmp(sub, "totp"), is_disable = !strcmp(sub, "disable");
    if (!is_loc && !is_create && !is_totp && !is_disable) {
        fprintf(stderr, "%s: unknown subcommand '%s' (location, create, totp, disable)\n", me, sub);
        return 2;
    }
    const char *missing = !db || !*db                     ? "--database-url (or CDS_DATABASE_URL)"
                          : !actor                        ? "--actor"
                          : is_loc && (!code || !name || !address || !agency)
                              ? "--code, --name, --address and --agency"
                          : !is_loc && !login             ? "--login"
                          : is_create && (!name || !role) ? "--name and --role"
                          : is_create && no_password && !subject ? "--oidc-subject (with --no-password)"
                                                                 : NULL;
    if (missing) {
        fprintf(stderr, "%s %s: %s required\n", me, sub, missing);
        return 2;
    }
    if ((is_create || is_totp) && cds_auth_init(&ac, NULL) != 0) {
        fprintf(stderr, "%s: cannot load the sealing keys\n", me);
        return 1;
    }
    PGconn *c = cds_cli_connect(me, db);
    if (!c) {
        if (is_create || is_totp) cds_auth_shutdown();
        return 1;
    }
    char by[300];
    snprintf(by, sizeof by, "operator:%s", actor);
    rc = 1;
    PGresult *r = NULL;
    if (is_loc) {
        const char *v[] = {code, name, address, agency, by};
        r = cds_cli_query(me, c, "SELECT status, id FROM cds_agent_location_create($1, $2, $3, $4, $5)", 5, v, 1);
        if (r && strcmp(PQgetvalue(r, 0, 0), "created") == 0) {
            printf("id=%s\n", PQgetvalue(r, 0, 1));
            rc = 0;
        } else if (r) {
            fprintf(stderr, "%s location: %s\n", me,
                    strcmp(PQgetvalue(r, 0, 0), "exists") == 0 ? "that code exists" : "unknown agency");
        }
    } else if (is_create) {
        rc = cmd_create(c, &ac, login, name, role, location, subject, no_password, by);
    } else if (is_totp) {
        char secret[33];
        char *sealed = cds_totp_secret_new(secret) == 0 ? cds_staff_totp_seal(secret) : NULL;
        const char *v[] = {login, sealed, by};
        if (sealed)
            r = cds_cli_query(me, c, "SELECT cds_staff_totp_set((SELECT id FROM staff WHERE login = $1), $2, $3)", 3, v, 1);
        free(sealed);
        if (r && strcmp(PQgetvalue(r, 0, 0), "ok") == 0) rc = print_totp(login, secret, ac.totp_issuer);
        else if (r) fprintf(stderr, "%s totp: no account %s with a password\n", me, login);
        OPENSSL_cleanse(secret, sizeof secret);
    } else {
        const char *v[] = {login, by};
        r = cds_cli_query(me, c, "SELECT status, disabled_at FROM cds_staff_disable((SELECT id FROM staff WHERE login = $1), $2)", 2, v, 1);
        if (r && strcmp(PQgetvalue(r, 0, 0), "not_found") != 0) {
            printf("disabled_at=%s\n", PQgetvalue(r, 0, 1));
            rc = 0;
        } else if (r) {
            fprintf(stderr, "%s disable: no account %s\n", me, login);
        }
    }
    PQclear(r);
    PQfinish(c);
    if (is_create || is_totp) cds_auth_shutdown();
    return rc;
}
