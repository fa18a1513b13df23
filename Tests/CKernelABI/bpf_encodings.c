#define _GNU_SOURCE
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/io_uring.h>
#include "bpf_encodings.h"
#include "io_uring_bpf_filter_7_3.h"

#define CTX_OFF(f) offsetof(struct io_uring_bpf_ctx, f)
#define CTX_WORD(f) (CTX_OFF(f) & ~3u)
#define CTX_SHIFT(f) ((CTX_OFF(f) & 3u) * 8)
#define CTX_MASK(f) ((unsigned int)((1ull << (8 * sizeof(((struct io_uring_bpf_ctx *)0)->f))) - 1))

#define LDABS (BPF_LD | BPF_W | BPF_ABS)
#define AD(x) ((unsigned int)(SKF_AD_OFF + (x)))

/* Built at run time: BPF_STMT/BPF_JUMP are initializer macros, used here on
   each entry so the encodings come from the kernel's own definitions. */
static struct kbpf_encoding table[256];
static size_t count;

static void add(const char *text, struct sock_filter f)
{
	table[count++] = (struct kbpf_encoding){ text, f.code, f.jt, f.jf, f.k };
}

#define ST(text, code, k) do { struct sock_filter f = BPF_STMT(code, k); add(text, f); } while (0)
#define JP(text, code, k, jt, jf) do { struct sock_filter f = BPF_JUMP(code, k, jt, jf); add(text, f); } while (0)

