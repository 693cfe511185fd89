/* `cds vietqr`: VietQR payloads from the command line, for operators
 * checking a fee notice and for the scanner tests.
 *
 *   cds vietqr decode PAYLOAD|-     fields as JSON on stdout, exit 0; or the
 *                                   decoder's message on stderr, exit 1
 *   cds vietqr encode --bin B --account A [--service account|card]
 *                     [--amount N] [--purpose TEXT] [--bill TEXT]
 *                     [--static|--dynamic] [--png FILE] [--svg FILE] [--scale N]
 *                                   the payload on stdout (and the images)
 *
 * "-" reads the payload from stdin, one trailing newline dropped, so that
 * `zbarimg --raw -q code.png | cds vietqr decode -` works. The purpose and
 * bill number may be typed in Vietnamese: they go through the diacritic folding
 * (core/vn_fold.h) first, since a payload carries only printable ASCII.
 * Images use core/qr.h with error correction M; the PNG has `--scale`
 * pixels per module (default 8), both have the 4-module quiet zone.
 * Exit status: 0 done, 1 the payload or a field is refused (or a file could
 * not be written), 2 usage. The options are parsed here rather than with
 * core/options.h because --static and --dynamic take no value. */
#include "cli/cli.h"
#include "core/qr.h"
#include "core/vn_fold.h"
#include "payment/vietqr.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *me = "cds vietqr";

static const char USAGE[] =
    "usage: cds vietqr decode PAYLOAD       (PAYLOAD \"-\": read it from stdin)\n"
    "       cds vietqr encode --bin BIN --account NUMBER [options]\n"
    "\n"
    "decode prints the payload's fields as JSON, or why it is refused (exit 1).\n"
    "encode prints a NAPAS VietQR payload (and writes it as a QR code image):\n"
    "  --bin BIN             the bank's 6-digit NAPAS BIN (970403 ...)\n"
    "  --account NUMBER      account number (letters, digits) or card number, up to 19\n"
    "  --service account|card  transfer to an account (QRIBFTTA, default) or a card (QRIBFTTC)\n"
    "  --amount N            amount in VND, digits only (none: the payer types it)\n"
    "  --purpose TEXT        purpose of transaction, up to 25 characters (diacritics removed)\n"
    "  --bill TEXT           bill number, up to 25 characters\n"
    "  --static | --dynamic  point of initiation (default: dynamic when there is an amount)\n"
    "  --png FILE            also write the QR code as PNG (error correction M)\n"
    "  --svg FILE            also write the QR code as SVG\n"
    "  --scale N             PNG pixels per module, 1..32 (default 8)\n";

typedef struct encode_args {
    const char *bin, *account, *service, *amount, *purpose, *bill, *png, *svg, *scale;
    int initiation;
} encode_args;

/* ---------------- decode ---------------- */

/* Reads stdin into buf (NUL-terminated), dropping one trailing "\n" or
 * "\r\n". Returns the length, or -1 when it holds more than cap - 1 bytes. */
static long read_stdin(char *buf, size_t cap)
{
    size_t n = fread(buf, 1, cap - 1, stdin);
    if (n == cap - 1 && fgetc(stdin) != EOF) return -1;
    if (n > 0 && buf[n - 1] == '\n') n--;
    if (n > 0 && buf[n - 1] == '\r') n--;
    buf[n] = 0;
    return (long)n;
}

static int decode_cmd(const char *arg)
{
    char buf[CDS_VIETQR_PAYLOAD_MAX + 4];
    const char *p = arg;
    size_t n = strlen(arg);
    if (strcmp(arg, "-") == 0) {
        long r = read_stdin(buf, sizeof buf);
        if (r < 0) {
            fprintf(stderr, "%s: payload on stdin longer than %d characters\n", me,
                    CDS_VIETQR_PAYLOAD_MAX);
            return 1;
        }
        p = buf;
        n = (size_t)r;
    }
    cds_vietqr_decoded *d = malloc(sizeof *d);
    if (!d) {
        fprintf(stderr, "%s: out of memory\n", me);
        return 1;
    }
    cds_vietqr_error err;
    int rc = 1;
    if (cds_vietqr_decode(p, n, d, &err) != 0) {
        fprintf(stderr, "%s: %s\n", me, err.msg);
        free(d);
        return 1;
    }
    json_t *j = cds_vietqr_json(d);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (text) {
        printf("%s\n", text);
        rc = 0;
    } else {
        fprintf(stderr, "%s: out of memory\n", me);
    }
    free(text);
    json_decref(j);
    free(d);
    return rc;
}

