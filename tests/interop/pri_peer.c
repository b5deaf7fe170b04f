/*
 * pri_peer: libpri as a scriptable ISDN PRI peer for Anxin's interop tests.
 *
 * One process = one libpri D-channel controller (network or user side) on an
 * AF_UNIX SOCK_SEQPACKET socket that carries the D-channel as CONTRACTS §3 says:
 * one datagram = one LAPD frame followed by 2 FCS bytes (we send 00 00 and
 * ignore the 2 we receive; libpri itself writes frame+2 and strips 2 on read).
 * Commands arrive on stdin and events leave on stdout, one line each; libpri's
 * own trace goes to stderr. The protocol is documented in libpri_peer.py.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libpri.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Exported by libpri.so but not declared in libpri.h: tells us when libpri has
 * freed a call on its own (e.g. after RELEASE COMPLETE), so no record dangles. */
extern int q931_is_call_valid(struct pri *ctrl, q931_call *call) __attribute__((weak));

#define MAX_CALLS 256
#define FIRST_IN_ID 100001   /* ids the harness gives incoming calls */
#define FIRST_LOAD_ID 200001 /* ids of the load generator's calls */
#define MAX_TIMERS 16

struct call {
	int used, id, channel, outgoing, load, answered, responded;
	q931_call *c;
};

enum auto_mode { AUTO_OFF, AUTO_ANSWER, AUTO_REJECT };

static struct {
	int role, switchtype, listening, debug;
	const char *path;
	struct pri *pri;
	int lfd, dfd, link_up, quit, stdin_eof, got_datagram;
	double reconnect_at;
	enum auto_mode auto_mode;
	int auto_cause;
	int next_in_id, next_load_id;
	struct call calls[MAX_CALLS];
	FILE *pcap;
	int ntimers;
	char *timers[MAX_TIMERS];
	int restart_all_next; /* next B channel of a running `restart`, 0 = none */
	struct {
		int active, total, conc, started, ok, failed;
		char called[64], calling[64];
		double t0;
	} load;
} g = { .lfd = -1, .dfd = -1, .next_in_id = FIRST_IN_ID, .next_load_id = FIRST_LOAD_ID,
	.debug = PRI_DEBUG_Q931_DUMP | PRI_DEBUG_Q921_STATE };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void on_pri_message(struct pri *pri, char *s) { (void)pri; fputs(s, stderr); }
static void on_pri_error(struct pri *pri, char *s) { (void)pri; fprintf(stderr, "! %s", s); }

/* ---- pcap (LINKTYPE_LINUX_LAPD, Wireshark's sll-like pseudo-header) ---- */

