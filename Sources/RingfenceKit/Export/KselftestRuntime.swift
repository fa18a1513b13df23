// The C files `ringfence export --kselftest` writes beside the generated cases:
// the runtime the cases call, and the io_uring BPF filter UAPI for older headers.
// Edit the C here; KselftestExportTests compiles an export with the host cc.

enum KselftestRuntime {
    static let runtimeHeader = #"""
/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringfence_rt.h: the few helpers the generated io_uring BPF filter cases
 * call (written by `ringfence export --kselftest`; do not edit, re-export).
 *
 * Raw syscalls only (io_uring_setup/enter/register and the ring mmaps, as
 * liburing 2.3 does them), libc and the kernel UAPI headers. Output is KTAP
 * with kselftest.h conventions; exit codes 0 (pass), 1 (fail), 4 (skip).
 */
#ifndef RINGFENCE_RT_H
#define RINGFENCE_RT_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include "io_uring_bpf_filter.h"

#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif

/*
 * O_LARGEFILE as the kernel ORs it into open flags (force_o_largefile() in
 * __io_openat_prep()): the architecture's value from the kernel's
 * asm/fcntl.h. glibc's <fcntl.h> defines O_LARGEFILE as 0 on 64-bit, and the
 * kernel's <asm/fcntl.h> clashes with it, so the values are written here
 * (Linux 7.3: include/uapi/asm-generic/fcntl.h, arch/arm64/include/uapi/asm/fcntl.h).
 * Filters that write #O_LARGEFILE use RF_O_LARGEFILE.
 */
#if defined(__aarch64__) || defined(__arm__) || defined(__m68k__)
#define RF_O_LARGEFILE 0x20000u
#elif defined(__x86_64__) || defined(__i386__) || defined(__s390__) || defined(__riscv) || defined(__loongarch__)
#define RF_O_LARGEFILE 0x8000u
#elif defined(__powerpc__)
#define RF_O_LARGEFILE 0x10000u
#else
#error "RF_O_LARGEFILE: add this architecture's O_LARGEFILE from the kernel's arch/*/include/uapi/asm/fcntl.h"
#endif

#define RF_MAX_RINGS 8
#define RF_LAST 0x80000000u /* opcode field: IORING_OP_LAST + (value & 0xffff) */

static int rf_sys_setup(unsigned entries, struct io_uring_params *p)
{
	long r = syscall(__NR_io_uring_setup, entries, p);
	return r < 0 ? -errno : (int)r;
}

static int rf_sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, void *arg, size_t argsz)
{
	long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
	return r < 0 ? -errno : (int)r;
}

static int rf_sys_register(int fd, unsigned opcode, const void *arg, unsigned nr_args)
{
	long r = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
	return r < 0 ? -errno : (int)r;
}

/* "-EACCES" for -13, "0" for 0. */
static const char *rf_res(int r)
{
	static char buf[4][32];
	static int n;
	char *b = buf[n++ & 3];
	if (r >= 0) {
		snprintf(b, 32, "%d", r);
	} else {
#ifdef __GLIBC__
		const char *name = strerrorname_np(-r);
		if (name) {
			snprintf(b, 32, "-%s", name);
			return b;
		}
#endif
		snprintf(b, 32, "-errno %d", -r);
	}
	return b;
}

/* One line of a failing case's reason, as a KTAP diagnostic. */
static void rf_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
}

/* ---- the running kernel, probed once ---- */

struct rf_facts {
	int bpf_filter;        /* IORING_REGISTER_BPF_FILTER works */
	unsigned opcode_last;  /* IORING_OP_LAST (IORING_REGISTER_PROBE's last_op + 1) */
	unsigned char ctx_size[256];  /* pdu_size the kernel writes back per opcode */
	int root;
};
static struct rf_facts rf_facts;

/* ---- rings: io_uring_setup and the mmaps, as liburing's io_uring_queue_init_params ---- */

struct rf_ring {
	int fd;                /* -1: not set up */
	int enter_fd;          /* the registered index after register_fd */
	int registered;
	struct io_uring_params p;
	void *sq_ptr, *cq_ptr, *sqes;
	size_t sq_len, cq_len, sqes_len;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_flags, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned sqe_head, sqe_tail;
	unsigned sqe_size, cqe_size;
	int pipes[8], npipes;  /* pipe ends a submit created; closed with the ring */
};

struct rf_ctx {
	struct rf_ring rings[RF_MAX_RINGS];
	const char *ring_names[RF_MAX_RINGS];
	int cqe_timeout_ms;
};

static void rf_ctx_init(struct rf_ctx *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < RF_MAX_RINGS; i++)
		c->rings[i].fd = -1;
	c->cqe_timeout_ms = 2000;
}