/* ---------------- encode ---------------- */

/* Parses argv[first..] into a; 0, 1 for --help, or -1 after a message. */
static int parse_encode(int argc, char **argv, int first, encode_args *a)
{
    static const struct {
        const char *flag;
        size_t at; /* offset of the const char * in encode_args */
    } valued[] = {
        {"bin", offsetof(encode_args, bin)},         {"account", offsetof(encode_args, account)},
        {"service", offsetof(encode_args, service)}, {"amount", offsetof(encode_args, amount)},
        {"purpose", offsetof(encode_args, purpose)}, {"bill", offsetof(encode_args, bill)},
        {"png", offsetof(encode_args, png)},         {"svg", offsetof(encode_args, svg)},
        {"scale", offsetof(encode_args, scale)},
    };
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return 1;
        if (strcmp(arg, "--static") == 0 || strcmp(arg, "--dynamic") == 0) {
            int want = arg[2] == 's' ? CDS_VIETQR_STATIC : CDS_VIETQR_DYNAMIC;
            if (a->initiation && a->initiation != want) {
                fprintf(stderr, "%s: --static and --dynamic exclude each other\n", me);
                return -1;
            }
            a->initiation = want;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", me, arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        size_t k = 0, nv = sizeof valued / sizeof valued[0];
        while (k < nv &&
               !(strlen(valued[k].flag) == len && strncmp(valued[k].flag, name, len) == 0))
            k++;
        if (k == nv) {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", me, arg);
            return -1;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "%s: option '%s' needs a value\n", me, arg);
            return -1;
        }
        *(const char **)((char *)a + valued[k].at) = v;
    }
    return 0;
}

/* Whole decimal number in [min, max], digits only. */
static int parse_number(const char *s, unsigned long long min, unsigned long long max,
                        unsigned long long *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s)) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* Copies text without diacritics into dst (cap bytes). The stripper's own
 * limit is generous; the encoder gives the precise message on length. */
static int strip_into(const char *what, const char *text, char *dst, size_t cap)
{
    char tmp[256];
    if (!text) return 0;
    if (cds_vn_fold(text, tmp, sizeof tmp) < 0) {
        fprintf(stderr, "%s: --%s: not valid UTF-8, or far too long\n", me, what);
        return -1;
    }
    if (strlen(tmp) >= cap) {
        fprintf(stderr, "%s: field %s: %zu characters, at most %zu (\"%s\")\n", me,
                strcmp(what, "bill") == 0 ? "62.01 (bill number)"
                                          : "62.08 (purpose of transaction)",
                strlen(tmp), cap - 1, tmp);
        return -1;
    }
    memcpy(dst, tmp, strlen(tmp) + 1);
    return 0;
}

/* Copies a value into a struct's string, which the encoder checks; one
 * too long to fit is refused here, in the encoder's words. */
static int copy_field(const char *field, const char *rule, const char *v, char *dst, size_t cap)
{
    size_t n = strlen(v);
    if (n >= cap) {
        fprintf(stderr, "%s: field %s: %zu characters, %s\n", me, field, n, rule);
        return -1;
    }
    memcpy(dst, v, n + 1);
    return 0;
}

/* Fills q from the arguments; 0, or the exit status after a message: 2
 * for usage, 1 for a value the encoder would refuse anyway. */
