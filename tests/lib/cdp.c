/* Chromium over the DevTools Protocol's pipe transport (cdp.h). */
#include "tests/lib/cdp.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *th_cdp_binary(void)
{
    static const char *names[] = {"chromium", "chromium-browser", "google-chrome"};
    for (size_t i = 0; i < 3; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", names[i]);
        if (system(cmd) == 0) return names[i];
    }
    return NULL;
}

static int send_msg(th_cdp *c, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    if (!s) return -1;
    size_t n = strlen(s) + 1; /* with its NUL */
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(c->to, s + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            free(s);
            return -1;
        }
        off += (size_t)w;
    }
    free(s);
    return 0;
}

/* The next whole message (new reference), or NULL after the deadline. */
static json_t *read_msg(th_cdp *c, long long deadline)
{
    for (;;) {
        char *nul = c->len ? memchr(c->buf, 0, c->len) : NULL;
        if (nul) {
            json_t *m = json_loadb(c->buf, (size_t)(nul - c->buf), 0, NULL);
            size_t used = (size_t)(nul - c->buf) + 1;
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            if (m) return m;
            continue;
        }
        long long left = deadline - now_ms();
        if (left <= 0) return NULL;
        struct pollfd p = {c->from, POLLIN, 0};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return NULL;
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap ? c->cap * 2 : 1 << 20;
            char *b = realloc(c->buf, cap);
            if (!b) return NULL;
            c->buf = b;
            c->cap = cap;
        }
        ssize_t got = read(c->from, c->buf + c->len, c->cap - c->len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return NULL;
        c->len += (size_t)got;
    }
}

static json_t *call(th_cdp *c, const char *session, const char *method, json_t *params,
                    int timeout_ms)
{
    int id = ++c->next_id;
    json_t *msg = json_pack("{s:i, s:s}", "id", id, "method", method);
    json_object_set_new(msg, "params", params ? params : json_object());
    if (session && *session) json_object_set_new(msg, "sessionId", json_string(session));
    int rc = send_msg(c, msg);
    json_decref(msg);
    if (rc) return NULL;
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        json_t *m = read_msg(c, deadline);
        if (!m) {
            fprintf(stderr, "cdp: no answer to %s\n", method);
            return NULL;
        }
        if (json_integer_value(json_object_get(m, "id")) == id) {
            json_t *res = json_incref(json_object_get(m, "result"));
            if (!res) {
                char *e = json_dumps(json_object_get(m, "error"), JSON_COMPACT);
                fprintf(stderr, "cdp: %s failed: %s\n", method, e ? e : "?");
                free(e);
            }
            json_decref(m);
            return res;
        }
        json_decref(m); /* an event or another answer */
    }
}

json_t *th_cdp_call(th_cdp *c, const char *method, json_t *params, int timeout_ms)
{
    return call(c, c->session, method, params, timeout_ms);
}