static void pcap_open(const char *path)
{
	static const unsigned char hdr[24] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0xff, 0xff, 0, 0, 177, 0, 0, 0 };
	g.pcap = fopen(path, "wb");
	if (!g.pcap || fwrite(hdr, sizeof(hdr), 1, g.pcap) != 1) {
		fprintf(stderr, "pri_peer: cannot write pcap %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static void pcap_frame(const unsigned char *frame, int len, int sent)
{
	struct timeval tv;
	unsigned int rec[4];
	unsigned char sll[16] = { 0 };

	if (!g.pcap || len <= 0)
		return;
	gettimeofday(&tv, NULL);
	rec[0] = tv.tv_sec;
	rec[1] = tv.tv_usec;
	rec[2] = rec[3] = len + 16;
	sll[1] = sent ? 4 : 0;           /* pkttype: 4 = sent by us, 0 = to us */
	sll[2] = 0x20; sll[3] = 0xfd;    /* hatype ARPHRD_LAPD (8445) */
	sll[5] = 1;                      /* halen */
	sll[6] = g.role == PRI_NETWORK;  /* addr[0]: we are the network side */
	sll[15] = 0x30;                  /* protocol ETH_P_LAPD */
	fwrite(rec, sizeof(rec), 1, g.pcap);
	fwrite(sll, sizeof(sll), 1, g.pcap);
	fwrite(frame, len, 1, g.pcap);
	fflush(g.pcap);
}

/* ---- the D-channel socket ---- */

static void peer_lost(void)
{
	if (g.dfd < 0)
		return;
	close(g.dfd);
	g.dfd = -1;
	g.reconnect_at = now_s() + 0.2;
	emit("DISCONNECTED");
}

static int io_read(struct pri *pri, void *buf, int buflen)
{
	ssize_t n;

	(void)pri;
	if (g.dfd < 0)
		return 0;
	n = recv(g.dfd, buf, buflen, MSG_DONTWAIT);
	g.got_datagram = n > 0;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		peer_lost();
		return 0;
	}
	if (n < 0)
		return 0;
	/* An HDLC driver drops runts; shield libpri from datagrams under 3+2 bytes. */
	if (n < 5) {
		fprintf(stderr, "! pri_peer: dropped a %zd-byte datagram\n", n);
		return 0;
	}
	pcap_frame(buf, n - 2, 0);
	return n;
}

static int io_write(struct pri *pri, void *buf, int buflen)
{
	unsigned char out[1100];

	(void)pri;
	if (buflen < 2 || buflen > (int)sizeof(out))
		return buflen;
	memcpy(out, buf, buflen);
	out[buflen - 2] = out[buflen - 1] = 0; /* the FCS placeholder CONTRACTS §3 asks for */
	pcap_frame(out, buflen - 2, 1);
	if (g.dfd < 0)
		return buflen; /* no far end: the frame is lost on the line, as on a dead E1 */
	if (send(g.dfd, out, buflen, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			fprintf(stderr, "! pri_peer: socket full, frame dropped\n");
		else
			peer_lost();
	}
	return buflen;
}

static void create_pri(void)
{
	int i;

	g.pri = pri_new_cb(g.dfd, g.role, g.switchtype, io_read, io_write, NULL);
	if (!g.pri) {
		fprintf(stderr, "pri_peer: pri_new_cb failed\n");
		exit(2);
	}
	pri_set_debug(g.pri, g.debug);
	for (i = 0; i < g.ntimers; i++) {
		char *eq = strchr(g.timers[i], '=');
		int idx;
		*eq = '\0';
		idx = pri_timer2idx(g.timers[i]);
		if (idx < 0 || pri_set_timer(g.pri, idx, atoi(eq + 1)) < 0) {
			fprintf(stderr, "pri_peer: bad timer %s\n", g.timers[i]);
			exit(2);
		}
	}
}

static void got_peer(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (g.dfd >= 0)
		peer_lost(); /* a new connection replaces a stale one (box restarted) */
	g.dfd = fd;
	emit("CONNECTED");
	/* libpri sends SABME as soon as it exists, so create it once a peer is there. */
	if (!g.pri)
		create_pri();
}

static void socket_path(struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(g.path) >= sizeof(sa->sun_path)) {
		fprintf(stderr, "pri_peer: socket path longer than %zu bytes: %s\n",
			sizeof(sa->sun_path) - 1, g.path);
		exit(2);
	}
	strcpy(sa->sun_path, g.path);
}

static void start_listening(void)
{
	struct sockaddr_un sa;

	socket_path(&sa);
	g.lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	unlink(g.path);
	if (g.lfd < 0 || bind(g.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(g.lfd, 4) < 0) {
		fprintf(stderr, "pri_peer: listening on %s: %s\n", g.path, strerror(errno));
		exit(2);
	}
	emit("LISTENING path=%s", g.path);
}

static int try_connect(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	socket_path(&sa);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		got_peer(fd);
		return 1;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- call records ---- */

static struct call *call_by_id(int id)
{
	int i;
	for (i = 0; i < MAX_CALLS; i++)
		if (g.calls[i].used && g.calls[i].id == id)
			return &g.calls[i];
	return NULL;
}

static struct call *call_by_ptr(q931_call *c)
{
	int i;
	for (i = 0; c && i < MAX_CALLS; i++)
		if (g.calls[i].used && g.calls[i].c == c)
			return &g.calls[i];
	return NULL;
}

static int inflight_load_calls(void)
{
	int i, n = 0;
	for (i = 0; i < MAX_CALLS; i++)
		n += g.calls[i].used && g.calls[i].load;
	return n;
}

static void load_pump(void);

static void call_free(struct call *r)
{
	if (!r || !r->used)
		return;
	r->used = 0;
	if (r->load) {
		if (r->answered)
			g.load.ok++;
		else
			g.load.failed++;
		load_pump();
	} else {
		emit("CLEARED id=%d", r->id);
	}
}

static struct call *call_add(int id, q931_call *c, int channel, int outgoing)
{
	int i;
	struct call *stale = call_by_ptr(c);

	call_free(stale); /* libpri reused the memory of a call it freed silently */
	for (i = 0; i < MAX_CALLS; i++) {
		if (!g.calls[i].used) {
			g.calls[i] = (struct call){ .used = 1, .id = id, .c = c, .channel = channel,
				.outgoing = outgoing };
			return &g.calls[i];
		}
	}
	return NULL;
}

/* Drop records of calls libpri has destroyed without telling us. */
static void sweep(void)
{
	int i;
	if (!g.pri || !q931_is_call_valid)
		return;
	for (i = 0; i < MAX_CALLS; i++)
		if (g.calls[i].used && !q931_is_call_valid(g.pri, g.calls[i].c))
			call_free(&g.calls[i]);
}

static int is_bchannel(int ch) { return ch >= 1 && ch <= 31 && ch != 16; }

static int channel_free(int ch)
{
	int i;
	for (i = 0; i < MAX_CALLS; i++)
		if (g.calls[i].used && g.calls[i].channel == ch)
			return 0;
	return is_bchannel(ch);
}

static int pick_channel(void)
{
	int ch;
	for (ch = 1; ch <= 31; ch++)
		if (channel_free(ch))
			return ch;
	return -1;
}

/* libpri's event channel: B channel in bits 0-7 (0xff or -1 = any, 0 = none). */
static int chan_of(int encoded)
{
	if (encoded == -1 || (encoded & 0xff) == 0xff)
		return -1;
	return encoded & 0xff;
}

static void hangup(struct call *r, int cause)
{
	/* libpri sends nothing for pri_hangup on a SETUP it has not answered yet unless
	 * the cause is one it clears with RELEASE COMPLETE (1, 34, 44, 81, 82); so a
	 * rejection with e.g. 17 goes out as CALL PROCEEDING + DISCONNECT, as networks do. */
	if (!r->outgoing && !r->responded && cause != 1 && cause != 34 && cause != 44 && cause != 81
	    && cause != 82)
		pri_proceeding(g.pri, r->c, r->channel > 0 ? r->channel : 0, 0);
	r->responded = 1;
	pri_hangup(g.pri, r->c, cause);
}

/* ---- the load generator (user-side call setup benchmark) ---- */

static void load_pump(void)
{
	while (g.load.active && g.link_up && g.load.started < g.load.total
	       && inflight_load_calls() < g.load.conc) {
		int ch = pick_channel();
		q931_call *c = pri_new_call(g.pri);
		struct pri_sr *sr = pri_sr_new();
		struct call *r;

		if (!c || !sr || ch < 0) {
			emit("ERR load: cannot place call %d", g.load.started + 1);
			g.load.active = 0;
			return;
		}
		pri_sr_set_channel(sr, ch, 0, 0);
		pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, PRI_LAYER_1_ALAW);
		pri_sr_set_called(sr, g.load.called, PRI_UNKNOWN, 1);
		pri_sr_set_caller(sr, g.load.calling, NULL, PRI_UNKNOWN, PRES_ALLOWED_USER_NUMBER_NOT_SCREENED);
		r = call_add(g.next_load_id++, c, ch, 1);
		if (!r) {
			emit("ERR load: call table full");
			g.load.active = 0;
			pri_sr_free(sr);
			return;
		}
		r->load = 1;
		g.load.started++;
		if (pri_setup(g.pri, c, sr)) {
			r->used = 0;
			g.load.failed++;
			pri_destroycall(g.pri, c);
		}
		pri_sr_free(sr);
	}
	if (g.load.active && g.load.ok + g.load.failed == g.load.total) {
		double secs = now_s() - g.load.t0;
		g.load.active = 0;
		emit("LOAD_DONE n=%d ok=%d failed=%d seconds=%.6f rate=%.1f", g.load.total, g.load.ok,
		     g.load.failed, secs, secs > 0 ? g.load.ok / secs : 0.0);
	}
}

/* ---- libpri events ---- */

static void auto_react(struct call *r)
{
	if (g.auto_mode == AUTO_REJECT) {
		hangup(r, g.auto_cause);
	} else if (g.auto_mode == AUTO_ANSWER) {
		if (r->channel < 0) {
			hangup(r, PRI_CAUSE_NORMAL_CIRCUIT_CONGESTION);
			return;
		}
		r->responded = 1;
		pri_proceeding(g.pri, r->c, r->channel, 0);
		pri_acknowledge(g.pri, r->c, r->channel, 0);
		pri_answer(g.pri, r->c, r->channel, 0);
	}
}

static void on_ring(pri_event *e)
{
	int req = chan_of(e->ring.channel), exclusive = !e->ring.flexible, ch;
	struct call *r;

	/* Choose the B channel as a network (or CPE) would: the requested one when
	 * free, else any free one unless the request was exclusive. */
	if (req > 0 && channel_free(req))
		ch = req;
	else if (exclusive && req > 0)
		ch = -1;
	else
		ch = pick_channel();
	r = call_add(g.next_in_id++, e->ring.call, ch, 0);
	if (!r) {
		pri_hangup(g.pri, e->ring.call, PRI_CAUSE_SWITCH_CONGESTION);
		emit("ERR too many calls");
		return;
	}
	emit("RING id=%d channel=%d requested=%d exclusive=%d called=%s calling=%s complete=%d", r->id,
	     ch, req, exclusive, e->ring.callednum[0] ? e->ring.callednum : "-",
	     e->ring.callingnum[0] ? e->ring.callingnum : "-", e->ring.complete);
	auto_react(r);
}

static void note_channel(struct call *r, int encoded)
{
	int ch = chan_of(encoded);
	if (r && ch > 0)
		r->channel = ch;
}

/* As Asterisk does: the calls on a restarted channel (-1: all) are gone. */
static void drop_calls_on(int ch)
{
	int i;
	for (i = 0; i < MAX_CALLS; i++) {
		struct call *r = &g.calls[i];
		if (r->used && (ch < 0 || r->channel == ch)) {
			pri_destroycall(g.pri, r->c);
			call_free(r);
		}
	}
}

static void handle_event(pri_event *e)
{
	struct call *r = NULL;
	int id;

	switch (e->e) {
	case PRI_EVENT_RINGING: r = call_by_ptr(e->ringing.call); break;
	case PRI_EVENT_ANSWER: r = call_by_ptr(e->answer.call); break;
	case PRI_EVENT_PROCEEDING: case PRI_EVENT_PROGRESS: r = call_by_ptr(e->proceeding.call); break;
	case PRI_EVENT_SETUP_ACK: r = call_by_ptr(e->setup_ack.call); break;
	case PRI_EVENT_CONNECT_ACK: r = call_by_ptr(e->connect_ack.call); break;
	case PRI_EVENT_HANGUP: case PRI_EVENT_HANGUP_REQ: case PRI_EVENT_HANGUP_ACK:
		r = call_by_ptr(e->hangup.call); break;
	case PRI_EVENT_INFO_RECEIVED: r = call_by_ptr(e->ring.call); break;
	case PRI_EVENT_KEYPAD_DIGIT: r = call_by_ptr(e->digit.call); break;
	default: break;
	}
	id = r ? r->id : -1;
	if (r && r->load) {
		/* Load calls run silently: answer → clear at once; count at the end. */
		if (e->e == PRI_EVENT_ANSWER) {
			r->answered = 1;
			hangup(r, PRI_CAUSE_NORMAL_CLEARING);
		} else if (e->e == PRI_EVENT_HANGUP_REQ) {
			hangup(r, e->hangup.cause);
		} else if (e->e == PRI_EVENT_HANGUP) {
			pri_hangup(g.pri, r->c, e->hangup.cause);
			call_free(r);
		} else if (e->e == PRI_EVENT_HANGUP_ACK) {
			call_free(r);
		}
		return;
	}
	switch (e->e) {
	case PRI_EVENT_DCHAN_UP:
		g.link_up = 1;
		emit("UP");
		load_pump();
		break;
	case PRI_EVENT_DCHAN_DOWN:
		g.link_up = 0;
		emit("DOWN");
		break;
	case PRI_EVENT_RING: on_ring(e); break;
	case PRI_EVENT_PROCEEDING:
		note_channel(r, e->proceeding.channel);
		emit("PROCEEDING id=%d channel=%d", id, chan_of(e->proceeding.channel));
		break;
	case PRI_EVENT_PROGRESS:
		emit("PROGRESS id=%d channel=%d", id, chan_of(e->proceeding.channel));
		break;
	case PRI_EVENT_SETUP_ACK:
		note_channel(r, e->setup_ack.channel);
		emit("SETUP_ACK id=%d channel=%d", id, chan_of(e->setup_ack.channel));
		break;
	case PRI_EVENT_RINGING:
		note_channel(r, e->ringing.channel);
		emit("RINGING id=%d channel=%d", id, chan_of(e->ringing.channel));
		break;
	case PRI_EVENT_ANSWER:
		note_channel(r, e->answer.channel);
		if (r)
			r->answered = 1;
		emit("ANSWER id=%d channel=%d", id, chan_of(e->answer.channel));
		break;
	case PRI_EVENT_CONNECT_ACK:
		emit("CONNECT_ACK id=%d channel=%d", id, chan_of(e->connect_ack.channel));
		break;
	case PRI_EVENT_HANGUP_REQ: /* DISCONNECT received: answer it so the call clears */
		emit("HANGUP_REQ id=%d cause=%d", id, e->hangup.cause);
		if (r)
			hangup(r, e->hangup.cause);
		else
			pri_hangup(g.pri, e->hangup.call, e->hangup.cause);
		break;
	case PRI_EVENT_HANGUP: /* RELEASE / RELEASE COMPLETE received: libpri wants pri_hangup */
		emit("HANGUP id=%d cause=%d", id, e->hangup.cause);
		if (e->hangup.call)
			pri_hangup(g.pri, e->hangup.call, e->hangup.cause);
		call_free(r);
		break;
	case PRI_EVENT_HANGUP_ACK: /* our clearing finished; libpri freed the call */
		emit("HANGUP_ACK id=%d", id);
		call_free(r);
		break;
	case PRI_EVENT_RESTART:
		emit("RESTART channel=%d", chan_of(e->restart.channel));
		drop_calls_on(chan_of(e->restart.channel));
		break;
	case PRI_EVENT_RESTART_ACK: {
		int ch = chan_of(e->restartack.channel);
		emit("RESTART_ACK channel=%d", ch);
		drop_calls_on(ch);
		if (g.restart_all_next && ch == g.restart_all_next) {
			do
				g.restart_all_next++;
			while (g.restart_all_next <= 31 && !is_bchannel(g.restart_all_next));
			if (g.restart_all_next > 31) {
				g.restart_all_next = 0;
				emit("RESTART_DONE");
			} else {
				pri_reset(g.pri, g.restart_all_next);
			}
		}
		break;
	}
	case PRI_EVENT_CONFIG_ERR: {
		size_t n = strcspn(e->err.err, "\r\n");
		emit("CONFIG_ERR %.*s", (int)n, e->err.err);
		break;
	}
	case PRI_EVENT_INFO_RECEIVED:
		emit("INFO id=%d digits=%s", id, e->ring.callednum);
		break;
	case PRI_EVENT_KEYPAD_DIGIT:
		emit("KEYPAD id=%d digits=%s", id, e->digit.digits);
		break;
	default:
		emit("EVENT name=%s id=%d", pri_event2str(e->e), id);
		break;
	}
}

static void run_schedule(void)
{
	pri_event *e;
	/* pri_schedule_run returns after each event, so drain it. */
	while (g.pri && (e = pri_schedule_run(g.pri)))
		handle_event(e);
}

/* ---- commands ---- */

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;
	if (!s)
		return 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0')
		return 0;
	*out = (int)v;
	return 1;
}

static void cmd_call(char **a, int n)
{
	int id, ch = 0xff, exclusive = 0;
	q931_call *c;
	struct pri_sr *sr;
	struct call *r;

	if (n < 4 || !parse_int(a[1], &id) || id < 1 || id >= FIRST_IN_ID) {
		emit("ERR usage: call ID(1..%d) CALLED CALLING|- [CHANNEL|any] [exclusive]", FIRST_IN_ID - 1);
		return;
	}
	if (call_by_id(id)) {
		emit("ERR call %d exists", id);
		return;
	}
	if (n > 4 && strcmp(a[4], "any") && (!parse_int(a[4], &ch) || !is_bchannel(ch))) {
		emit("ERR bad channel %s", a[4]);
		return;
	}
	exclusive = n > 5 && !strcmp(a[5], "exclusive");
	c = pri_new_call(g.pri);
	sr = pri_sr_new();
	if (!c || !sr) {
		emit("ERR cannot create call");
		return;
	}
	pri_sr_set_channel(sr, ch, exclusive, 0);
	pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, PRI_LAYER_1_ALAW);
	pri_sr_set_called(sr, a[2], PRI_UNKNOWN, 1);
	if (strcmp(a[3], "-"))
		pri_sr_set_caller(sr, a[3], NULL, PRI_UNKNOWN, PRES_ALLOWED_USER_NUMBER_NOT_SCREENED);
	r = call_add(id, c, ch == 0xff ? -1 : ch, 1);
	if (!r || pri_setup(g.pri, c, sr)) {
		emit("ERR pri_setup failed");
		if (r)
			r->used = 0;
		pri_destroycall(g.pri, c);
	} else {
		emit("OK call id=%d", id);
	}
	pri_sr_free(sr);
}

