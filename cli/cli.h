/* Subcommands of the `cds` program. Each returns the process exit status. */
#ifndef CDS_CLI_H
#define CDS_CLI_H

int cds_cmd_serve(int argc, char **argv);
int cds_cmd_migrate(int argc, char **argv);
int cds_cmd_routes(int argc, char **argv);
int cds_cmd_catalog(int argc, char **argv);
int cds_cmd_receipt(int argc, char **argv);
/* receipt_db_cmd.c: `cds receipt export|correct|series`, with the database. */
int cds_cmd_receipt_db(int argc, char **argv);
int cds_cmd_vietqr(int argc, char **argv);
int cds_cmd_webhook(int argc, char **argv);
int cds_cmd_payments(int argc, char **argv);
/* couriers_cmd.c: `cds couriers add|disable` (a carrier's courier accounts). */
int cds_cmd_couriers(int argc, char **argv);
/* staff_cmd.c: `cds staff location|create|totp|disable` (staff accounts). */
int cds_cmd_staff(int argc, char **argv);
/* attachments_cmd.c: `cds attachments import` (files of CDS_STORAGE_DIR into the database). */
int cds_cmd_attachments(int argc, char **argv);

#endif
