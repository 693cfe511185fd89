/* Booked shipments and VNPost webhooks for the load generators (see
 * courier_fixture.h). */
#include "bench/courier_fixture.h"
#include "bench/load.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_courier_prepare(PGconn *db, const char *run, const char *procedure, int n,
                          const char *citizen_id)
{
    char *owner = citizen_id
                      ? bench_xprintf("'%s'::uuid", citizen_id)
                      : bench_xprintf("(SELECT id FROM citizens WHERE pid_hash = 'bench-%s-' || "
                                "(1 + g %% " BENCH_COURIER_CITIZENS_S "))",
                                run);
    char *citizens =
        citizen_id ? strdup("")
                   : bench_xprintf("INSERT INTO citizens (pid_hash, pid_sealed, full_name, phone_sealed, "
                             "ial) SELECT 'bench-%s-' || g, 'v1.bench.x', 'Nguyễn Văn Bench', "
                             "'v1.bench.phone', 2 FROM generate_series(1, " BENCH_COURIER_CITIZENS_S ") g;"
                             "INSERT INTO devices (citizen_id, platform, token) SELECT id, 'fcm', "
                             "'bench-fcm-' || id FROM citizens WHERE pid_hash LIKE 'bench-%s-%%';",
                             run, run);
    if (!owner || !citizens) abort();
    char *sql = bench_xprintf(
        "%s"
        "INSERT INTO dossiers (code, procedure_code, citizen_id, channel, status, delivery, "
        "lookup_hash, due_date, last_event_at) "
        "SELECT 'BENCH-%s-' || g, '%s', %s, 'counter', 'processing', "
        "'{\"method\":\"post\",\"recipient\":{\"name\":\"Nguyễn Văn Bench\",\"phone\":\"0912345678\","
        "\"address\":{\"province\":\"Thành phố Hồ Chí Minh\",\"district\":\"Quận 1\",\"ward\":"
        "\"Phường Bến Nghé\",\"street\":\"12 Nguyễn Huệ\"}},\"fee_vnd\":18000,\"cod\":false,"
        "\"weight_class\":\"document\",\"carrier\":\"vnpost\"}', 'bench', current_date + 10, "
        "now() - interval '1 day' FROM generate_series(1, %d) g;"
        "SELECT count(cds_dossier_refresh(id)) FROM dossiers WHERE code LIKE 'BENCH-%s-%%';"
        "UPDATE dossiers SET status = 'result_ready' WHERE code LIKE 'BENCH-%s-%%';"
        "UPDATE shipments s SET status = 'booked', book_state = 'done', booked_at = now(), "
        "tracking_no = 'BN-%s-' || substr(d.code, length('BENCH-%s-') + 1) "
        "FROM dossiers d WHERE d.id = s.dossier_id AND d.code LIKE 'BENCH-%s-%%';",
        citizens, run, procedure, owner, n, run, run, run, run, run);
    free(owner);
    free(citizens);
    PGresult *r = PQexec(db, sql);
    free(sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) fprintf(stderr, "bench courier fixture: %s\n", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

char *bench_vnpost_event(const char *run, int i, int round, const char *at)
{
    static const char *const codes[] = {"200", "300", "400", "500"};
    const char *pod =
        round == 3 ? ",\"pod\":{\"recipient_name\":\"Nguyễn Văn Bench\",\"relation\":\"self\","
                     "\"delivered_at\":\"2026-01-01T10:00:00+07:00\",\"position\":{\"lat\":10.77,"
                     "\"lng\":106.70},\"image_ref\":\"vnpost://pod/b.png\",\"image_sha256\":"
                     "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}"
                   : "";
    return bench_xprintf("{\"event_id\":\"bn-%s-%d-%s\",\"tracking_number\":\"BN-%s-%d\","
                   "\"status_code\":\"%s\",\"occurred_at\":\"%s\",\"location\":\"Bưu "
                   "cục Sài Gòn\"%s}",
                   run, i, codes[round], run, i, codes[round], at, pod);
}

void bench_vnpost_sign(const char *secret, const char *ts, const char *body, char out[65])
{
    size_t tl = strlen(ts), bl = strlen(body);
    unsigned char *msg = malloc(tl + 1 + bl), md[32];
    unsigned int ml = 0;
    if (!msg) abort();
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, bl);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + bl, md, &ml);
    free(msg);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