static int rf_ring_mmap(struct rf_ring *r)
{
	struct io_uring_params *p = &r->p;
	r->sqe_size = (p->flags & IORING_SETUP_SQE128) ? 128 : 64;
	r->cqe_size = (p->flags & IORING_SETUP_CQE32) ? 32 : 16;
	r->sq_len = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	r->cq_len = p->cq_off.cqes + p->cq_entries * r->cqe_size;
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		if (r->cq_len > r->sq_len)
			r->sq_len = r->cq_len;
		r->cq_len = r->sq_len;
	}
	r->sq_ptr = mmap(0, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	if (r->sq_ptr == MAP_FAILED)
		return -errno;
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		r->cq_ptr = r->sq_ptr;
	} else {
		r->cq_ptr = mmap(0, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
		if (r->cq_ptr == MAP_FAILED) {
			int e = -errno;
			munmap(r->sq_ptr, r->sq_len);
			return e;
		}
	}
	r->sqes_len = (size_t)p->sq_entries * r->sqe_size;
	r->sqes = mmap(0, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED) {
		int e = -errno;
		munmap(r->sq_ptr, r->sq_len);
		if (r->cq_ptr != r->sq_ptr)
			munmap(r->cq_ptr, r->cq_len);
		return e;
	}
	char *sq = r->sq_ptr, *cq = r->cq_ptr;
	r->sq_head = (unsigned *)(sq + p->sq_off.head);
	r->sq_tail = (unsigned *)(sq + p->sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p->sq_off.ring_mask);
	r->sq_flags = (unsigned *)(sq + p->sq_off.flags);
	r->sq_array = (unsigned *)(sq + p->sq_off.array);
	r->cq_head = (unsigned *)(cq + p->cq_off.head);
	r->cq_tail = (unsigned *)(cq + p->cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p->cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
	/* liburing >= 2.2 fills the SQ index array once: slot i is SQE i */
	for (unsigned i = 0; i <= *r->sq_mask; i++)
		r->sq_array[i] = i;
	return 0;
}

static void rf_ring_close(struct rf_ring *r)
{
	if (r->fd < 0)
		return;
	munmap(r->sqes, r->sqes_len);
	if (r->cq_ptr != r->sq_ptr)
		munmap(r->cq_ptr, r->cq_len);
	munmap(r->sq_ptr, r->sq_len);
	close(r->fd);
	for (int i = 0; i < r->npipes; i++)
		close(r->pipes[i]);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* The fd, or -errno. */
static int rf_setup(struct rf_ring *r, unsigned entries, unsigned flags)
{
	struct rf_ring n;
	memset(&n, 0, sizeof(n));
	n.p.flags = flags;
	n.fd = rf_sys_setup(entries, &n.p);
	if (n.fd < 0)
		return n.fd;
	int e = rf_ring_mmap(&n);
	if (e) {
		close(n.fd);
		return e;
	}
	n.enter_fd = n.fd;
	rf_ring_close(r);
	*r = n;
	return n.fd;
}

/* A ring a step names before any setup: 8 entries, no flags (as the Swift executor). */
static int rf_ring(struct rf_ctx *c, int i)
{
	if (c->rings[i].fd >= 0)
		return 0;
	int fd = rf_setup(&c->rings[i], 8, 0);
	if (fd < 0) {
		rf_diag("could not create ring '%s': %s", c->ring_names[i], rf_res(fd));
		return -1;
	}
	return 0;
}

/* IORING_REGISTER_RING_FDS: the registered index, or -errno. */
static int rf_register_ring_fd(struct rf_ring *r)
{
	struct io_uring_rsrc_update up = { .offset = -1U, .data = (uint64_t)r->fd };
	int ret = rf_sys_register(r->fd, IORING_REGISTER_RING_FDS, &up, 1);
	if (ret != 1)
		return ret < 0 ? ret : -EINVAL;
	r->enter_fd = (int)up.offset;
	r->registered = 1;
	return (int)up.offset;
}

/* ---- user memory laid out as a case asks (normal, null, unmapped, read-only, truncated:N) ---- */

enum rf_place { RF_NORMAL, RF_NULL, RF_UNMAPPED, RF_READONLY, RF_TRUNCATED };

struct rf_mem {
	void *addr;
	void *base;
	size_t len;
};

static struct rf_mem rf_place(const void *bytes, size_t size, enum rf_place how, size_t truncated)
{
	struct rf_mem m = { 0 };
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	switch (how) {
	case RF_NULL:
		break;
	case RF_UNMAPPED: {
		static void *guard;
		if (!guard) {
			guard = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (guard == MAP_FAILED)
				guard = NULL;
		}
		m.addr = guard;
		break;
	}
	case RF_NORMAL:
	case RF_READONLY: {
		size_t pages = size ? (size + ps - 1) / ps : 1;
		m.len = pages * ps;
		m.base = mmap(NULL, m.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m.base == MAP_FAILED) {
			m.base = NULL;
			break;
		}
		memcpy(m.base, bytes, size);
		if (how == RF_READONLY)
			mprotect(m.base, m.len, PROT_READ);
		m.addr = m.base;
		break;
	}
	case RF_TRUNCATED: {
		size_t n = truncated < size ? truncated : size;
		if (n > ps)
			n = ps;
		m.len = 2 * ps;
		m.base = mmap(NULL, m.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m.base == MAP_FAILED) {
			m.base = NULL;
			break;
		}
		mprotect((char *)m.base + ps, ps, PROT_NONE);
		m.addr = (char *)m.base + ps - n;
		memcpy(m.addr, bytes, n);
		break;
	}
	}
	return m;
}

static void rf_release(struct rf_mem *m)
{
	if (m->base)
		munmap(m->base, m->len);
}

/* ---- IORING_REGISTER_BPF_FILTER ---- */

/* Where a register step goes: a ring of the case, the task (fd -1) or a raw fd. */
struct rf_target {
	int kind;       /* 0 ring, 1 task, 2 raw fd */
	int index;      /* ring index or raw fd */
	int use_registered;
};

struct rf_register_spec {
	struct io_uring_bpf arg;       /* filter.opcode with RF_LAST: IORING_OP_LAST + low bits */
	const struct sock_filter *prog;
	unsigned prog_len;
	int filter_len_set;            /* arg.filter.filter_len given by the case */
	enum rf_place prog_place, arg_place;
	size_t prog_trunc, arg_trunc;
	unsigned nr_args;
	int expect_errno;              /* 0: must succeed */
	int expect_pdu;                /* -1: not checked */
	const char *source;            /* the program text, for messages */
};

static unsigned rf_opcode(unsigned op)
{
	return (op & RF_LAST) ? rf_facts.opcode_last + (op & 0xffff) : op;
}

static int rf_target_fd(struct rf_ctx *c, const struct rf_target *t, int *fd)
{
	if (t->kind == 1) {
		*fd = -1;
		return 0;
	}
	if (t->kind == 2) {
		*fd = t->index;
		return 0;
	}
	if (rf_ring(c, t->index))
		return -1;
	struct rf_ring *r = &c->rings[t->index];
	if (t->use_registered) {
		if (!r->registered) {
			rf_diag("ring '%s' was not set up with register_fd: true", c->ring_names[t->index]);
			return -1;
		}
		*fd = r->enter_fd;
	} else {
		*fd = r->fd;
	}
	return 0;
}

/* Checks a result against an expected errno (0: success); prints and returns -1 if it differs. */
static int rf_expect(int ret, int expect_errno, const char *what)
{
	if (expect_errno) {
		if (ret == -expect_errno)
			return 0;
		rf_diag("%s: expected %s, observed %s", what, rf_res(-expect_errno), rf_res(ret));
		return -1;
	}
	if (ret >= 0)
		return 0;
	rf_diag("%s: expected success, observed %s", what, rf_res(ret));
	return -1;
}

/* One registration; 0 when it held. quiet: only the first line (sweeps). */
static int rf_register_once(struct rf_ctx *c, const struct rf_target *t, const struct rf_register_spec *s,
			    char *why, size_t whylen)
{
	int fd;
	if (rf_target_fd(c, t, &fd))
		return -1;
	struct io_uring_bpf arg = s->arg;
	arg.filter.opcode = rf_opcode(arg.filter.opcode);
	if (!s->filter_len_set)
		arg.filter.filter_len = s->prog_len;
	struct rf_mem prog = rf_place(s->prog, s->prog_len * sizeof(struct sock_filter), s->prog_place, s->prog_trunc);
	arg.filter.filter_ptr = (uint64_t)(uintptr_t)prog.addr;
	struct rf_mem am = rf_place(&arg, sizeof(arg), s->arg_place, s->arg_trunc);
	unsigned op = IORING_REGISTER_BPF_FILTER | (t->use_registered ? IORING_REGISTER_USE_REGISTERED_RING : 0);
	int ret = rf_sys_register(fd, op, am.addr, s->nr_args);
	int bad = 0;
	if (s->expect_errno ? ret != -s->expect_errno : ret < 0) {
		if (s->expect_errno)
			snprintf(why, whylen, "IORING_REGISTER_BPF_FILTER: expected %s, observed %s", rf_res(-s->expect_errno), rf_res(ret));
		else
			snprintf(why, whylen, "IORING_REGISTER_BPF_FILTER: expected success, observed %s", rf_res(ret));
		bad = 1;
	} else if (s->expect_pdu >= 0) {
		if (s->arg_place != RF_NORMAL) {
			snprintf(why, whylen, "pdu_size: the argument buffer could not be read back");
			bad = 1;
		} else {
			unsigned got = ((struct io_uring_bpf *)am.addr)->filter.pdu_size;
			if (got != (unsigned)s->expect_pdu) {
				snprintf(why, whylen, "pdu_size written back: expected %d, observed %u", s->expect_pdu, got);
				bad = 1;
			}
		}
	}
	rf_release(&am);
	rf_release(&prog);
	return bad;
}

static int rf_register(struct rf_ctx *c, const struct rf_target *t, const struct rf_register_spec *s)
{
	char why[256];
	int r = rf_register_once(c, t, s, why, sizeof(why));
	if (r > 0) {
		rf_diag("%s", why);
		rf_diag("program: %s", s->source);
	}
	return r ? -1 : 0;
}

/* ---- for: sweeps. The template program with the variable patched into its slots. ---- */

enum rf_field { RF_CODE, RF_JT, RF_JF, RF_K };
struct rf_slot { unsigned insn; enum rf_field field; };
struct rf_run { uint32_t lo, hi, step; };  /* values lo, lo+step, ... <= hi */

struct rf_sweep {
	const char *variable;
	const struct rf_run *runs;      /* fixed values, or */
	unsigned nruns;
	int to_last;                    /* lo .. LAST-minus step */
	uint32_t lo, minus, step;
	const uint32_t *except;
	unsigned nexcept;
	const struct rf_slot *slots;
	unsigned nslots;
	int opcode_from_variable;
};

static int rf_sweep_value(struct rf_ctx *c, const struct rf_target *t, const struct rf_register_spec *tmpl,
			  const struct rf_sweep *sw, uint32_t v, unsigned *differ, unsigned *total)
{
	struct sock_filter prog[tmpl->prog_len ? tmpl->prog_len : 1];
	memcpy(prog, tmpl->prog, tmpl->prog_len * sizeof(*prog));
	for (unsigned i = 0; i < sw->nslots; i++) {
		struct sock_filter *f = &prog[sw->slots[i].insn];
		switch (sw->slots[i].field) {
		case RF_CODE: f->code = (uint16_t)v; break;
		case RF_JT: f->jt = (uint8_t)v; break;
		case RF_JF: f->jf = (uint8_t)v; break;
		case RF_K: f->k = v; break;
		}
	}
	struct rf_register_spec s = *tmpl;
	s.prog = prog;
	if (sw->opcode_from_variable)
		s.arg.filter.opcode = v;
	char why[256];
	(*total)++;
	int r = rf_register_once(c, t, &s, why, sizeof(why));
	if (r < 0)
		return -1;
	if (r > 0) {
		if (*differ < 20)
			rf_diag("%s=0x%x: %s", sw->variable, v, why);
		(*differ)++;
	}
	return 0;
}

static int rf_excepted(const struct rf_sweep *sw, uint32_t v)
{
	for (unsigned i = 0; i < sw->nexcept; i++)
		if (sw->except[i] == v)
			return 1;
	return 0;
}

static int rf_run_sweep(struct rf_ctx *c, const struct rf_target *t, const struct rf_register_spec *tmpl, const struct rf_sweep *sw)
{
	unsigned differ = 0, total = 0;
	if (sw->to_last) {
		if (rf_facts.opcode_last < sw->minus || rf_facts.opcode_last - sw->minus < sw->lo) {
			rf_diag("the sweep has no values on this kernel");
			return -1;
		}
		for (uint64_t v = sw->lo; v <= rf_facts.opcode_last - sw->minus; v += sw->step)
			if (!rf_excepted(sw, (uint32_t)v) && rf_sweep_value(c, t, tmpl, sw, (uint32_t)v, &differ, &total))
				return -1;
	} else {
		for (unsigned i = 0; i < sw->nruns; i++)
			for (uint64_t v = sw->runs[i].lo; v <= sw->runs[i].hi; v += sw->runs[i].step)
				if (rf_sweep_value(c, t, tmpl, sw, (uint32_t)v, &differ, &total))
					return -1;
	}
	if (!differ)
		return 0;
	rf_diag("%u of %u values differ (the first 20 above)", differ, total);
	return -1;
}

/* ---- IORING_REGISTER_RESTRICTIONS (ring form and task form, fd -1) ---- */

static int rf_restrict(struct rf_ctx *c, int ring, const struct io_uring_restriction *res, unsigned nres,
		       const struct io_uring_task_restriction *task_hdr, unsigned nr_args, int expect_errno)
{
	int ret;
	if (task_hdr) {
		size_t len = sizeof(*task_hdr) + nres * sizeof(*res);
		char *buf = calloc(1, len);
		memcpy(buf, task_hdr, sizeof(*task_hdr));
		memcpy(buf + sizeof(*task_hdr), res, nres * sizeof(*res));
		ret = rf_sys_register(-1, IORING_REGISTER_RESTRICTIONS, buf, nr_args);
		free(buf);
	} else {
		if (rf_ring(c, ring))
			return -1;
		ret = rf_sys_register(c->rings[ring].fd, IORING_REGISTER_RESTRICTIONS, nres ? res : NULL, nr_args);
	}
	return rf_expect(ret, expect_errno, "IORING_REGISTER_RESTRICTIONS");
}

static int rf_enable(struct rf_ctx *c, int ring, int expect_errno)
{
	if (rf_ring(c, ring))
		return -1;
	return rf_expect(rf_sys_register(c->rings[ring].fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0), expect_errno,
			 "IORING_REGISTER_ENABLE_RINGS");
}

/* ---- SQEs and CQEs (liburing 2.3's io_uring_submit and io_uring_wait_cqe_timeout) ---- */

struct rf_sqe_spec {
	uint32_t opcode;               /* RF_LAST | n: IORING_OP_LAST + n */
	uint8_t flags;
	uint16_t ioprio;
	int32_t fd;
	uint64_t off, addr;
	uint32_t len, op_flags;
	uint64_t user_data;
	uint16_t buf_index, personality;
	uint32_t file_index;
	uint64_t addr3;
	const void *addr_payload;      /* its address goes into addr */
	size_t addr_payload_len;
	const void *off_payload;       /* its address goes into off (OPENAT2's open_how) */
	size_t off_payload_len;
	int addr_le, off_le;           /* payload holds little-endian integers (enum rf_le) */
	int socket;                    /* create socket(domain, type, proto) for fd */
	int domain, type, proto;
	int pipe_end;                  /* -1, or 0/1: that end of a new pipe for fd */
	int ring_fd;                   /* -1, or a ring index whose fd goes into fd */
	uint64_t how_flags_x86;        /* open_how.flags: these x86_64 bits of the payload ... */
	uint64_t how_flags_arch;       /* ... are this architecture's (O_DIRECTORY, O_NOFOLLOW, ...) */
};

/*
 * Payloads are written little-endian by the exporter; on a big-endian
 * machine their native integer fields are swapped before the kernel sees
 * them (docs/architectures.md, "Byte order").
 */
enum rf_le { RF_LE_NONE, RF_LE_SOCKADDR /* u16 family at 0 */, RF_LE_U64S /* every 8 bytes a u64 */ };

static void rf_native(void *p, size_t len, int kind)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	unsigned char *b = p, t;
	if (kind == RF_LE_SOCKADDR && len >= 2) {
		t = b[0]; b[0] = b[1]; b[1] = t;
	} else if (kind == RF_LE_U64S) {
		for (size_t o = 0; o + 8 <= len && o < 24; o += 8)
			for (int i = 0; i < 4; i++) {
				t = b[o + i]; b[o + i] = b[o + 7 - i]; b[o + 7 - i] = t;
			}
	}
#else
	(void)p; (void)len; (void)kind;
#endif
}

/* A malloc'd native-order copy of an SQE's payload, kept in *slot (freed
 * after the submit); returns its address for the SQE. */
static uint64_t rf_payload_copy(void **slot, const void *src, size_t len, int kind)
{
	void *p = malloc(len ? len : 1);
	memcpy(p, src, len);
	rf_native(p, len, kind);
	*slot = p;
	return (uint64_t)(uintptr_t)p;
}

enum rf_match { RF_EXACTLY, RF_SUCCESS, RF_ALLOWED, RF_ANY };
struct rf_cqe_expect { uint64_t user_data; enum rf_match how; int32_t res; };

static struct io_uring_sqe *rf_get_sqe(struct rf_ring *r)
{
	unsigned head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	if (r->sqe_tail - head >= r->p.sq_entries)
		return NULL;
	struct io_uring_sqe *sqe = (void *)((char *)r->sqes + (size_t)(r->sqe_tail & *r->sq_mask) * r->sqe_size);
	r->sqe_tail++;
	return sqe;
}

static int rf_submit_ring(struct rf_ring *r)
{
	unsigned tail = r->sqe_tail;
	if (r->sqe_head != tail) {
		r->sqe_head = tail;
		__atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
	}
	unsigned submitted = tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	unsigned flags = 0;
	int needs_enter = 0;
	int cq_needs = (r->p.flags & IORING_SETUP_IOPOLL) ||
		       (__atomic_load_n(r->sq_flags, __ATOMIC_RELAXED) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN));
	if (submitted) {
		if (!(r->p.flags & IORING_SETUP_SQPOLL)) {
			needs_enter = 1;
		} else {
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(r->sq_flags, __ATOMIC_RELAXED) & IORING_SQ_NEED_WAKEUP) {
				flags |= IORING_ENTER_SQ_WAKEUP;
				needs_enter = 1;
			}
		}
	}
	if (!needs_enter && !cq_needs)
		return (int)submitted;
	if (cq_needs)
		flags |= IORING_ENTER_GETEVENTS;
	if (r->registered)
		flags |= IORING_ENTER_REGISTERED_RING;
	return rf_sys_enter(r->enter_fd, submitted, 0, flags, NULL, 0);
}

