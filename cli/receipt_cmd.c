/* `cds receipt`: e-receipt tools that need no server and no database.
 *
 *   cds receipt verify --file EXPORT.json --pubkey AGENCY_PUB.pem
 *       checks a receipt export offline against the agency's public key:
 *       prints "genuine" and the receipt's key fields (exit 0), or
 *       "NOT genuine: <reason>" (exit 1); 2 for a usage or file error.
 *   cds receipt keygen --out DIR [--alg p256|ed25519]
 *       makes an agency signing key: DIR/receipt_key.pem (private, mode
 *       0600) and DIR/receipt_pub.pem (public, to hand to verifiers);
 *       never overwrites a file; prints the key id.
 *   cds receipt sign --content CONTENT.json --key KEY.pem [--out EXPORT.json]
 *       signs a receipt content (the object canonical.h describes) into an
 *       export, on stdout without --out; for operators and tests, the
 *       server signs in the payment transaction.
 *   cds receipt pdf --file EXPORT.json --url URL --out RECEIPT.pdf
 *                   [--pubkey AGENCY_PUB.pem] [--font-dir DIR]
 *       renders the printable receipt with URL in its QR code; with
 *       --pubkey, only a genuine receipt is rendered.
 *
 * Files are read whole with a size cap (an export above
 * CDS_RCPT_EXPORT_MAX is not a receipt) and written with plain stdio:
 * these are operator commands, never run on an event-loop thread. */
#include "cli/cli.h"
#include "core/jose.h"
#include "core/options.h"
#include "core/vn.h"
#include "receipts/pdf.h"
#include "receipts/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *me = "cds receipt";

/* The whole file, NUL-terminated (malloc); NULL with a message on stderr. */
static char *slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", me, path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        fprintf(stderr, "%s: %s: not a regular file of at most %zu bytes\n", me, path, max);
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf || fread(buf, 1, n, f) != n) {
        fprintf(stderr, "%s: %s: read failed\n", me, path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Writes data to path (created with `mode`; O_EXCL when `exclusive`). */
static int write_file(const char *path, const void *data, size_t n, mode_t mode, int exclusive)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC), mode);
    if (fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", me, path, strerror(errno));
        return -1;
    }
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(stderr, "%s: %s: %s\n", me, path, strerror(errno));
            close(fd);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "%s: %s: %s\n", me, path, strerror(errno));
        return -1;
    }
    return 0;
}

static EVP_PKEY *load_key(const char *path, int private)
{
    size_t n = 0;
    char *pem = slurp(path, 64 * 1024, &n);
    if (!pem) return NULL;
    EVP_PKEY *k = private ? cds_receipt_key_from_pem(pem, n) : cds_receipt_pubkey_from_pem(pem, n);
    free(pem);
    if (!k)
        fprintf(stderr, "%s: %s: not a %s P-256 or Ed25519 key in PEM\n", me, path,
                private ? "private (unencrypted)" : "public (\"PUBLIC KEY\")");
    return k;
}

/* ---------------- subcommands ---------------- */

static int cmd_verify(const char *file, const char *pubkey)
{
    size_t n = 0;
    char *json = slurp(file, CDS_RCPT_EXPORT_MAX, &n);
    if (!json) return 2;
    EVP_PKEY *key = load_key(pubkey, 0);
    if (!key) {
        free(json);
        return 2;
    }
    cds_receipt r;
    cds_receipt_sig sig;
    const char *why = NULL;
    int rc = cds_receipt_export_verify(json, n, key, &r, &sig, &why);
    char kid[CDS_RCPT_KID_LEN + 1] = "";
    cds_receipt_kid(key, kid);
    EVP_PKEY_free(key);
    free(json);
    if (rc == CDS_RCPT_EFORMAT) {
        printf("NOT genuine: malformed receipt (%s)\n", why ? why : "?");
        return 1;
    }
    if (rc == CDS_RCPT_EKID) {
        printf("NOT genuine: signed with key %s, not with this agency key %s\n", sig.kid, kid);
        return 1;
    }
    if (rc != CDS_RCPT_OK) {
        printf("NOT genuine: %s\n", cds_receipt_strerror(rc));
        return 1;
    }
    char amount[40];
    cds_vn_grouped(r.amount, amount, sizeof amount);
    printf("genuine\n");
    printf("  receipt:    mẫu số %s, ký hiệu %s, số %08ld (%d)\n", r.template_no, r.serial,
           r.number, r.year);
    printf("  kind:       %s%s%s\n", cds_receipt_kind_name(r.kind),
           r.kind == CDS_RCPT_ORIGINAL ? "" : ", of ", r.replaces);
    printf("  issuer:     %s (MST %s)\n", r.issuer.agency_name, r.issuer.tax_code);
    printf("  payer:      %s\n", r.payer.name);
    printf("  fee:        %s\n", r.fee_name);
    printf("  dossier:    %s\n", r.dossier_code);
    printf("  amount:     %s đồng (%s)\n", amount, r.amount_words);
    printf("  bank ref:   %s\n", r.bank_ref);
    printf("  paid at:    %s\n", r.paid_at);
    printf("  issued at:  %s\n", r.issued_at);
    printf("  signature:  %s, key %s\n", sig.alg, sig.kid);
    return 0;
}

