#include <string.h>
#include <linux/types.h>
#include "ckernelabi.h"
#include "io_uring_bpf_filter_7_3.h"

/* From Linux 7.3 include/uapi/linux/io_uring.h, verbatim but for the flex array. */
struct io_uring_restriction_7_3 {
	__u16 opcode;
	union {
		__u8 register_op;
		__u8 sqe_op;
		__u8 sqe_flags;
	};
	__u8 resv;
	__u32 resv2[3];
};
struct io_uring_task_restriction_7_3 {
	__u16 flags;
	__u16 nr_res;
	__u32 resv[3];
};

#define OFF(s, f) { #s "." #f, offsetof(struct s, f) }
#define SZ(s) { "sizeof:" #s, sizeof(struct s) }

static const struct { const char *name; long value; } table[] = {
	SZ(io_uring_bpf), SZ(io_uring_bpf_filter), SZ(io_uring_bpf_ctx),
	SZ(io_uring_task_restriction_7_3), SZ(io_uring_restriction_7_3),
	OFF(io_uring_bpf, cmd_type), OFF(io_uring_bpf, cmd_flags), OFF(io_uring_bpf, resv),
	OFF(io_uring_bpf, filter),
	OFF(io_uring_bpf_filter, opcode), OFF(io_uring_bpf_filter, flags),
	OFF(io_uring_bpf_filter, filter_len), OFF(io_uring_bpf_filter, pdu_size),
	OFF(io_uring_bpf_filter, resv), OFF(io_uring_bpf_filter, filter_ptr),
	OFF(io_uring_bpf_filter, resv2),
	OFF(io_uring_bpf_ctx, user_data), OFF(io_uring_bpf_ctx, opcode),
	OFF(io_uring_bpf_ctx, sqe_flags), OFF(io_uring_bpf_ctx, pdu_size), OFF(io_uring_bpf_ctx, pad),
	OFF(io_uring_bpf_ctx, socket.family), OFF(io_uring_bpf_ctx, socket.type),
	OFF(io_uring_bpf_ctx, socket.protocol),
	OFF(io_uring_bpf_ctx, open.flags), OFF(io_uring_bpf_ctx, open.mode),
	OFF(io_uring_bpf_ctx, open.resolve),
	OFF(io_uring_bpf_ctx, connect.family), OFF(io_uring_bpf_ctx, connect.port),
	OFF(io_uring_bpf_ctx, connect.pad), OFF(io_uring_bpf_ctx, connect.v4_addr),
	OFF(io_uring_bpf_ctx, connect.v6_addr),
	{ "sizeof:socket", sizeof(((struct io_uring_bpf_ctx *)0)->socket) },
	{ "sizeof:open", sizeof(((struct io_uring_bpf_ctx *)0)->open) },
	{ "sizeof:connect", sizeof(((struct io_uring_bpf_ctx *)0)->connect) },
	OFF(io_uring_task_restriction_7_3, flags), OFF(io_uring_task_restriction_7_3, nr_res),
	OFF(io_uring_task_restriction_7_3, resv),
	OFF(io_uring_restriction_7_3, opcode), OFF(io_uring_restriction_7_3, register_op),
	OFF(io_uring_restriction_7_3, resv),
	{ "IO_URING_BPF_FILTER_DENY_REST", IO_URING_BPF_FILTER_DENY_REST },
	{ "IO_URING_BPF_FILTER_SZ_STRICT", IO_URING_BPF_FILTER_SZ_STRICT },
	{ "IO_URING_BPF_CMD_FILTER", IO_URING_BPF_CMD_FILTER },
};

long kabi_value(const char *name)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(table[i].name, name))
			return table[i].value;
	return -1;
}