static int rf_peek_cqe(struct rf_ring *r, struct io_uring_cqe *out)
{
	unsigned head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return 0;
	*out = *(struct io_uring_cqe *)((char *)r->cqes + (size_t)(head & *r->cq_mask) * r->cqe_size);
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return 1;
}

static uint64_t rf_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int rf_wait_cqe(struct rf_ring *r, struct io_uring_cqe *out, long ns)
{
	if (rf_peek_cqe(r, out))
		return 1;
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = ns };
	struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&ts };
	unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | (r->registered ? IORING_ENTER_REGISTERED_RING : 0);
	rf_sys_enter(r->enter_fd, 0, 1, flags, &arg, sizeof(arg));
	return rf_peek_cqe(r, out);
}

static int rf_submit(struct rf_ctx *c, int ring, const struct rf_sqe_spec *specs, unsigned n,
		     int check_submitted, int want_submitted, const struct rf_cqe_expect *want, unsigned nwant)
{
	if (rf_ring(c, ring))
		return -1;
	struct rf_ring *r = &c->rings[ring];
	int submitted = 0, sockets[16], nsockets = 0;
	void *payloads[32];
	int npayloads = 0;
	struct io_uring_cqe got[64];
	unsigned ngot = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct rf_sqe_spec *s = &specs[i];
		struct io_uring_sqe *sqe = rf_get_sqe(r);
		if (!sqe) {
			int ret = rf_submit_ring(r);
			if (ret < 0) {
				submitted = ret;
				goto judged;
			}
			submitted += ret;
			sqe = rf_get_sqe(r);
		}
		if (!sqe)
			break;
		int fd = s->fd;
		if (s->socket) {
			fd = socket(s->domain, s->type, s->proto);
			if (nsockets < 16)
				sockets[nsockets++] = fd;
		}
		if (s->pipe_end >= 0) {
			int p[2];
			if (pipe(p) == 0) {
				fd = p[s->pipe_end];
				if (r->npipes < 7) {
					r->pipes[r->npipes++] = p[0];
					r->pipes[r->npipes++] = p[1];
				}
			}
		}
		if (s->ring_fd >= 0) {
			if (rf_ring(c, s->ring_fd))
				return -1;
			fd = c->rings[s->ring_fd].fd;
		}
		uint64_t addr = s->addr, off = s->off;
		if (s->addr_payload && npayloads < 32)
			addr = rf_payload_copy(&payloads[npayloads++], s->addr_payload, s->addr_payload_len, s->addr_le);
		if (s->off_payload && npayloads < 32) {
			off = rf_payload_copy(&payloads[npayloads++], s->off_payload, s->off_payload_len, s->off_le);
			if (s->how_flags_x86 && s->off_payload_len >= 8) {
				uint64_t *how_flags = payloads[npayloads - 1];
				*how_flags = (*how_flags & ~s->how_flags_x86) | s->how_flags_arch;
			}
		}
		memset(sqe, 0, r->sqe_size);
		sqe->opcode = (uint8_t)rf_opcode(s->opcode);
		sqe->flags = s->flags;
		sqe->ioprio = s->ioprio;
		sqe->fd = fd;
		sqe->off = off;
		sqe->addr = addr;
		sqe->len = s->len;
		sqe->rw_flags = (__kernel_rwf_t)s->op_flags;
		sqe->user_data = s->user_data;
		sqe->buf_index = s->buf_index;
		sqe->personality = s->personality;
		sqe->file_index = s->file_index;
		sqe->addr3 = s->addr3;
	}
	{
		int ret = rf_submit_ring(r);
		if (ret < 0 && submitted == 0)
			submitted = ret;
		else
			submitted += ret > 0 ? ret : 0;
	}
	if (submitted >= 0 || n == 0) {
		uint64_t deadline = rf_now_ms() + (uint64_t)c->cqe_timeout_ms;
		while (ngot < nwant && rf_now_ms() < deadline)
			if (rf_wait_cqe(r, &got[ngot], 20000000))
				ngot++;
		/* extra completions already there are part of the observation */
		while (ngot < 64 && rf_peek_cqe(r, &got[ngot]))
			ngot++;
	}
