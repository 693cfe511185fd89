/* The "sink" stand-in: accepts any request on any path, records it and
 * answers 200 with its sequence number. It stands in for any party that only
 * has to receive something (a webhook target, a callback URL) so a test can
 * check exactly what our side sent. */
#include "sim/sim.h"

static void sink_any(cds_req *r)
{
    long seq = sim_record(r);
    cds_respond_json(r, 200, json_pack("{s:b,s:I}", "ok", 1, "seq", (json_int_t)seq));
}

sim_standin sim_sink = {
    .name = "sink",
    .default_port = 9000,
    .fallback = sink_any,
};
