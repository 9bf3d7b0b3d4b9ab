/* A liblo client that drives a patch end to end through liblo's own API:
 * add two transforms, connect them, set a value in a bundle timed 200 ms
 * ahead (lo_bundle, lo_send_bundle_from), then query. Every reply is read
 * by a liblo server on the socket the requests left from and printed as
 * "ADDRESS TYPES ARGS"; "waited N ms" says how long the bundle's reply took.
 *
 *   liblo_client udp|tcp PORT
 *
 * Built and run by tests/osc_peers.rs (cc liblo_client.c -llo). */
#include <lo/lo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static int replies;

static int print_reply(const char *path, const char *types, lo_arg **argv, int argc, lo_message m, void *user) {
    (void)m;
    (void)user;
    printf("%s %s", path, types);
    for (int i = 0; i < argc; i++) {
        switch (types[i]) {
        case 'i': printf(" %d", argv[i]->i); break;
        case 'f': printf(" %g", argv[i]->f); break;
        case 'd': printf(" %g", argv[i]->d); break;
        case 's': printf(" %s", &argv[i]->s); break;
        default: printf(" (%c)", types[i]);
        }
    }
    printf("\n");
    fflush(stdout);
    replies++;
    return 0;
}

static double now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

/* Waits up to 5 s for the next reply. */
static void await_reply(lo_server s) {
    int before = replies;
    double give_up = now_ms() + 5000;
    while (replies == before) {
        if (now_ms() > give_up) {
            fprintf(stderr, "no reply within 5 s\n");
            exit(2);
        }
        lo_server_recv_noblock(s, 100);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: liblo_client udp|tcp PORT\n");
        return 2;
    }
    int proto = strcmp(argv[1], "tcp") == 0 ? LO_TCP : LO_UDP;
    lo_server s = lo_server_new_with_proto(NULL, proto, NULL);
    lo_address a = lo_address_new_with_proto(proto, "127.0.0.1", argv[2]);
    if (!s || !a) {
        fprintf(stderr, "liblo: no server or address\n");
        return 2;
    }
    lo_server_add_method(s, NULL, NULL, print_reply, NULL);

    lo_send_from(a, s, LO_TT_IMMEDIATE, "/patch/add-transform", "ss", "Value", "v");
    await_reply(s);
    lo_send_from(a, s, LO_TT_IMMEDIATE, "/patch/add-transform", "ss", "Value", "w");
    await_reply(s);
    lo_send_from(a, s, LO_TT_IMMEDIATE, "/patch/v/out/connect", "s", "/patch/w/in");
    await_reply(s);

    lo_timetag at;
    lo_timetag_now(&at);
    unsigned long long frac = at.frac + (1ULL << 32) / 5; /* 200 ms */
    at.sec += (unsigned)(frac >> 32);
    at.frac = (unsigned)frac;
    lo_bundle b = lo_bundle_new(at);
    lo_message m = lo_message_new();
    lo_message_add_float(m, 330.0f);
    lo_bundle_add_message(b, "/patch/v/in", m);
    double sent = now_ms();
    if (lo_send_bundle_from(a, s, b) < 0) {
        fprintf(stderr, "liblo: %s\n", lo_address_errstr(a));
        return 2;
    }
    await_reply(s);
    printf("waited %.0f ms\n", now_ms() - sent);

    lo_send_from(a, s, LO_TT_IMMEDIATE, "/patch/w/value/current-value", "");
    await_reply(s);
    lo_send_from(a, s, LO_TT_IMMEDIATE, "/patch/nope", "");
    await_reply(s);
    lo_bundle_free_recursive(b);
    lo_address_free(a);
    lo_server_free(s);
    return 0;
}