judged:;
	int bad = 0;
	if (check_submitted && want_submitted != submitted) {
		rf_diag("submitted: expected %d, observed %s", want_submitted, rf_res(submitted));
		bad = 1;
	} else if (!check_submitted && submitted < 0) {
		rf_diag("io_uring_submit failed: %s", rf_res(submitted));
		bad = 1;
	}
	int used[64] = { 0 };
	for (unsigned w = 0; w < nwant; w++) {
		unsigned i;
		for (i = 0; i < ngot; i++)
			if (!used[i] && got[i].user_data == want[w].user_data)
				break;
		if (i == ngot) {
			rf_diag("CQE user_data=%llu: expected a CQE, observed none", (unsigned long long)want[w].user_data);
			bad = 1;
			continue;
		}
		used[i] = 1;
		int res = got[i].res, ok;
		switch (want[w].how) {
		case RF_EXACTLY: ok = res == want[w].res; break;
		case RF_SUCCESS: ok = res >= 0; break;
		case RF_ALLOWED: ok = res != -EACCES; break;
		default: ok = 1; break;
		}
		if (!ok) {
			const char *exp = want[w].how == RF_EXACTLY ? rf_res(want[w].res) : want[w].how == RF_SUCCESS ? ">= 0" : "not -EACCES (allowed)";
			rf_diag("CQE user_data=%llu: expected res %s, observed %s", (unsigned long long)want[w].user_data, exp, rf_res(res));
			bad = 1;
		}
	}
	for (unsigned i = 0; i < ngot; i++)
		if (!used[i]) {
			rf_diag("unexpected CQE user_data=%llu res=%s", (unsigned long long)got[i].user_data, rf_res(got[i].res));
			bad = 1;
		}
	(void)sockets;
	(void)payloads;
	/* sockets and payloads live until the case's process ends, like the ring's requests */
	return bad ? -1 : 0;
}