static void cmd_on_call(char **a, int n)
{
	int id, cause = PRI_CAUSE_NORMAL_CLEARING, res;
	struct call *r;

	if (n < 2 || !parse_int(a[1], &id) || !(r = call_by_id(id))) {
		emit("ERR %s: no such call %s", a[0], n > 1 ? a[1] : "?");
		return;
	}
	if (!strcmp(a[0], "hangup")) {
		if (n > 2 && !parse_int(a[2], &cause)) {
			emit("ERR bad cause %s", a[2]);
			return;
		}
		hangup(r, cause);
		emit("OK hangup id=%d", id);
		return;
	}
	if (r->channel < 0 && strcmp(a[0], "progress")) {
		emit("ERR %s: call %d has no channel", a[0], id);
		return;
	}
	r->responded = 1;
	if (!strcmp(a[0], "proceeding"))
		res = pri_proceeding(g.pri, r->c, r->channel, 0);
	else if (!strcmp(a[0], "alerting"))
		res = pri_acknowledge(g.pri, r->c, r->channel, n > 2 && !strcmp(a[2], "inband"));
	else if (!strcmp(a[0], "progress"))
		res = pri_progress(g.pri, r->c, r->channel, 1);
	else
		res = pri_answer(g.pri, r->c, r->channel, 0);
	if (res)
		emit("ERR %s id=%d refused by libpri", a[0], id);
	else
		emit("OK %s id=%d", a[0], id);
}

