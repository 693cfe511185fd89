/* Headless Chromium driven over the Chrome DevTools Protocol, for tests
 * that use a page as a person does (fill a form, press its button, follow
 * where it leads) and take screenshots. The protocol runs over
 * --remote-debugging-pipe (file descriptors 3 and 4 of the browser,
 * NUL-terminated JSON messages), so no WebSocket client is needed. The
 * pages under test run no script of their own (their CSP forbids it): the
 * test reads and fills them through Runtime.evaluate, which DevTools runs
 * outside the page's CSP, as a person at the keyboard would. */
#ifndef CDS_TEST_CDP_H
#define CDS_TEST_CDP_H
#include <jansson.h>
#include <sys/types.h>

typedef struct th_cdp {
    pid_t pid;
    int to, from;      /* our ends of the pipes */
    char profile[64];  /* the browser's temporary profile */
    char session[128]; /* the page's DevTools session */
    int next_id;
    char *buf;         /* bytes read, not yet a whole message */
    size_t len, cap;
} th_cdp;

/* The Chromium binary on PATH (chromium, chromium-browser, google-chrome),
 * or NULL. */
const char *th_cdp_binary(void);
/* Starts `bin` headless with a page of width x height CSS pixels whose
 * Accept-Language is `lang` (e.g. "vi-VN,vi"). 0 or -1. */
int th_cdp_start(th_cdp *c, const char *bin, int width, int height, const char *lang);
void th_cdp_stop(th_cdp *c);
/* One command on the page's session; the result object (new reference),
 * or NULL on an error or after timeout_ms. */
json_t *th_cdp_call(th_cdp *c, const char *method, json_t *params, int timeout_ms);
/* Opens url and waits until it has loaded (document complete). 0 or -1. */
int th_cdp_goto(th_cdp *c, const char *url);
/* The value of a JavaScript expression as a string (malloc), "" when it is
 * not one; NULL on an error. */
char *th_cdp_eval(th_cdp *c, const char *expr);
/* Types text into the element of `selector` (focused, then Input.insertText
 * as a keyboard would). 0 or -1. */
int th_cdp_type(th_cdp *c, const char *selector, const char *text);
/* Clicks the element of `selector` and waits for the page it leads to to
 * load (location changed and document complete). 0 or -1. */
int th_cdp_click_wait(th_cdp *c, const char *selector);
/* The page's location (malloc). */
char *th_cdp_location(th_cdp *c);
/* Saves a PNG screenshot of the whole page at path. 0 or -1. */
int th_cdp_screenshot(th_cdp *c, const char *path);

#endif