/* ---- other steps ---- */

static int rf_fork(struct rf_ctx *c, int (*body)(struct rf_ctx *))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		rf_diag("fork: %s", rf_res(-errno));
		return -1;
	}
	if (pid == 0)
		_exit(body(c) ? 1 : 0);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	rf_diag("in the forked child: the steps above failed (status 0x%x)", st);
	return -1;
}

struct rf_thread_arg { struct rf_ctx *c; int (*body)(struct rf_ctx *); int ret; };

static void *rf_thread_main(void *p)
{
	struct rf_thread_arg *a = p;
	a->ret = a->body(a->c);
	return NULL;
}

/* thread: the steps on a new thread (pthread_create: CLONE_THREAD), joined; its rings stay the case's. */
static int rf_thread(struct rf_ctx *c, int (*body)(struct rf_ctx *))
{
	pthread_t th;
	struct rf_thread_arg a = { c, body, 0 };
	int e = pthread_create(&th, NULL, rf_thread_main, &a);
	if (e) {
		rf_diag("pthread_create: %s", rf_res(-e));
		return -1;
	}
	pthread_join(th, NULL);
	if (a.ret)
		rf_diag("in the thread: the steps above failed");
	return a.ret ? -1 : 0;
}

static int rf_no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
		return 0;
	rf_diag("prctl(PR_SET_NO_NEW_PRIVS): %s", rf_res(-errno));
	return -1;
}

