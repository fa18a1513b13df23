// Test-only: sizes and offsets computed by the C compiler from the kernel's
// own UAPI header (a verbatim copy of Linux 7.3's
// include/uapi/linux/io_uring/bpf_filter.h), to check FilterABI against.
#ifndef CKERNELABI_H
#define CKERNELABI_H
#include <stddef.h>
/* offsetof/sizeof for "struct.field" names such as "io_uring_bpf.filter" or
   "io_uring_bpf_ctx.socket.type"; "sizeof:io_uring_bpf" for sizes. -1 if unknown. */
long kabi_value(const char *name);
/* The io_uring flag bits and codes (IORING_SETUP_*, IOSQE_*, IORING_NOP_*,
   IORING_URING_CMD_*, IORING_TIMEOUT_*, IORING_FSYNC_*, O_*, RESOLVE_*,
   IORING_REGISTER_*, IORING_RESTRICTION_*) from Linux 7.3's UAPI headers:
   see flags.c. */
struct kabi_flag {
	const char *name;
	long long value;
};
const struct kabi_flag *kabi_flags(size_t *count);
/* BPF encodings and constants: see bpf_encodings.h */
#include "bpf_encodings.h"
#endif
