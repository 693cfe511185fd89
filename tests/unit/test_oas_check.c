/* The response validator the integration tests run on every JSON answer
 * (tests/lib/oas_check.h) catches what it is for: a wrong type, a value
 * outside an enum or const, a missing required property, an undocumented
 * status or media type; and passes conforming answers. */
#include "tests/lib/oas_check.h"
#include "tests/lib/t.h"

static int chk(const char *method, const char *path, long status, const char *ct, const char *body)
{
    return oas_check(method, path, status, ct, body, strlen(body));
}

int main(void)
{
    const char *j = "application/json", *pj = "application/problem+json; charset=utf-8";
    CHECK_INT(chk("GET", "/healthz", 200, j, "{\"status\":\"ok\"}"), 0);
    CHECK_INT(chk("GET", "/healthz", 200, j, "{\"status\":\"bad\"}"), -1);   /* const */
    CHECK_INT(chk("GET", "/healthz", 200, j, "{}"), -1);                     /* required */
    CHECK_INT(chk("GET", "/readyz", 200, j, "{\"status\":\"ready\",\"database\":1}"), -1);
    CHECK_INT(chk("GET", "/healthz", 200, "text/plain", "anything"), 0);    /* not JSON: not checked */
    const char *problem = "{\"type\":\"urn:cds:problem:not_ready\",\"title\":\"x\",\"status\":503,"
                          "\"code\":\"not_ready\",\"detail\":\"d\",\"request_id\":\"r\"}";
    CHECK_INT(chk("GET", "/readyz", 503, pj, problem), 0);
    const char *bad_code = "{\"type\":\"t\",\"title\":\"x\",\"status\":503,"
                           "\"code\":\"no_such_code\",\"detail\":\"d\",\"request_id\":\"r\"}";
    CHECK_INT(chk("GET", "/readyz", 503, pj, bad_code), -1); /* enum, through $ref */
    CHECK_INT(chk("GET", "/readyz", 503, j, problem), -1);   /* media type not documented */
    /* A path template with a parameter, and a literal path preferred over it. */
    CHECK_INT(chk("GET", "/v1/procedures/1.001193?x=1", 404, pj,
                  "{\"type\":\"t\",\"title\":\"x\",\"status\":404,\"code\":\"procedure_not_found\","
                  "\"detail\":\"d\",\"request_id\":\"r\"}"),
              0);
    CHECK_INT(chk("GET", "/v1/no-such-path", 404, pj, "{}"), 0); /* not an operation: not checked */
    return t_done();
}
