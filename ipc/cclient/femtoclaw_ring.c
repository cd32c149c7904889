/*
 * femtoclaw_ring: a FemtoClaw shared-memory ring client in C, written from
 * the layout and handshake documented in package ipc (ipc/doc.go and the
 * drawing at the top of ipc/layout.go). One file, libc only (Linux).
 *
 *   cc -O2 -o femtoclaw_ring femtoclaw_ring.c
 *   femtoclaw_ring femtoclaw-data/femtoclaw.sock '{"tool_call":{"tool":"noop","args":{}}}'
 *   femtoclaw_ring femtoclaw-data/femtoclaw.sock - < messages.jsonl   # one message per line
 *
 * Each answer is printed on its own line. Exit status: 0 if every answer's
 * status was success, 1 if any was not, 2 on a transport error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SHRINK
#define F_SEAL_SHRINK 0x0002
#endif

/* Region header offsets (layout.go). */
enum {
	OFF_MAGIC = 0, OFF_VERSION = 4, OFF_HEADER_SIZE = 6, OFF_FEATURES = 8, OFF_REGION_SIZE = 16,
	OFF_MAX_FRAME = 24, OFF_SERVER_STATE = 28, OFF_REQ_CTL = 32, OFF_REQ_DATA = 40, OFF_REQ_SIZE = 48,
	OFF_RESP_CTL = 56, OFF_RESP_DATA = 64, OFF_RESP_SIZE = 72, OFF_SERVER_BELL = 128, OFF_CLIENT_BELL = 256,
	CTL_HEAD = 0, CTL_TAIL = 128, CTL_SIZE = 256, FRAME_HDR = 16, HEADER_MIN = 4096,
};
#define FEATURE_DOORBELLS 1ull
#define SPIN_NS 30000

static void die(const char *what) {
	fprintf(stderr, "femtoclaw_ring: %s: %s\n", what, errno ? strerror(errno) : "invalid");
	exit(2);
}

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint64_t round16(uint64_t n) { return (n + 15) & ~(uint64_t)15; }

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct ring {
	uint64_t *head, *tail;
	unsigned char *data;
	uint64_t size, local;
};

struct bell {
	uint32_t *seq, *parked;
};

static unsigned char *region;
static uint64_t region_size;
static uint32_t max_frame;
static struct ring req, resp;
static struct bell server_bell, client_bell;

/* Every index read from the region is checked before use. */
static int index_ok(uint64_t head, uint64_t tail, uint64_t size) {
	return head % 16 == 0 && tail % 16 == 0 && head - tail <= size;
}