static int cmd_keygen(const char *dir, const char *alg_name)
{
    int alg = strcmp(alg_name, "p256") == 0      ? CDS_ALG_ES256
              : strcmp(alg_name, "ed25519") == 0 ? CDS_ALG_EDDSA
                                                 : 0;
    if (!alg) {
        fprintf(stderr, "%s: --alg must be p256 or ed25519\n", me);
        return 2;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: %s: %s\n", me, dir, strerror(errno));
        return 2;
    }
    char priv_path[4096], pub_path[4096], kid[CDS_RCPT_KID_LEN + 1];
    int a = snprintf(priv_path, sizeof priv_path, "%s/receipt_key.pem", dir);
    int b = snprintf(pub_path, sizeof pub_path, "%s/receipt_pub.pem", dir);
    if (a < 0 || b < 0 || (size_t)a >= sizeof priv_path || (size_t)b >= sizeof pub_path) {
        fprintf(stderr, "%s: %s: path too long\n", me, dir);
        return 2;
    }
    EVP_PKEY *k = cds_pkey_generate(alg);
    char *priv = k ? cds_pkey_to_pem(k) : NULL, *pub = k ? cds_receipt_pubkey_pem(k) : NULL;
    int rc = 2;
    if (!priv || !pub || cds_receipt_kid(k, kid) != CDS_RCPT_OK) {
        fprintf(stderr, "%s: key generation failed\n", me);
    } else if (write_file(priv_path, priv, strlen(priv), 0600, 1) == 0) {
        if (write_file(pub_path, pub, strlen(pub), 0644, 1) == 0) {
            printf("private key: %s (keep secret)\npublic key:  %s\nkey id:      %s\n", priv_path,
                   pub_path, kid);
            rc = 0;
        } else {
            unlink(priv_path); /* no private key without its public half */
        }
    }
    if (priv) OPENSSL_cleanse(priv, strlen(priv));
    free(priv);
    free(pub);
    EVP_PKEY_free(k);
    return rc;
}

static int cmd_sign(const char *content_path, const char *key_path, const char *out_path)
{
    size_t n = 0;
    char *text = slurp(content_path, CDS_RCPT_EXPORT_MAX, &n);
    if (!text) return 2;
    json_error_t e;
    json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e);
    free(text);
    if (!j) {
        fprintf(stderr, "%s: %s:%d:%d: %s\n", me, content_path, e.line, e.column, e.text);
        return 2;
    }
    cds_receipt r;
    const char *why = NULL;
    int bad = cds_receipt_from_json(j, &r, &why);
    json_decref(j);
    if (bad) {
        fprintf(stderr, "%s: %s: invalid content: %s\n", me, content_path, why);
        return 2;
    }
    EVP_PKEY *key = load_key(key_path, 1);
    if (!key) return 2;
    cds_receipt_sig sig;
    int rc = cds_receipt_sign(key, &r, &sig);
    EVP_PKEY_free(key);
    size_t len = 0;
    char *doc = rc == CDS_RCPT_OK ? cds_receipt_export(&r, &sig, &len) : NULL;
    if (!doc) {
        fprintf(stderr, "%s: signing failed: %s\n", me, cds_receipt_strerror(rc));
        return 2;
    }
    int st = 0;
    if (out_path) {
        st = write_file(out_path, doc, len, 0644, 0) == 0 ? 0 : 2;
    } else if (fwrite(doc, 1, len, stdout) != len || fputc('\n', stdout) == EOF) {
        st = 2;
    }
    free(doc);
    return st;
}

