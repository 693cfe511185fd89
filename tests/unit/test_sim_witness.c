/* The stand-ins' own provider code (sim/witness.h: sim/vietqr_read.c,
 * sim/provider_sign.c), which must not be the server's, against what the
 * providers and NAPAS publish:
 *  - payOS docs, "Kiểm tra dữ liệu với signature": the sample webhook data
 *    and its signature 412e915d... (key 1a54716c...);
 *  - payOS's Python SDK tests (tests/_crypto/testCases.json): the
 *    create-payment-link signatures and a payment link's signature;
 *  - Casso's v2 verification sample: secret mgExMrjj..., body, header
 *    t=1727948258788,v1=ed0a4bd2...;
 *  - NAPAS VietQR examples 6.1.3 and the subiz/vietqr README payload, read
 *    and written back byte for byte; CRC-16/CCITT-FALSE's check value;
 *    a changed byte and a cut code refused with their reasons. */
#include "sim/witness.h"
#include "tests/lib/t.h"

#include <stdlib.h>
#include <string.h>

#define NAPAS_613                                                                                  \
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA5303704540618000058" \
    "02VN62340107NPS68690819thanh toan don hang63042E2E"
#define SUBIZ                                                                                      \
    "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA5303704540612000058" \
    "02VN62170813ung ho lu lut6304C15C"

static void test_vietqr(void)
{
    sim_vietqr q;
    char err[200], out[600];
    CHECK_INT(sim_crc16_ccitt_false("123456789", 9), 0x29B1);
    CHECK_INT(sim_vietqr_read(NAPAS_613, strlen(NAPAS_613), &q, err, sizeof err), 0);
    CHECK_STR(q.bin, "970403");
    CHECK_STR(q.account, "0011012345678");
    CHECK_STR(q.service, "QRIBFTTA");
    CHECK_INT(q.amount, 180000);
    CHECK_STR(q.purpose, "thanh toan don hang");
    CHECK_INT(q.dynamic, 1);
    CHECK_INT(sim_vietqr_read(SUBIZ, strlen(SUBIZ), &q, err, sizeof err), 0);
    CHECK_INT(q.amount, 120000);
    CHECK_STR(q.purpose, "ung ho lu lut");
    CHECK_INT(sim_vietqr_write(&q, out, sizeof out), 0);
    CHECK_STR(out, SUBIZ);
    char bad[sizeof SUBIZ];
    memcpy(bad, SUBIZ, sizeof SUBIZ);
    bad[60] = bad[60] == '1' ? '2' : '1';
    CHECK_INT(sim_vietqr_read(bad, strlen(bad), &q, err, sizeof err), -1);
    CHECK(strstr(err, "crc") != NULL);
    CHECK_INT(sim_vietqr_read(SUBIZ, 40, &q, err, sizeof err), -1);
    CHECK(strstr(err, "truncated") != NULL);
}

static void test_payos(void)
{
    char sig[65];
    json_t *doc = json_loads(
        "{\"orderCode\":123,\"amount\":3000,\"description\":\"VQRIO123\",\"accountNumber\":"
        "\"12345678\",\"reference\":\"TF230204212323\",\"transactionDateTime\":"
        "\"2023-02-04 18:25:00\",\"currency\":\"VND\",\"paymentLinkId\":"
        "\"124c33293c43417ab7879e14c8d9eb18\",\"code\":\"00\",\"desc\":\"Thành công\","
        "\"counterAccountBankId\":\"\",\"counterAccountBankName\":\"\",\"counterAccountName\":\"\","
        "\"counterAccountNumber\":\"\",\"virtualAccountName\":\"\",\"virtualAccountNumber\":\"\"}",
        0, NULL);
    CHECK_INT(sim_payos_sign_object(
                  doc, "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675", sig),
              0);
    CHECK_STR(sig, "412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03");
    json_decref(doc);
    doc = json_loads("{\"id\":\"payment-link-id\",\"orderCode\":0,\"amount\":2000,\"amountPaid\":0,"
                     "\"amountRemaining\":2000,\"status\":\"PENDING\",\"createdAt\":"
                     "\"2025-12-12T09:00:00+07:00\",\"transactions\":[],\"canceledAt\":null,"
                     "\"cancellationReason\":null}",
                     0, NULL);
    CHECK_INT(sim_payos_sign_object(doc, "test_checksum_key", sig), 0);
    CHECK_STR(sig, "33093364158b143baa9ecd2e705d9a2a5a5d391a3cab7cb0a371588b3731368f");
    json_decref(doc);
    CHECK_INT(sim_payos_sign_request(3300, "http://localhost", "ABC456", 0, "http://localhost",
                                     "test_checksum_key", sig),
              0);
    CHECK_STR(sig, "189864813370cdf819974dc3f63c3a93a7e7af0a0d10b21344b14e4f7358999b");
    CHECK_INT(sim_payos_sign_request(2000, "http://localhost", "Thanh toán đơn hàng", 0,
                                     "http://localhost", "test_checksum_key", sig),
              0);
    CHECK_STR(sig, "d8b7b0e5d19edfe7b1f53dedeb8d1c7c2b62fabd7eb320dbc514c58f13e9e2c5");
}

static void test_casso(void)
{
    const char body[] =
        "{\"error\": 0, \"data\": {\"id\": 0, \"reference\": \"MA_GIAO_DICH_THU_NGHIEM\","
        " \"description\": \"giao dich thu nghiem\", \"amount\": 599000,"
        " \"runningBalance\": 25000000, \"transactionDateTime\": \"2024-10-03 15:06:37\","
        " \"accountNumber\": \"88888888\", \"bankName\": \"VPBank\", \"bankAbbreviation\": \"VPB\","
        " \"virtualAccountNumber\": \"\", \"virtualAccountName\": \"\","
        " \"counterAccountName\": \"NGUYEN VAN A\", \"counterAccountNumber\": \"8888888888\","
        " \"counterAccountBankId\": \"970415\", \"counterAccountBankName\": \"VietinBank\"}}";
    char out[200];
    CHECK_INT(sim_casso_signature(body, strlen(body),
                                  "mgExMrjj4i7a1p8Cs6LmFbpCd8lbw4sSX4LZXPag7TKazeIogtR90tvWYTkwQbvs",
                                  1727948258788LL, out, sizeof out),
              0);
    CHECK_STR(out, "t=1727948258788,v1=ed0a4bd2e826d5cb69988cdb141e6c1a080e21f3b57eb72cd78192220042"
                   "b9e7dde0868fc667faea8e224900fa7904e7c88dfa098032fb2d6b6996856e8b7ff3");
}

int main(void)
{
    test_vietqr();
    test_payos();
    test_casso();
    return t_done();
}