static void build(void)
{
	/* Loads into A. */
	ST("ld #42", BPF_LD | BPF_W | BPF_IMM, 42);
	ST("ldi #42", BPF_LD | BPF_IMM, 42);
	ST("ldi 42", BPF_LD | BPF_IMM, 42);
	ST("ld #len", BPF_LD | BPF_W | BPF_LEN, 0);
	ST("ld len", BPF_LD | BPF_W | BPF_LEN, 0);
	ST("ld M[3]", BPF_LD | BPF_MEM, 3);
	ST("ld [8]", LDABS, 8);
	ST("ld [3]", LDABS, 3);
	ST("ld [x + 4]", BPF_LD | BPF_W | BPF_IND, 4);
	ST("ld [%x+4]", BPF_LD | BPF_W | BPF_IND, 4);
	ST("ldh [12]", BPF_LD | BPF_H | BPF_ABS, 12);
	ST("ldh [x + 2]", BPF_LD | BPF_H | BPF_IND, 2);
	ST("ldb [23]", BPF_LD | BPF_B | BPF_ABS, 23);
	ST("ldb [x + 1]", BPF_LD | BPF_B | BPF_IND, 1);
	ST("ld proto", LDABS, AD(SKF_AD_PROTOCOL));
	ST("ld #rand", LDABS, AD(SKF_AD_RANDOM));
	ST("ld vlan_avail", LDABS, AD(SKF_AD_VLAN_TAG_PRESENT));
	ST("ldh type", BPF_LD | BPF_H | BPF_ABS, AD(SKF_AD_PKTTYPE));
	ST("ldb cpu", BPF_LD | BPF_B | BPF_ABS, AD(SKF_AD_CPU));
	/* Loads into X. */
	ST("ldx #7", BPF_LDX | BPF_W | BPF_IMM, 7);
	ST("ldxi #7", BPF_LDX | BPF_IMM, 7);
	ST("ldx #len", BPF_LDX | BPF_W | BPF_LEN, 0);
	ST("ldx M[15]", BPF_LDX | BPF_MEM, 15);
	ST("ldx 4*([14]&0xf)", BPF_LDX | BPF_B | BPF_MSH, 14);
	ST("ldxb 4*([14]&0xf)", BPF_LDX | BPF_B | BPF_MSH, 14);
	/* Stores. */
	ST("st M[0]", BPF_ST, 0);
	ST("stx M[15]", BPF_STX, 15);
	ST("st M[16]", BPF_ST, 16);
	/* Jumps. */
	ST("ja +3", BPF_JMP | BPF_JA, 3);
	ST("jmp +0", BPF_JMP | BPF_JA, 0);
	JP("jeq #1, +2, +3", BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 3);
	JP("jeq #1, +2", BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 0);
	JP("jeq x, +1, +2", BPF_JMP | BPF_JEQ | BPF_X, 0, 1, 2);
	JP("jeq %x, +1", BPF_JMP | BPF_JEQ | BPF_X, 0, 1, 0);
	JP("jgt #9, +0, +255", BPF_JMP | BPF_JGT | BPF_K, 9, 0, 255);
	JP("jgt x, +4", BPF_JMP | BPF_JGT | BPF_X, 0, 4, 0);
	JP("jge #0xffffffff, +1, +1", BPF_JMP | BPF_JGE | BPF_K, 0xffffffff, 1, 1);
	JP("jge x, +2, +1", BPF_JMP | BPF_JGE | BPF_X, 0, 2, 1);
	JP("jset #0x40, +1, +0", BPF_JMP | BPF_JSET | BPF_K, 0x40, 1, 0);
	JP("jset x, +7", BPF_JMP | BPF_JSET | BPF_X, 0, 7, 0);
	/* bpf_asm's negated pseudo-ops: the target becomes jf. */
	JP("jne #5, +2", BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 2);
	JP("jneq x, +4", BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 4);
	JP("jne #5, +1, +2", BPF_JMP | BPF_JEQ | BPF_K, 5, 2, 1);
	JP("jlt #5, +2", BPF_JMP | BPF_JGE | BPF_K, 5, 0, 2);
	JP("jlt x, +2, +3", BPF_JMP | BPF_JGE | BPF_X, 0, 3, 2);
	JP("jle x, +3", BPF_JMP | BPF_JGT | BPF_X, 0, 0, 3);
	JP("jle #8, +1, +0", BPF_JMP | BPF_JGT | BPF_K, 8, 0, 1);
	/* ALU. */
	ST("add #1", BPF_ALU | BPF_ADD | BPF_K, 1);
	ST("add x", BPF_ALU | BPF_ADD | BPF_X, 0);
	ST("sub #2", BPF_ALU | BPF_SUB | BPF_K, 2);
	ST("sub %x", BPF_ALU | BPF_SUB | BPF_X, 0);
	ST("mul #3", BPF_ALU | BPF_MUL | BPF_K, 3);
	ST("mul x", BPF_ALU | BPF_MUL | BPF_X, 0);
	ST("div #0", BPF_ALU | BPF_DIV | BPF_K, 0);
	ST("div x", BPF_ALU | BPF_DIV | BPF_X, 0);
	ST("mod #3", BPF_ALU | BPF_MOD | BPF_K, 3);
	ST("mod x", BPF_ALU | BPF_MOD | BPF_X, 0);
	ST("and #0xff", BPF_ALU | BPF_AND | BPF_K, 0xff);
	ST("and x", BPF_ALU | BPF_AND | BPF_X, 0);
	ST("or #0b1010", BPF_ALU | BPF_OR | BPF_K, 10);
	ST("or x", BPF_ALU | BPF_OR | BPF_X, 0);
	ST("xor #0o17", BPF_ALU | BPF_XOR | BPF_K, 017);
	ST("xor x", BPF_ALU | BPF_XOR | BPF_X, 0);
	ST("lsh #8", BPF_ALU | BPF_LSH | BPF_K, 8);
	ST("lsh x", BPF_ALU | BPF_LSH | BPF_X, 0);
	ST("rsh #16", BPF_ALU | BPF_RSH | BPF_K, 16);
	ST("rsh x", BPF_ALU | BPF_RSH | BPF_X, 0);
	ST("neg", BPF_ALU | BPF_NEG, 0);
	/* Misc and return. */
	ST("tax", BPF_MISC | BPF_TAX, 0);
	ST("txa", BPF_MISC | BPF_TXA, 0);
	ST("ret #1", BPF_RET | BPF_K, 1);
	ST("ret #0", BPF_RET | BPF_K, 0);
	ST("ret #-1", BPF_RET | BPF_K, 0xffffffff);
	ST("ret a", BPF_RET | BPF_A, 0);
	ST("ret %a", BPF_RET | BPF_A, 0);
	ST("ret x", BPF_RET | BPF_X, 0);
	ST("RET #1", BPF_RET | BPF_K, 1);
	/* Symbolic constants and helpers. */
	ST("ld #AF_INET6", BPF_LD | BPF_IMM, AF_INET6);
	ST("ld #O_TMPFILE", BPF_LD | BPF_IMM, O_TMPFILE);
	JP("jset #O_CREAT|O_EXCL, +1", BPF_JMP | BPF_JSET | BPF_K, O_CREAT | O_EXCL, 1, 0);
	JP("jeq #SOCK_STREAM|SOCK_CLOEXEC, +1", BPF_JMP | BPF_JEQ | BPF_K, SOCK_STREAM | SOCK_CLOEXEC, 1, 0);
	JP("jset #RESOLVE_BENEATH|RESOLVE_IN_ROOT, +0, +1", BPF_JMP | BPF_JSET | BPF_K, RESOLVE_BENEATH | RESOLVE_IN_ROOT, 0, 1);
	JP("jset #IOSQE_ASYNC, +1", BPF_JMP | BPF_JSET | BPF_K, IOSQE_ASYNC, 1, 0);
	JP("jeq #IORING_OP_OPENAT2, +1", BPF_JMP | BPF_JEQ | BPF_K, IORING_OP_OPENAT2, 1, 0);
	JP("jeq #htons(80), +1", BPF_JMP | BPF_JEQ | BPF_K, kbpf_htons(80), 1, 0);
	JP("jeq #ipv4(127.0.0.1), +1", BPF_JMP | BPF_JEQ | BPF_K, kbpf_ipv4("127.0.0.1"), 1, 0);
	/* Context fields: an aligned word load, then shift and mask. */
	ST("ld [user_data.lo]", LDABS, CTX_OFF(user_data));
	ST("ld [user_data.hi]", LDABS, CTX_OFF(user_data) + 4);
	ST("ld [opcode]", LDABS, CTX_WORD(opcode));
	ST(NULL, BPF_ALU | BPF_AND | BPF_K, CTX_MASK(opcode));
	ST("ld [sqe_flags]", LDABS, CTX_WORD(sqe_flags));
	ST(NULL, BPF_ALU | BPF_RSH | BPF_K, CTX_SHIFT(sqe_flags));
	ST(NULL, BPF_ALU | BPF_AND | BPF_K, CTX_MASK(sqe_flags));
	ST("ld [pdu_size]", LDABS, CTX_WORD(pdu_size));
	ST(NULL, BPF_ALU | BPF_RSH | BPF_K, CTX_SHIFT(pdu_size));
	ST(NULL, BPF_ALU | BPF_AND | BPF_K, CTX_MASK(pdu_size));
	ST("ld [socket.family]", LDABS, CTX_OFF(socket.family));
	ST("ld [socket.type]", LDABS, CTX_OFF(socket.type));
	ST("ld [socket.protocol]", LDABS, CTX_OFF(socket.protocol));
	ST("ld [open.flags]", LDABS, CTX_OFF(open.flags));
	ST("ld [open.flags.hi]", LDABS, CTX_OFF(open.flags) + 4);
	ST("ld [open.mode]", LDABS, CTX_OFF(open.mode));
	ST("ld [open.mode.hi]", LDABS, CTX_OFF(open.mode) + 4);
	ST("ld [open.resolve]", LDABS, CTX_OFF(open.resolve));
	ST("ld [open.resolve.hi]", LDABS, CTX_OFF(open.resolve) + 4);
	ST("ld [connect.family]", LDABS, CTX_OFF(connect.family));
	ST("ld [connect.port]", LDABS, CTX_WORD(connect.port));
	ST(NULL, BPF_ALU | BPF_AND | BPF_K, CTX_MASK(connect.port));
	ST("ld [connect.v4_addr]", LDABS, CTX_OFF(connect.v4_addr));
	ST("ld [connect.v6_addr.0]", LDABS, CTX_OFF(connect.v6_addr));
	ST("ld [connect.v6_addr.1]", LDABS, CTX_OFF(connect.v6_addr) + 4);
	ST("ld [connect.v6_addr.2]", LDABS, CTX_OFF(connect.v6_addr) + 8);
	ST("ld [connect.v6_addr.3]", LDABS, CTX_OFF(connect.v6_addr) + 12);
	/* Raw instructions, as bpf_asm -c prints them. */
	ST("{ 0x06, 0, 0, 1 }", BPF_RET | BPF_K, 1);
	JP("{ 0x15,  1,  2, 0x00000007 },", BPF_JMP | BPF_JEQ | BPF_K, 7, 1, 2);
	JP("{ 0xffff, 255, 255, 0xffffffff }", 0xffff, 0xffffffff, 255, 255);
}