static void cmd_load(char **a, int n)
{
	int total, conc;
	if (n < 3 || !parse_int(a[1], &total) || !parse_int(a[2], &conc) || total < 1 || conc < 1
	    || conc > 30) {
		emit("ERR usage: load N M(1..30) [CALLED [CALLING]]");
		return;
	}
	if (g.load.active) {
		emit("ERR load already running");
		return;
	}
	memset(&g.load, 0, sizeof(g.load));
	snprintf(g.load.called, sizeof(g.load.called), "%s", n > 3 ? a[3] : "100");
	snprintf(g.load.calling, sizeof(g.load.calling), "%s", n > 4 ? a[4] : "200");
	g.load.total = total;
	g.load.conc = conc;
	g.load.active = 1;
	g.load.t0 = now_s();
	emit("OK load n=%d m=%d", total, conc);
	load_pump();
}

static void cmd_auto(char **a, int n)
{
	int cause;
	if (n >= 2 && !strcmp(a[1], "off"))
		g.auto_mode = AUTO_OFF;
	else if (n >= 2 && !strcmp(a[1], "answer"))
		g.auto_mode = AUTO_ANSWER;
	else if (n >= 3 && !strcmp(a[1], "reject") && parse_int(a[2], &cause)) {
		g.auto_mode = AUTO_REJECT;
		g.auto_cause = cause;
	} else {
		emit("ERR usage: auto off|answer|reject CAUSE");
		return;
	}
	emit("OK auto %s", a[1]);
}