static int rf_drop_privileges(void)
{
	if (setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0)
		return 0;
	rf_diag("dropping privileges: %s", rf_res(-errno));
	return -1;
}

/* user_namespace: a new user namespace (the case's process is single-threaded: it was forked for the case) */
static int rf_user_namespace(void)
{
	if (unshare(CLONE_NEWUSER) == 0)
		return 0;
	rf_diag("unshare(CLONE_NEWUSER): %s", rf_res(-errno));
	return -1;
}

/* ---- probing the kernel once, before any case ---- */

static void rf_probe(void)
{
	struct rf_ring r;
	memset(&r, 0, sizeof(r));
	r.fd = -1;
	rf_facts.root = geteuid() == 0;
	rf_facts.opcode_last = 0;
	if (rf_setup(&r, 4, 0) < 0)
		return;
	size_t len = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
	struct io_uring_probe *p = calloc(1, len);
	if (rf_sys_register(r.fd, IORING_REGISTER_PROBE, p, 256) == 0)
		rf_facts.opcode_last = p->last_op + 1u;
	free(p);
	static const struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, 1) };
	for (unsigned op = 0; op < rf_facts.opcode_last && op < 256; op++) {
		struct io_uring_bpf arg = { .cmd_type = IO_URING_BPF_CMD_FILTER,
					    .filter = { .opcode = op, .filter_len = 1, .filter_ptr = (uint64_t)(uintptr_t)allow } };
		if (rf_sys_register(r.fd, IORING_REGISTER_BPF_FILTER, &arg, 1) != 0)
			break;
		rf_facts.bpf_filter = 1;
		rf_facts.ctx_size[op] = arg.filter.pdu_size;
	}
	rf_ring_close(&r);
}

