// Test-only: sizes and offsets computed by the C compiler from the kernel's
// own UAPI header (a verbatim copy of Linux 7.3's
// include/uapi/linux/io_uring/bpf_filter.h), to check FilterABI against.
#ifndef CKERNELABI_H
#define CKERNELABI_H
#include <stddef.h>
/* offsetof/sizeof for "struct.field" names such as "io_uring_bpf.filter" or
   "io_uring_bpf_ctx.socket.type"; "sizeof:io_uring_bpf" for sizes. -1 if unknown. */
long kabi_value(const char *name);
/* BPF encodings and constants: see bpf_encodings.h */
#include "bpf_encodings.h"
#endif
