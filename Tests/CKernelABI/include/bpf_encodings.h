// Test-only: classic BPF encodings built by the C compiler with the kernel's
// BPF_STMT/BPF_JUMP macros, and constants from the C headers, to check the
// Swift assembler against.
#ifndef BPF_ENCODINGS_H
#define BPF_ENCODINGS_H
#include <stddef.h>

/* One expected instruction. `text` is the bpf_asm source that must assemble
   to it; a NULL text continues the previous entry's expansion
   (`ld [sqe_flags]` is three instructions). */
struct kbpf_encoding {
	const char *text;
	unsigned short code;
	unsigned char jt, jf;
	unsigned int k;
};

const struct kbpf_encoding *kbpf_encodings(size_t *count);

/* Value of a constant (AF_INET, O_TMPFILE, IOSQE_ASYNC, IORING_OP_SOCKET...)
   from the system headers; -1 if not in the table. */
long long kbpf_constant(const char *name);

/* htons(port) and inet_addr(dotted) as a native (little-endian) load sees them. */
unsigned int kbpf_htons(unsigned short port);
unsigned int kbpf_ipv4(const char *dotted);
/* The bytes of struct sock_filter { code, jt, jf, k } as this machine lays it out. */
void kbpf_sock_filter_bytes(unsigned short code, unsigned char jt, unsigned char jf,
			    unsigned int k, unsigned char out[8]);
#endif