/* ---- the table of cases and the KTAP driver ---- */

enum rf_req_kind { RF_REQ_NONE, RF_REQ_ROOT, RF_REQ_OPCODE, RF_REQ_CONTEXT, RF_REQ_EXHAUSTIVE, RF_REQ_BYTE_ORDER };
struct rf_req { enum rf_req_kind kind; unsigned op; const char *name; };

struct rf_case {
	const char *id;
	int (*fn)(struct rf_ctx *);
	int timeout_ms;
	struct rf_req reqs[8];
};

static int rf_exhaustive;

/* NULL when the case can run here, or the SKIP reason (the Swift runner's words). */
static const char *rf_unmet(const struct rf_case *t)
{
	static char buf[320];
	if (!rf_facts.bpf_filter)
		return "kernel lacks IORING_REGISTER_BPF_FILTER";
	for (int i = 0; i < 8 && t->reqs[i].kind != RF_REQ_NONE; i++) {
		const struct rf_req *q = &t->reqs[i];
		switch (q->kind) {
		case RF_REQ_ROOT:
			if (!rf_facts.root)
				return "needs root (CAP_SYS_ADMIN)";
			break;
		case RF_REQ_OPCODE:
			if (q->op >= rf_facts.opcode_last) {
				snprintf(buf, sizeof(buf), "kernel lacks opcode %s (IORING_OP_LAST is %u)", q->name, rf_facts.opcode_last);
				return buf;
			}
			break;
		case RF_REQ_CONTEXT:
			if (q->op >= 256 || rf_facts.ctx_size[q->op] == 0) {
				snprintf(buf, sizeof(buf), "kernel gives %s no filter context", q->name);
				return buf;
			}
			break;
		case RF_REQ_BYTE_ORDER:
			/* op: 1 the case holds on big-endian machines only, 0 little-endian; name: the case's reason */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			if (q->op == 0) {
#else
			if (q->op == 1) {
#endif
				snprintf(buf, sizeof(buf), "the case holds on %s-endian machines only (byte_order: %s)", q->op ? "big" : "little", q->name);
				return buf;
			}
			break;
		case RF_REQ_EXHAUSTIVE:
			if (!rf_exhaustive)
				return "exhaustive tier: run with -e";
			break;
		default:
			break;
		}
	}
	return NULL;
}

/* Fork, run, kill after the timeout. KSFT_PASS or KSFT_FAIL (a timeout is a failure). */
static int rf_run_case(const struct rf_case *t)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		rf_diag("fork: %s", rf_res(-errno));
		return KSFT_FAIL;
	}
	if (pid == 0) {
		setpgid(0, 0);
		struct rf_ctx c;
		rf_ctx_init(&c);
		int r = t->fn(&c);
		fflush(stdout);
		_exit(r ? KSFT_FAIL : KSFT_PASS);
	}
	setpgid(pid, pid);
	uint64_t deadline = rf_now_ms() + (uint64_t)t->timeout_ms;
	int st;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (rf_now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			rf_diag("timeout: killed after %d seconds", t->timeout_ms / 1000);
			return KSFT_FAIL;
		}
		usleep(1000);
	}
	while (waitpid(-pid, NULL, WNOHANG) > 0)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == KSFT_PASS)
		return KSFT_PASS;
	if (WIFSIGNALED(st))
		rf_diag("the case's process died of signal %d", WTERMSIG(st));
	return KSFT_FAIL;
}

/* As PID 1 (the only file of an initramfs): a console, /proc, /tmp; power off at the end. */
static void rf_init_setup(void)
{
	if (fcntl(1, F_GETFD) < 0) {
		mkdir("/dev", 0755);
		mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
		int fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	mkdir("/proc", 0555);
	mount("proc", "/proc", "proc", 0, NULL);
	mkdir("/tmp", 01777);
	mkdir("/dev", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
}

/* A marker in the kernel's log, so the host attributes a WARN to the case that ran (KernelLogMarkers). */
static void rf_kmsg(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + 3, sizeof(buf) - 3, fmt, ap);
	va_end(ap);
	memcpy(buf, "<4>", 3);
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n + 3) < 0)
		(void)0;
	close(fd);
}