static void handle_command(char *line)
{
	char *a[8], *save = NULL, *tok;
	int n = 0, ch, i, ncalls = 0;

	for (tok = strtok_r(line, " \t\r", &save); tok && n < 8; tok = strtok_r(NULL, " \t\r", &save))
		a[n++] = tok;
	if (n == 0)
		return;
	if (!strcmp(a[0], "quit")) {
		g.quit = 1;
	} else if (!strcmp(a[0], "ping")) {
		emit("PONG %s", n > 1 ? a[1] : "");
	} else if (!strcmp(a[0], "status")) {
		for (i = 0; i < MAX_CALLS; i++)
			ncalls += g.calls[i].used;
		emit("STATUS up=%d connected=%d calls=%d", g.link_up, g.dfd >= 0, ncalls);
	} else if (!strcmp(a[0], "auto")) {
		cmd_auto(a, n);
	} else if (!g.pri) {
		emit("ERR %s: no D-channel peer yet", a[0]);
	} else if (!strcmp(a[0], "call")) {
		cmd_call(a, n);
	} else if (!strcmp(a[0], "proceeding") || !strcmp(a[0], "alerting") || !strcmp(a[0], "answer")
		   || !strcmp(a[0], "progress") || !strcmp(a[0], "hangup")) {
		cmd_on_call(a, n);
	} else if (!strcmp(a[0], "reset")) {
		if (n < 2 || !parse_int(a[1], &ch) || !is_bchannel(ch) || pri_reset(g.pri, ch))
			emit("ERR usage: reset CHANNEL (1-15, 17-31)");
		else
			emit("OK reset channel=%d", ch);
	} else if (!strcmp(a[0], "restart")) {
		/* libpri 1.6 cannot send RESTART for the whole interface (pri_restart is a
		 * no-op); like Asterisk we restart every B channel in turn. */
		g.restart_all_next = 1;
		pri_reset(g.pri, 1);
		emit("OK restart");
	} else if (!strcmp(a[0], "load")) {
		cmd_load(a, n);
	} else {
		emit("ERR unknown command %s", a[0]);
	}
}