static int cmd_pdf(const char *file, const char *url, const char *out_path, const char *pubkey,
                   const char *font_dir)
{
    size_t n = 0;
    char *json = slurp(file, CDS_RCPT_EXPORT_MAX, &n);
    if (!json) return 2;
    cds_receipt r;
    cds_receipt_sig sig;
    const char *why = NULL;
    int rc;
    if (pubkey) {
        EVP_PKEY *key = load_key(pubkey, 0);
        rc = key ? cds_receipt_export_verify(json, n, key, &r, &sig, &why) : CDS_RCPT_EKEY;
        EVP_PKEY_free(key);
    } else {
        rc = cds_receipt_export_parse(json, n, &r, &sig, &why);
    }
    free(json);
    if (rc != CDS_RCPT_OK) {
        fprintf(stderr, "%s: %s: %s%s%s\n", me, file, pubkey ? "NOT genuine: " : "",
                rc == CDS_RCPT_EFORMAT ? "malformed receipt: " : "", why ? why : "");
        return 1;
    }
    if (cds_receipt_pdf_init(font_dir) != CDS_PDF_OK) {
        fprintf(stderr, "%s: DejaVuSans.ttf and DejaVuSans-Bold.ttf not found in %s\n", me,
                font_dir ? font_dir : CDS_RECEIPT_FONT_DIR);
        return 2;
    }
    unsigned char *pdf = NULL;
    size_t len = 0;
    rc = cds_receipt_pdf(&r, sig.kid, url, &pdf, &len);
    if (rc != CDS_PDF_OK) {
        fprintf(stderr, "%s: rendering failed (%d)%s\n", me, rc,
                rc == CDS_PDF_EINVAL ? ": the URL must be 1..512 printable ASCII characters" : "");
        return 2;
    }
    int st = write_file(out_path, pdf, len, 0644, 0) == 0 ? 0 : 2;
    free(pdf);
    if (st == 0) printf("%s: %zu bytes\n", out_path, len);
    return st;
}

int cds_cmd_receipt(int argc, char **argv)
{
    const char *file = NULL, *pubkey = NULL, *key = NULL, *out = NULL, *url = NULL;
    const char *alg = "p256", *content = NULL, *font_dir = NULL;
    const cds_opt opts[] = {
        {"file", NULL, CDS_OPT_STR, &file, 0, 0, "receipt export (verify, pdf)"},
        {"pubkey", NULL, CDS_OPT_STR, &pubkey, 0, 0, "agency public key PEM (verify, pdf)"},
        {"content", NULL, CDS_OPT_STR, &content, 0, 0, "receipt content JSON (sign)"},
        {"key", NULL, CDS_OPT_STR, &key, 0, 0, "agency private key PEM (sign)"},
        {"out", NULL, CDS_OPT_STR, &out, 0, 0, "output directory (keygen) or file (sign, pdf)"},
        {"alg", NULL, CDS_OPT_STR, &alg, 0, 0, "p256 or ed25519 (keygen)"},
        {"url", NULL, CDS_OPT_STR, &url, 0, 0, "verification link for the QR code (pdf)"},
        {"font-dir", "CDS_RECEIPT_FONT_DIR", CDS_OPT_STR, &font_dir, 0, 0,
         "folder of DejaVuSans.ttf and DejaVuSans-Bold.ttf (pdf)"},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    const char *usage =
        "usage: cds receipt verify --file EXPORT.json --pubkey AGENCY_PUB.pem\n"
        "       cds receipt keygen --out DIR [--alg p256|ed25519]\n"
        "       cds receipt sign --content CONTENT.json --key KEY.pem [--out EXPORT.json]\n"
        "       cds receipt pdf --file EXPORT.json --url URL --out RECEIPT.pdf [--pubkey PEM]\n"
        "       cds receipt export|correct|series ... (with the database: cds receipt export --help)\n\n"
        "verify exits 0 for a genuine receipt, 1 for one that is not, 2 on usage errors.";
    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        cds_opts_help(argc < 3 ? stderr : stdout, usage, opts, nopts);
        return argc < 3 ? 2 : 0;
    }
    const char *sub = argv[2];
    if (strcmp(sub, "export") == 0 || strcmp(sub, "correct") == 0 || strcmp(sub, "series") == 0)
        return cds_cmd_receipt_db(argc, argv);
    char err[256];
    int rc = cds_opts_parse(opts, nopts, argc, argv, 3, err, sizeof err);
    if (rc == 1) {
        cds_opts_help(stdout, usage, opts, nopts);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", me, err);
        return 2;
    }
    if (strcmp(sub, "verify") == 0 && file && pubkey) return cmd_verify(file, pubkey);
    if (strcmp(sub, "keygen") == 0 && out) return cmd_keygen(out, alg);
    if (strcmp(sub, "sign") == 0 && content && key) return cmd_sign(content, key, out);
    if (strcmp(sub, "pdf") == 0 && file && url && out)
        return cmd_pdf(file, url, out, pubkey, font_dir);
    if (strcmp(sub, "verify") && strcmp(sub, "keygen") && strcmp(sub, "sign") && strcmp(sub, "pdf"))
        fprintf(stderr, "%s: unknown subcommand '%s' (verify, keygen, sign, pdf)\n", me, sub);
    else
        fprintf(stderr, "%s %s: missing a required option (see --help)\n", me, sub);
    return 2;
}