static double rf_uptime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int rf_main(int argc, char **argv, const struct rf_case *cases, unsigned ncases)
{
	int pid1 = getpid() == 1;
	if (pid1) {
		rf_init_setup();
		printf("# ringfence: init at %.2f s\n", rf_uptime());
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-e"))
			rf_exhaustive = 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	double start = rf_uptime();
	rf_probe();
	printf("KTAP version 1\n1..%u\n", ncases);
	printf("# io_uring BPF filter cases (ringfence export --kselftest); IORING_OP_LAST %u, filters %s\n",
	       rf_facts.opcode_last, rf_facts.bpf_filter ? "yes" : "no");
	unsigned pass = 0, fail = 0, skip = 0;
	for (unsigned i = 0; i < ncases; i++) {
		const char *why = rf_unmet(&cases[i]);
		if (why) {
			printf("ok %u %s # SKIP %s\n", i + 1, cases[i].id, why);
			skip++;
			continue;
		}
		printf("# running: %u %s\n", i + 1, cases[i].id);
		rf_kmsg("ringfence: begin %u %s", i + 1, cases[i].id);
		int r = rf_run_case(&cases[i]);
		rf_kmsg("ringfence: end %u", i + 1);
		if (r == KSFT_PASS) {
			printf("ok %u %s\n", i + 1, cases[i].id);
			pass++;
		} else {
			printf("not ok %u %s\n", i + 1, cases[i].id);
			fail++;
		}
	}
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n", pass, fail, skip);
	int code = fail ? KSFT_FAIL : (pass == 0 ? KSFT_SKIP : KSFT_PASS);
	printf("# ringfence: suite took %.2f s\n", rf_uptime() - start);
	printf("# ringfence-exit: %d\n", code);
	fflush(stdout);
	if (pid1) {
		sync();
		reboot(RB_POWER_OFF);
	}
	return code;
}

#endif
"""#

    static let uapiHeader = #"""
/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * io_uring_bpf_filter.h: the io_uring BPF filter ABI, for building against
 * UAPI headers older than Linux 7.0 (written by `ringfence export --kselftest`).
 *
 * With headers that have <linux/io_uring/bpf_filter.h> (7.0 and later) this
 * includes them. Otherwise the definitions below are copied from Linux 7.3:
 * include/uapi/linux/io_uring/bpf_filter.h (struct io_uring_bpf_ctx,
 * io_uring_bpf_filter, io_uring_bpf, the IO_URING_BPF_* enums) and
 * include/uapi/linux/io_uring.h (IORING_REGISTER_BPF_FILTER = 37,
 * IORING_REGISTER_USE_REGISTERED_RING, struct io_uring_task_restriction).
 */
#ifndef RINGFENCE_IO_URING_BPF_FILTER_H
#define RINGFENCE_IO_URING_BPF_FILTER_H

#include <linux/types.h>
#include <linux/io_uring.h>

#if defined(__has_include) && __has_include(<linux/io_uring/bpf_filter.h>)
#include <linux/io_uring/bpf_filter.h>
#else

struct io_uring_bpf_ctx {
	__u64	user_data;
	__u8	opcode;
	__u8	sqe_flags;
	__u8	pdu_size;	/* size of aux data for filter */
	__u8	pad[5];
	union {
		struct {
			__u32	family;
			__u32	type;
			__u32	protocol;
		} socket;
		struct {
			__u64	flags;
			__u64	mode;
			__u64	resolve;
		} open;
		struct {
			__u32	family;	/* sa_family_t zero-extended */
			__be16	port;
			__u8	pad[2];
			union {
				__be32	v4_addr;
				__u8	v6_addr[16];
			};
		} connect;
	};
};

enum {
	IO_URING_BPF_FILTER_DENY_REST	= 1,
	IO_URING_BPF_FILTER_SZ_STRICT	= 2,
};

struct io_uring_bpf_filter {
	__u32	opcode;		/* io_uring opcode to filter */
	__u32	flags;
	__u32	filter_len;	/* number of BPF instructions */
	__u8	pdu_size;	/* expected pdu size for opcode */
	__u8	resv[3];
	__u64	filter_ptr;	/* pointer to BPF filter */
	__u64	resv2[5];
};

enum {
	IO_URING_BPF_CMD_FILTER	= 1,
};

struct io_uring_bpf {
	__u16	cmd_type;	/* IO_URING_BPF_* values */
	__u16	cmd_flags;	/* none so far */
	__u32	resv;
	union {
		struct io_uring_bpf_filter	filter;
	};
};

#define IORING_REGISTER_BPF_FILTER 37

struct io_uring_task_restriction {
	__u16 flags;
	__u16 nr_res;
	__u32 resv[3];
	struct io_uring_restriction restrictions[];
};

#endif /* no <linux/io_uring/bpf_filter.h> */

#ifndef IORING_REGISTER_USE_REGISTERED_RING
#define IORING_REGISTER_USE_REGISTERED_RING (1U << 31)
#endif
#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)
#endif

#endif
"""#
}