const struct kbpf_encoding *kbpf_encodings(size_t *n)
{
	if (!count)
		build();
	*n = count;
	return table;
}

#define K(name) { #name, name }
static const struct { const char *name; long long value; } constants[] = {
	K(AF_UNIX), K(AF_INET), K(AF_INET6), K(AF_NETLINK), K(AF_PACKET),
	K(SOCK_STREAM), K(SOCK_DGRAM), K(SOCK_RAW), K(SOCK_SEQPACKET), K(SOCK_NONBLOCK), K(SOCK_CLOEXEC),
	K(O_RDONLY), K(O_WRONLY), K(O_RDWR), K(O_CREAT), K(O_EXCL), K(O_TRUNC), K(O_APPEND),
	K(O_NONBLOCK), K(O_DIRECTORY), K(O_NOFOLLOW), K(O_CLOEXEC), K(O_PATH), K(O_TMPFILE),
	K(RESOLVE_NO_XDEV), K(RESOLVE_NO_MAGICLINKS), K(RESOLVE_NO_SYMLINKS), K(RESOLVE_BENEATH),
	K(RESOLVE_IN_ROOT), K(RESOLVE_CACHED),
	K(IOSQE_FIXED_FILE), K(IOSQE_IO_DRAIN), K(IOSQE_IO_LINK), K(IOSQE_IO_HARDLINK), K(IOSQE_ASYNC),
	K(IOSQE_BUFFER_SELECT), K(IOSQE_CQE_SKIP_SUCCESS),
	/* The installed (older) io_uring.h: every opcode it knows must agree. */
	K(IORING_OP_NOP), K(IORING_OP_READV), K(IORING_OP_CONNECT), K(IORING_OP_OPENAT),
	K(IORING_OP_CLOSE), K(IORING_OP_OPENAT2), K(IORING_OP_SOCKET), K(IORING_OP_URING_CMD),
	K(IORING_OP_SEND_ZC), K(IORING_OP_SENDMSG_ZC),
};

long long kbpf_constant(const char *name)
{
	for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++)
		if (!strcmp(constants[i].name, name))
			return constants[i].value;
	return -1;
}

unsigned int kbpf_htons(unsigned short port)
{
	return htons(port);
}

unsigned int kbpf_ipv4(const char *dotted)
{
	return inet_addr(dotted);
}

void kbpf_sock_filter_bytes(unsigned short code, unsigned char jt, unsigned char jf,
			    unsigned int k, unsigned char out[8])
{
	struct sock_filter f = BPF_JUMP(code, k, jt, jf);
	_Static_assert(sizeof(f) == 8, "struct sock_filter is 8 bytes");
	memcpy(out, &f, sizeof(f));
}