static int build_input(const encode_args *a, cds_vietqr *q)
{
    memset(q, 0, sizeof *q);
    if (!a->bin || !a->account) {
        fprintf(stderr, "%s: encode needs --bin and --account (see --help)\n", me);
        return 2;
    }
    if (!a->service || strcmp(a->service, "account") == 0) {
        q->service = CDS_VIETQR_ACCOUNT;
    } else if (strcmp(a->service, "card") == 0) {
        q->service = CDS_VIETQR_CARD;
    } else {
        fprintf(stderr, "%s: --service must be 'account' or 'card', not '%s'\n", me, a->service);
        return 2;
    }
    unsigned long long amount = 0;
    if (a->amount && parse_number(a->amount, 1, CDS_VIETQR_AMOUNT_MAX, &amount) != 0) {
        fprintf(stderr,
                "%s: --amount must be a whole number of VND from 1 to 9999999999999, digits only, "
                "not '%s'\n",
                me, a->amount);
        return 2;
    }
    q->amount = amount;
    q->initiation = a->initiation;
    const char *what =
        q->service == CDS_VIETQR_CARD ? "38.01.01 (card number)" : "38.01.01 (account number)";
    if (copy_field("38.01.00 (acquirer BIN)", "must be 6 digits", a->bin, q->bin, sizeof q->bin) ||
        copy_field(what, "at most 19", a->account, q->account, sizeof q->account) ||
        strip_into("purpose", a->purpose, q->purpose, sizeof q->purpose) ||
        strip_into("bill", a->bill, q->bill, sizeof q->bill))
        return 1;
    return 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", me, path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(data, 1, len, f);
    int bad = w != len;
    if (fclose(f) != 0) bad = 1;
    if (bad) fprintf(stderr, "%s: %s: write failed: %s\n", me, path, strerror(errno));
    return bad ? -1 : 0;
}

static int write_images(const encode_args *a, const char *payload, int scale)
{
    size_t len;
    if (a->png) {
        unsigned char *png = cds_qr_png(payload, CDS_QR_ECC_M, scale, &len);
        int rc = png ? write_file(a->png, png, len) : -1;
        if (!png) fprintf(stderr, "%s: could not draw the PNG\n", me);
        free(png);
        if (rc) return -1;
    }
    if (a->svg) {
        char *svg = cds_qr_svg(payload, CDS_QR_ECC_M, &len);
        int rc = svg ? write_file(a->svg, svg, len) : -1;
        if (!svg) fprintf(stderr, "%s: could not draw the SVG\n", me);
        free(svg);
        if (rc) return -1;
    }
    return 0;
}

static int encode_cmd(int argc, char **argv)
{
    encode_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_encode(argc, argv, 3, &a);
    if (rc == 1) {
        fputs(USAGE, stdout);
        return 0;
    }
    cds_vietqr q;
    unsigned long long scale = 8;
    if (rc < 0) return 2;
    if ((rc = build_input(&a, &q)) != 0) return rc;
    if (a.scale && parse_number(a.scale, 1, 32, &scale) != 0) {
        fprintf(stderr, "%s: --scale must be a whole number from 1 to 32, not '%s'\n", me, a.scale);
        return 2;
    }
    char payload[CDS_VIETQR_PAYLOAD_MAX + 1];
    cds_vietqr_error err;
    if (cds_vietqr_encode(&q, payload, sizeof payload, &err) < 0) {
        fprintf(stderr, "%s: %s\n", me, err.msg);
        return 1;
    }
    if (write_images(&a, payload, (int)scale) != 0) return 1;
    printf("%s\n", payload);
    return 0;
}

int cds_cmd_vietqr(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        fputs(USAGE, argc < 3 ? stderr : stdout);
        return argc < 3 ? 2 : 0;
    }
    if (strcmp(argv[2], "decode") == 0) {
        if (argc == 4 && strcmp(argv[3], "--help") != 0) return decode_cmd(argv[3]);
        fputs(USAGE, argc == 4 ? stdout : stderr);
        return argc == 4 ? 0 : 2;
    }
    if (strcmp(argv[2], "encode") == 0) return encode_cmd(argc, argv);
    fprintf(stderr, "%s: unknown subcommand '%s' (decode or encode)\n", me, argv[2]);
    return 2;
}