static void read_stdin(void)
{
	static char buf[8192];
	static size_t len;
	char *nl;
	ssize_t n = read(0, buf + len, sizeof(buf) - 1 - len);

	if (n <= 0) {
		g.stdin_eof = 1;
		g.quit = 1;
		return;
	}
	len += n;
	buf[len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		handle_command(buf);
		sweep();
		len -= nl + 1 - buf;
		memmove(buf, nl + 1, len + 1);
	}
	if (len == sizeof(buf) - 1)
		len = 0; /* an absurdly long line: drop it */
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: pri_peer --role network|user [--switch euroisdn_e1] "
		"(--listen PATH | --connect PATH) [--auto-answer | --auto-reject CAUSE] "
		"[--pcap FILE] [--timer NAME=MS]... [--debug MASK | --quiet] [--connect-timeout S]\n");
	exit(2);
}

static int switch_of(const char *s)
{
	static const struct { const char *name; int type; } t[] = {
		{ "euroisdn_e1", PRI_SWITCH_EUROISDN_E1 }, { "euroisdn_t1", PRI_SWITCH_EUROISDN_T1 },
		{ "ni2", PRI_SWITCH_NI2 }, { "dms100", PRI_SWITCH_DMS100 },
		{ "lucent5e", PRI_SWITCH_LUCENT5E }, { "4ess", PRI_SWITCH_ATT4ESS },
		{ "qsig", PRI_SWITCH_QSIG },
	};
	size_t i;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].name))
			return t[i].type;
	fprintf(stderr, "pri_peer: unknown switch type %s\n", s);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", 1, 0, 'r' }, { "switch", 1, 0, 's' }, { "listen", 1, 0, 'l' },
		{ "connect", 1, 0, 'c' }, { "auto-answer", 0, 0, 'a' }, { "auto-reject", 1, 0, 'j' },
		{ "pcap", 1, 0, 'p' }, { "timer", 1, 0, 't' }, { "debug", 1, 0, 'd' },
		{ "quiet", 0, 0, 'q' }, { "connect-timeout", 1, 0, 'T' }, { 0, 0, 0, 0 },
	};
	double connect_timeout = 10.0, deadline;
	struct rusage ru;
	int o;

	g.switchtype = PRI_SWITCH_EUROISDN_E1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			if (!strcmp(optarg, "network")) g.role = PRI_NETWORK;
			else if (!strcmp(optarg, "user")) g.role = PRI_CPE;
			else usage();
			break;
		case 's': g.switchtype = switch_of(optarg); break;
		case 'l': g.path = optarg; g.listening = 1; break;
		case 'c': g.path = optarg; g.listening = 0; break;
		case 'a': g.auto_mode = AUTO_ANSWER; break;
		case 'j': g.auto_mode = AUTO_REJECT; g.auto_cause = atoi(optarg); break;
		case 'p': pcap_open(optarg); break;
		case 't':
			if (g.ntimers == MAX_TIMERS || !strchr(optarg, '=')) usage();
			g.timers[g.ntimers++] = optarg;
			break;
		case 'd': g.debug = (int)strtol(optarg, NULL, 0); break;
		case 'q': g.debug = 0; break;
		case 'T': connect_timeout = atof(optarg); break;
		default: usage();
		}
	}
	if (!g.role || !g.path || optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	pri_set_message(on_pri_message);
	pri_set_error(on_pri_error);

	if (g.listening) {
		start_listening();
	} else {
		deadline = now_s() + connect_timeout;
		while (!try_connect()) {
			if (now_s() > deadline) {
				fprintf(stderr, "pri_peer: connecting to %s: %s\n", g.path, strerror(errno));
				emit("ERR cannot connect to %s", g.path);
				return 1;
			}
			usleep(20000);
		}
	}

	while (!g.quit) {
		struct pollfd fds[3];
		int nfds = 0, timeout = -1, i_stdin = -1, i_l = -1, i_d = -1;
		struct timeval *next = g.pri ? pri_schedule_next(g.pri) : NULL;

		if (next) {
			struct timeval tv;
			long ms;
			gettimeofday(&tv, NULL);
			ms = (next->tv_sec - tv.tv_sec) * 1000 + (next->tv_usec - tv.tv_usec + 999) / 1000;
			timeout = ms < 0 ? 0 : (int)ms;
		}
		if (!g.listening && g.dfd < 0 && (timeout < 0 || timeout > 200))
			timeout = 200;
		if (!g.stdin_eof) { i_stdin = nfds; fds[nfds++] = (struct pollfd){ 0, POLLIN, 0 }; }
		if (g.lfd >= 0) { i_l = nfds; fds[nfds++] = (struct pollfd){ g.lfd, POLLIN, 0 }; }
		if (g.dfd >= 0) { i_d = nfds; fds[nfds++] = (struct pollfd){ g.dfd, POLLIN, 0 }; }
		if (poll(fds, nfds, timeout) < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		/* Drain the D-channel before reading commands, so `ping` is a barrier. */
		for (int n = 0; i_d >= 0 && fds[i_d].revents && n < 64; n++) {
			pri_event *e;
			g.got_datagram = 0;
			e = pri_check_event(g.pri);
			if (e)
				handle_event(e);
			run_schedule();
			if (!g.got_datagram)
				break;
		}
		run_schedule();
		sweep();
		if (i_l >= 0 && (fds[i_l].revents & POLLIN)) {
			int fd = accept(g.lfd, NULL, NULL);
			if (fd >= 0)
				got_peer(fd);
		}
		if (!g.listening && g.dfd < 0 && now_s() >= g.reconnect_at) {
			g.reconnect_at = now_s() + 0.2;
			try_connect();
		}
		if (i_stdin >= 0 && fds[i_stdin].revents)
			read_stdin();
	}
	getrusage(RUSAGE_SELF, &ru);
	emit("CPU user=%.6f sys=%.6f", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	     ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	if (g.listening)
		unlink(g.path);
	return 0;
}
