/* `cds`: the one binary of the backend. `cds serve` runs the API server,
 * `cds migrate` applies database migrations, `cds routes` lists the routes;
 * later modules add their operator commands here. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"serve", cds_cmd_serve, "run the API server (HTTP/2 + HTTP/1.1, TLS and cleartext)"},
    {"migrate", cds_cmd_migrate, "apply pending database migrations (--status to list them)"},
    {"routes", cds_cmd_routes, "print the route table (METHOD PATH per line)"},
    {"catalog", cds_cmd_catalog, "load the procedure catalog and public holidays (catalog load --help)"},
    {"receipt", cds_cmd_receipt, "e-receipts: verify, keygen, sign, pdf offline; export, correct, series (receipt --help)"},
    {"vietqr", cds_cmd_vietqr, "decode or encode a VietQR payment payload (vietqr --help)"},
    {"payments", cds_cmd_payments, "reconciliation, unmatched transfers, manual resolution (payments --help)"},
    {"couriers", cds_cmd_couriers, "a carrier's courier accounts: add, disable (couriers --help)"},
    {"staff", cds_cmd_staff, "staff accounts: location, create, totp, disable (staff --help)"},
    {"attachments", cds_cmd_attachments, "attachments import: move files of CDS_STORAGE_DIR into the database"},
    {"webhook", cds_cmd_webhook, "verify a recorded payment-provider webhook (webhook --help)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cds COMMAND [options]   (cds COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc, argv);
    fprintf(stderr, "cds: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
