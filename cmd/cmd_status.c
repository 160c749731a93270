/* cmd_status.c - `augur status [--json]`: asks the running augurd's admin endpoint for its
 * nodes, cache tiers and prefetch figures. */
#include "cmd/cmd.h"
#include "common/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* The answer to a status request is small: a few KiB for tens of nodes. */
#define STATUS_MAX (1u << 20)

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "augur: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return CMD_EXIT_FAIL;
}

/* Connect to "HOST:PORT" (IPv4, or [IPv6]) with a short timeout. */
static int connect_to(const char *listen)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof(host)) return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    int port = atoi(colon + 1);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (host[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        host[strlen(host) - 1] = '\0';
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) return -1;
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0) snprintf(host, sizeof(host), "127.0.0.1");
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
        len = sizeof(*a);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int cmd_status_main(const aug_config_t *cfg, int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else return fail("status: unexpected argument '%s'", argv[i]);
    }
    if (!cfg->admin.listen[0])
        return fail("%s: [admin] listen is not set: augurd serves no admin endpoint",
                    cfg->path);
    char token[256] = "";
    FILE *f = fopen(cfg->admin.token_file, "r");
    if (!f || !fgets(token, sizeof(token), f)) {
        if (f) fclose(f);
        return fail("cannot read the admin token from %s", cfg->admin.token_file);
    }
    fclose(f);
    token[strcspn(token, "\r\n")] = '\0';
    int fd = connect_to(cfg->admin.listen);
    if (fd < 0) return fail("augurd does not answer on %s: is it running?", cfg->admin.listen);
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /status%s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
                     json ? "?format=json" : "", cfg->admin.listen, token);
    memset(token, 0, sizeof(token));
    if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        memset(req, 0, sizeof(req));
        close(fd);
        return fail("cannot send the request to %s", cfg->admin.listen);
    }
    memset(req, 0, sizeof(req));
    char *buf = malloc(STATUS_MAX + 1);
    size_t got = 0;
    ssize_t k;
    while (buf && got < STATUS_MAX && (k = read(fd, buf + got, STATUS_MAX - got)) > 0)
        got += (size_t)k;
    close(fd);
    if (!buf) return fail("%s", "out of memory");
    buf[got] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (sscanf(buf, "HTTP/%*s %d", &status) != 1 || !body) {
        free(buf);
        return fail("no valid answer from %s", cfg->admin.listen);
    }
    body += 4;
    if (status != 200) {
        body[strcspn(body, "\n")] = '\0';
        fprintf(stderr, "augur: status: %d %s\n", status, body);
        free(buf);
        return CMD_EXIT_FAIL;
    }
    fputs(body, stdout);
    free(buf);
    return CMD_EXIT_OK;
}