int th_cdp_start(th_cdp *c, const char *bin, int width, int height, const char *lang)
{
    memset(c, 0, sizeof *c);
    c->to = c->from = -1;
    snprintf(c->profile, sizeof c->profile, "/tmp/cds-cdp-XXXXXX");
    if (!mkdtemp(c->profile)) return -1;
    int in[2], out[2]; /* in: we write, the browser reads fd 3; out: it writes fd 4 */
    if (pipe(in) || pipe(out)) return -1;
    char dir[128], size[64], accept[128];
    snprintf(dir, sizeof dir, "--user-data-dir=%s", c->profile);
    snprintf(size, sizeof size, "--window-size=%d,%d", width, height);
    snprintf(accept, sizeof accept, "--accept-lang=%s", lang);
    c->pid = fork();
    if (c->pid < 0) return -1;
    if (c->pid == 0) {
        int r3 = dup(in[0]), w4 = dup(out[1]);
        if (dup2(r3, 3) < 0 || dup2(w4, 4) < 0) _exit(127);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        for (int fd = 5; fd < 1024; fd++) close(fd);
        execlp(bin, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
               "--remote-debugging-pipe", dir, size, accept, "about:blank", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->to = in[1];
    c->from = out[0];
    json_t *t = call(c, NULL, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"), 30000);
    const char *target = json_string_value(json_object_get(t, "targetId"));
    json_t *a = target ? call(c, NULL, "Target.attachToTarget",
                              json_pack("{s:s, s:b}", "targetId", target, "flatten", 1), 30000)
                       : NULL;
    const char *sid = json_string_value(json_object_get(a, "sessionId"));
    if (sid) snprintf(c->session, sizeof c->session, "%s", sid);
    json_decref(t);
    json_decref(a);
    if (!sid) {
        th_cdp_stop(c);
        return -1;
    }
    json_decref(th_cdp_call(c, "Page.enable", NULL, 30000));
    json_decref(th_cdp_call(c, "Emulation.setDeviceMetricsOverride",
                            json_pack("{s:i, s:i, s:i, s:b}", "width", width, "height", height,
                                      "deviceScaleFactor", 1, "mobile", 0),
                            30000));
    return 0;
}

void th_cdp_stop(th_cdp *c)
{
    if (c->pid > 0) {
        json_decref(call(c, NULL, "Browser.close", NULL, 5000));
        for (int i = 0; i < 50; i++) {
            if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
                c->pid = 0;
                break;
            }
            usleep(100 * 1000);
        }
        if (c->pid > 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
        }
    }
    if (c->to >= 0) close(c->to);
    if (c->from >= 0) close(c->from);
    c->to = c->from = -1;
    c->pid = 0;
    free(c->buf);
    c->buf = NULL;
    if (c->profile[0]) {
        char rm[128];
        snprintf(rm, sizeof rm, "rm -rf '%s'", c->profile);
        if (system(rm) != 0) fprintf(stderr, "cdp: could not remove %s\n", c->profile);
        c->profile[0] = 0;
    }
}

char *th_cdp_eval(th_cdp *c, const char *expr)
{
    json_t *r = th_cdp_call(c, "Runtime.evaluate",
                            json_pack("{s:s, s:b}", "expression", expr, "returnByValue", 1), 30000);
    if (!r) return NULL;
    const char *v = json_string_value(json_object_get(json_object_get(r, "result"), "value"));
    char *out = strdup(v ? v : "");
    json_decref(r);
    return out;
}

char *th_cdp_location(th_cdp *c)
{
    return th_cdp_eval(c, "location.href");
}

/* Marks the current document, so that its successor can be told apart
 * even at the same address (a form posted to the page's own URL). */
static void mark(th_cdp *c)
{
    free(th_cdp_eval(c, "window.__cdsTestOld = 1, ''"));
}

/* Waits until a document without the mark is complete. */
static int wait_loaded(th_cdp *c)
{
    long long deadline = now_ms() + 30000;
    while (now_ms() < deadline) {
        char *s = th_cdp_eval(c, "(window.__cdsTestOld ? 'old ' : 'new ') + document.readyState");
        int done = s && strcmp(s, "new complete") == 0;
        free(s);
        if (done) return 0;
        usleep(50 * 1000);
    }
    fprintf(stderr, "cdp: the page did not load\n");
    return -1;
}

int th_cdp_goto(th_cdp *c, const char *url)
{
    mark(c);
    json_t *r = th_cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", url), 30000);
    int ok = r && !json_object_get(r, "errorText");
    json_decref(r);
    return ok ? wait_loaded(c) : -1;
}

int th_cdp_type(th_cdp *c, const char *selector, const char *text)
{
    char expr[512];
    snprintf(expr, sizeof expr,
             "(function(){var e=document.querySelector(%s);if(!e)return 'missing';e.focus();"
             "e.value='';return 'ok';})()",
             selector);
    char *r = th_cdp_eval(c, expr);
    int ok = r && strcmp(r, "ok") == 0;
    free(r);
    if (!ok) {
        fprintf(stderr, "cdp: no element %s\n", selector);
        return -1;
    }
    json_t *res = th_cdp_call(c, "Input.insertText", json_pack("{s:s}", "text", text), 30000);
    json_decref(res);
    return res ? 0 : -1;
}

int th_cdp_click_wait(th_cdp *c, const char *selector)
{
    mark(c);
    char expr[512];
    snprintf(expr, sizeof expr,
             "(function(){var e=document.querySelector(%s);if(!e)return 'missing';e.click();"
             "return 'ok';})()",
             selector);
    char *r = th_cdp_eval(c, expr);
    int ok = r && strcmp(r, "ok") == 0;
    free(r);
    if (!ok) fprintf(stderr, "cdp: no element %s to click\n", selector);
    return ok ? wait_loaded(c) : -1;
}

int th_cdp_screenshot(th_cdp *c, const char *path)
{
    json_t *r = th_cdp_call(c, "Page.captureScreenshot",
                            json_pack("{s:s, s:b}", "format", "png", "captureBeyondViewport", 1),
                            60000);
    const char *b64 = json_string_value(json_object_get(r, "data"));
    int rc = -1;
    if (b64) {
        size_t n = strlen(b64);
        unsigned char *png = malloc(n / 4 * 3 + 3);
        int len = png ? EVP_DecodeBlock(png, (const unsigned char *)b64, (int)n) : -1;
        if (len > 0) {
            while (n && b64[n - 1] == '=') { /* EVP_DecodeBlock counts the padding */
                len--;
                n--;
            }
            FILE *f = fopen(path, "wb");
            if (f) {
                rc = fwrite(png, 1, (size_t)len, f) == (size_t)len ? 0 : -1;
                if (fclose(f) != 0) rc = -1;
            }
        }
        free(png);
    }
    json_decref(r);
    return rc;
}