/* After storing head or tail: wake the peer if it said it sleeps. */
static void ring_bell(struct bell *b) {
	if (__atomic_load_n(b->parked, __ATOMIC_SEQ_CST) != 0) {
		__atomic_add_fetch(b->seq, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, b->seq, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
	}
}

/* Spin, then park on our own doorbell until ready() or a timeout. */
static void wait_for(int (*ready)(void)) {
	uint64_t start = now_ns();
	while (now_ns() - start < SPIN_NS)
		for (int i = 0; i < 64; i++)
			if (ready()) return;
	uint32_t seq = __atomic_load_n(client_bell.seq, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(client_bell.parked, 1, __ATOMIC_SEQ_CST);
	if (!ready()) {
		struct timespec ts = {1, 0};
		syscall(SYS_futex, client_bell.seq, FUTEX_WAIT, seq, &ts, NULL, 0);
	}
	__atomic_sub_fetch(client_bell.parked, 1, __ATOMIC_SEQ_CST);
}

static int server_gone(void) {
	return __atomic_load_n((uint32_t *)(region + OFF_SERVER_STATE), __ATOMIC_SEQ_CST) == 2;
}

static uint64_t need_bytes;
static int req_has_room(void) {
	uint64_t t = __atomic_load_n(req.tail, __ATOMIC_ACQUIRE);
	if (!index_ok(req.local, t, req.size)) die("request ring tail out of range");
	return req.size - (req.local - t) >= need_bytes || server_gone();
}

static int resp_ready(void) {
	return __atomic_load_n(resp.head, __ATOMIC_ACQUIRE) != resp.local || server_gone();
}

/* Copy n bytes into the ring at byte position pos, wrapping. */
static void ring_put(struct ring *r, uint64_t pos, const unsigned char *src, uint64_t n) {
	uint64_t off = pos & (r->size - 1), first = r->size - off < n ? r->size - off : n;
	memcpy(r->data + off, src, first);
	memcpy(r->data, src + first, n - first);
}

static void ring_get(struct ring *r, uint64_t pos, unsigned char *dst, uint64_t n) {
	uint64_t off = pos & (r->size - 1), first = r->size - off < n ? r->size - off : n;
	memcpy(dst, r->data + off, first);
	memcpy(dst + first, r->data, n - first);
}

static void send_request(uint64_t id, const char *msg, size_t len) {
	if (len > max_frame) {
		fprintf(stderr, "femtoclaw_ring: message of %zu bytes exceeds the max frame %u\n", len, max_frame);
		exit(2);
	}
	need_bytes = FRAME_HDR + round16(len);
	while (!req_has_room()) wait_for(req_has_room);
	if (server_gone()) { errno = 0; die("the server closed"); }
	unsigned char hdr[FRAME_HDR] = {0};
	put32(hdr, (uint32_t)len);
	put32(hdr + 4, 0);
	put64(hdr + 8, id);
	ring_put(&req, req.local, hdr, FRAME_HDR);
	ring_put(&req, req.local + FRAME_HDR, (const unsigned char *)msg, len);
	req.local += need_bytes;
	__atomic_store_n(req.head, req.local, __ATOMIC_SEQ_CST); /* publish */
	ring_bell(&server_bell);
}

/* Returns the answer (malloc'd, NUL-terminated) for the next response frame. */
static char *read_answer(uint64_t *id) {
	while (!resp_ready()) wait_for(resp_ready);
	uint64_t head = __atomic_load_n(resp.head, __ATOMIC_ACQUIRE);
	if (head == resp.local) { errno = 0; die("the server closed"); }
	if (!index_ok(head, resp.local, resp.size)) { errno = 0; die("response ring head out of range"); }
	unsigned char hdr[FRAME_HDR];
	ring_get(&resp, resp.local, hdr, FRAME_HDR);
	uint32_t len = le32(hdr);
	uint64_t size = FRAME_HDR + round16(len);
	if (size > head - resp.local || len > max_frame) { errno = 0; die("response frame longer than published"); }
	*id = le64(hdr + 8);
	char *ans = malloc((size_t)len + 1);
	if (!ans) die("malloc");
	ring_get(&resp, resp.local + FRAME_HDR, (unsigned char *)ans, len);
	ans[len] = 0;
	resp.local += size;
	__atomic_store_n(resp.tail, resp.local, __ATOMIC_SEQ_CST); /* release */
	ring_bell(&server_bell);
	return ans;
}

static void read_full(int fd, unsigned char *b, size_t n) {
	while (n > 0) {
		ssize_t m = read(fd, b, n);
		if (m <= 0) { if (m == 0) errno = 0; die("handshake read"); }
		b += m;
		n -= (size_t)m;
	}
}

/* Connects, handshakes, maps and validates the region. Returns the socket. */
static int connect_ring(const char *path, char *principal, size_t plen) {
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) die("socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) { errno = ENAMETOOLONG; die(path); }
	strcpy(sa.sun_path, path);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) die(path);

	unsigned char hello[16] = {'F', 'C', 'I', 'H', 1, 0, 0, 0};
	put64(hello + 8, FEATURE_DOORBELLS);
	if (write(s, hello, sizeof hello) != sizeof hello) die("hello");

	unsigned char reply[16];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {reply, sizeof reply};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t got = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	if (got <= 0) { if (got == 0) errno = 0; die("reply"); }
	int fd = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof fd);
	if (got < 16) read_full(s, reply + got, 16 - (size_t)got);
	if (memcmp(reply, "FCIA", 4) != 0 || le16(reply + 4) != 1) { errno = 0; die("not a version 1 FemtoClaw ring server"); }
	uint16_t status = le16(reply + 6);
	uint32_t tlen = le32(reply + 8);
	if (tlen > 4096) { errno = 0; die("reply text too long"); }
	char text[4097];
	read_full(s, (unsigned char *)text, tlen);
	text[tlen] = 0;
	if (status != 0) {
		fprintf(stderr, "femtoclaw_ring: refused (status %u): %s\n", status, text);
		exit(2);
	}
	size_t pn = tlen < plen - 1 ? tlen : plen - 1;
	memcpy(principal, text, pn);
	principal[pn] = 0;
	if (fd < 0) { errno = 0; die("no region descriptor"); }

	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) { errno = 0; die("the region is not sealed against shrinking"); }
	struct stat st;
	if (fstat(fd, &st) < 0) die("fstat");
	if (st.st_size < HEADER_MIN) { errno = 0; die("region too small"); }
	region_size = (uint64_t)st.st_size;
	region = mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (region == MAP_FAILED) die("mmap");
	close(fd);

	/* Validate the header once; use only these copies afterwards. */
	if (memcmp(region + OFF_MAGIC, "FCRG", 4) != 0 || le16(region + OFF_VERSION) != 1) { errno = 0; die("region magic or version"); }
	uint64_t features = le64(region + OFF_FEATURES);
	if ((features & ~FEATURE_DOORBELLS) != 0 || !(features & FEATURE_DOORBELLS)) { errno = 0; die("region features"); }
	uint64_t hsize = le16(region + OFF_HEADER_SIZE);
	if (le64(region + OFF_REGION_SIZE) != region_size || hsize < 1024 || hsize > region_size) { errno = 0; die("region size"); }
	max_frame = le32(region + OFF_MAX_FRAME);
	uint64_t rc = le64(region + OFF_REQ_CTL), rd = le64(region + OFF_REQ_DATA), rs = le64(region + OFF_REQ_SIZE);
	uint64_t pc = le64(region + OFF_RESP_CTL), pd = le64(region + OFF_RESP_DATA), ps = le64(region + OFF_RESP_SIZE);
	uint64_t ctl[2] = {rc, pc}, dat[2] = {rd, pd}, siz[2] = {rs, ps};
	for (int i = 0; i < 2; i++)
		if (ctl[i] % 128 || ctl[i] < 128 || ctl[i] + CTL_SIZE > hsize || siz[i] < 32 || (siz[i] & (siz[i] - 1)) ||
		    dat[i] % 16 || dat[i] < hsize || dat[i] > region_size || region_size - dat[i] < siz[i]) {
			errno = 0;
			die("ring geometry");
		}
	if (rc == pc || (rd < pd + ps && pd < rd + rs)) { errno = 0; die("rings overlap"); }
	if (max_frame == 0 || (uint64_t)max_frame + FRAME_HDR > (rs < ps ? rs : ps) / 2) { errno = 0; die("max frame"); }

	req = (struct ring){(uint64_t *)(region + rc + CTL_HEAD), (uint64_t *)(region + rc + CTL_TAIL), region + rd, rs, 0};
	resp = (struct ring){(uint64_t *)(region + pc + CTL_HEAD), (uint64_t *)(region + pc + CTL_TAIL), region + pd, ps, 0};
	req.local = __atomic_load_n(req.head, __ATOMIC_ACQUIRE);
	resp.local = __atomic_load_n(resp.tail, __ATOMIC_ACQUIRE);
	server_bell = (struct bell){(uint32_t *)(region + OFF_SERVER_BELL), (uint32_t *)(region + OFF_SERVER_BELL + 4)};
	client_bell = (struct bell){(uint32_t *)(region + OFF_CLIENT_BELL), (uint32_t *)(region + OFF_CLIENT_BELL + 4)};
	return s; /* kept open: the liveness signal */
}

static int execute(uint64_t id, const char *msg, size_t len) {
	send_request(id, msg, len);
	uint64_t got;
	char *ans = read_answer(&got);
	if (got != id) { fprintf(stderr, "femtoclaw_ring: answer for id %llu, want %llu\n", (unsigned long long)got, (unsigned long long)id); exit(2); }
	printf("%s\n", ans);
	int ok = strstr(ans, "\"status\":\"success\"") != NULL;
	free(ans);
	return ok;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: femtoclaw_ring SOCKET MESSAGE... | femtoclaw_ring SOCKET - (one message per line on stdin)\n");
		return 2;
	}
	char principal[256];
	int s = connect_ring(argv[1], principal, sizeof principal);
	fprintf(stderr, "femtoclaw_ring: connected as %s\n", principal);
	int all_ok = 1;
	uint64_t id = 1;
	if (strcmp(argv[2], "-") == 0) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, stdin)) > 0) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
			if (n > 0) all_ok &= execute(id++, line, (size_t)n);
		}
		free(line);
	} else {
		for (int i = 2; i < argc; i++) all_ok &= execute(id++, argv[i], strlen(argv[i]));
	}
	fflush(stdout);
	munmap(region, region_size);
	close(s);
	return all_ok ? 0 : 1;
}
