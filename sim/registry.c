/* The list of stand-ins `cds-sim` can run. A new stand-in is one file
 * defining a sim_standin and one line here. */
#include "sim/sim.h"

extern sim_standin sim_sink;
extern sim_standin sim_vneid;
extern sim_standin sim_tthc;
extern sim_standin sim_sms_esms;
extern sim_standin sim_sms_speedsms;
extern sim_standin sim_fcm;
extern sim_standin sim_apns;
extern sim_standin sim_bank;
extern sim_standin sim_vnpost;
extern sim_standin sim_payos;
extern sim_standin sim_ghn;
extern sim_standin sim_zns;
extern sim_standin sim_staffid;

sim_standin *sim_standins[] = {
    &sim_sink,
    &sim_vneid,
    &sim_tthc,
    &sim_sms_esms,
    &sim_sms_speedsms,
    &sim_fcm,
    &sim_apns,
    &sim_bank,
    &sim_vnpost,
    &sim_payos,
    &sim_ghn,
    &sim_zns,
    &sim_staffid,
    NULL,
};
