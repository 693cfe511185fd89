/* Process metrics and build information (see metrics_process.h). Linux only:
 * /proc/self/{stat,statm,fd} and /proc/stat's boot time, as the Prometheus
 * client libraries define these families. A value the kernel does not give
 * is left out rather than reported as zero. */
#include "core/metrics_process.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef CDS_REVISION
#define CDS_REVISION "unknown"
#endif

typedef struct w {
    char *p;
    size_t len, cap;
} w;

static void put(w *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(w *o, const char *fmt, ...)
{
    if (o->len >= o->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    o->len = (size_t)n < o->cap - o->len ? o->len + (size_t)n : o->cap - 1;
}

static void family(w *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Seconds since the epoch at which the machine booted; 0 if unknown. */
static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[256];
    long long bt = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return bt;
}

/* Field 22 of /proc/self/stat (starttime, clock ticks after boot). The
 * command name (field 2) may hold spaces and parentheses: count from the
 * last ')'. */
static int start_ticks(unsigned long long *out)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p++;
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p) return -1;
    }
    char *end;
    *out = strtoull(p + 1, &end, 10);
    return end == p + 1 ? -1 : 0;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

const char *cds_metrics_process_text(char *buf, size_t cap)
{
    w o = {buf, 0, cap};
    if (cap) buf[0] = 0;
    family(&o, "cds_build_info", "gauge", "Always 1; the labels say which build this is.");
    put(&o, "cds_build_info{revision=\"%s\",compiler=\"%s\"} 1\n", CDS_REVISION,
#if defined(__clang__)
        "clang " __clang_version__
#elif defined(__GNUC__)
        "gcc " __VERSION__
#else
        "unknown"
#endif
    );
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        family(&o, "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
        put(&o, "process_cpu_seconds_total %.6f\n",
            (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    }
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long long size, resident;
        if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
            long page = sysconf(_SC_PAGESIZE);
            family(&o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
            put(&o, "process_virtual_memory_bytes %llu\n", size * (unsigned long long)page);
            family(&o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
            put(&o, "process_resident_memory_bytes %llu\n", resident * (unsigned long long)page);
        }
        fclose(f);
    }
    long fds = open_fds();
    if (fds >= 0) {
        family(&o, "process_open_fds", "gauge", "Number of open file descriptors.");
        put(&o, "process_open_fds %ld\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        family(&o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        put(&o, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    unsigned long long ticks;
    long long bt = boot_time();
    long hz = sysconf(_SC_CLK_TCK);
    if (bt > 0 && hz > 0 && start_ticks(&ticks) == 0) {
        family(&o, "process_start_time_seconds", "gauge",
               "Start time of the process since the Unix epoch, in seconds.");
        put(&o, "process_start_time_seconds %.2f\n", (double)bt + (double)ticks / (double)hz);
    }
    return buf;
}
