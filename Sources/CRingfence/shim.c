#define _GNU_SOURCE
#include "cringfence.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sched.h>

#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

long rf_io_uring_register(int fd, unsigned int opcode, const void *arg, unsigned int nr_args)
{
	long ret = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
	return ret < 0 ? -errno : ret;
}

long rf_io_uring_setup(unsigned int entries, void *params)
{
	long ret = syscall(__NR_io_uring_setup, entries, params);
	return ret < 0 ? -errno : ret;
}

const char *rf_errno_name(int err)
{
	return strerrorname_np(err);
}

pid_t rf_fork(void) { return fork(); }

int rf_fail_nth_open(void)
{
	int fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int rf_fail_nth_set(int fd, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);
	return pwrite(fd, buf, len, 0) == len ? 0 : -errno;
}

long rf_fail_nth_get(int fd)
{
	char buf[16] = { 0 };
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	return n <= 0 ? -errno : strtol(buf, NULL, 10);
}

pid_t rf_fork_nth(int fd, unsigned int n, int *injected)
{
	pid_t pid;
	int err;

	if (rf_fail_nth_set(fd, n))
		return -errno;
	pid = fork();
	if (pid == 0)
		return 0;	/* the child starts with fail_nth 0 (dup_task_struct) */
	err = errno;
	*injected = rf_fail_nth_get(fd) == 0;
	rf_fail_nth_set(fd, 0);
	errno = err;
	return pid;
}

int rf_set_no_new_privs(void)
{
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? -errno : 0;
}

int rf_get_no_new_privs(void)
{
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
}

int rf_drop_privileges(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		return -errno;
	return 0;
}

int rf_unshare_user(void)
{
	return unshare(CLONE_NEWUSER) ? -errno : 0;
}

int rf_set_cloexec(int fd, int on)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return -errno;
	fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
	return fcntl(fd, F_SETFD, fl) ? -errno : 0;
}

int rf_memfd_with(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, 0);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			return -e;
		}
		off += (size_t)n;
	}
	return fd;
}

int rf_send_fd(int sock, int fd, const void *data, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	memset(cbuf, 0, sizeof(cbuf));
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) < 0 ? -errno : 0;
}

long rf_recv_fd(int sock, void *data, size_t len, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	*fd = -1;
	ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

int rf_pidfd_getfd(pid_t pid, int fd)
{
	long pidfd = syscall(434 /* __NR_pidfd_open */, pid, 0);
	if (pidfd < 0)
		return -errno;
	long ret = syscall(438 /* __NR_pidfd_getfd */, (int)pidfd, fd, 0);
	int e = errno;
	close((int)pidfd);
	return ret < 0 ? -e : (int)ret;
}

int rf_setpgid_self(void) { return setpgid(0, 0) ? -errno : 0; }

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* A PROT_NONE page kept for the life of the process: any access faults, and
   unlike an munmap()ed page no later mmap() can land on it. */
void *rf_unmapped_address(void)
{
	static void *guard;
	if (!guard) {
		guard = mmap(NULL, page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (guard == MAP_FAILED)
			guard = NULL;
	}
	return guard;
}

void *rf_map_pages(size_t pages, int readonly)
{
	void *p = mmap(NULL, pages * page_size(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (readonly)
		mprotect(p, pages * page_size(), PROT_READ);
	return p;
}

void *rf_tail_of_mapping(size_t n)
{
	size_t ps = page_size();
	if (n > ps)
		return NULL;
	char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	mprotect(p + ps, ps, PROT_NONE);   /* guard page, see rf_unmapped_address() */
	return p + ps - n;
}

int rf_protect_readonly(void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr & ~(page_size() - 1);
	return mprotect((void *)start, (uintptr_t)addr + len - start, PROT_READ) ? -errno : 0;
}

uint64_t rf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int rf_is_pid1;

void rf_power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
}

/* The static Swift runtime reads /proc/self/exe before main() to find itself;
   as PID 1 in the guest nothing has mounted /proc yet, so do it here, before
   any Swift code runs (priority 101: ahead of the runtime's own constructors). */
__attribute__((constructor(101))) static void rf_pid1_bootstrap(void)
{
	if (getpid() != 1)
		return;
	rf_is_pid1 = 1;
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
	/* gcov counters (ringfence.gcov=1); fails harmlessly without debugfs */
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
}

/* ---- host side: signals and child processes (ringfence vm) ---- */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

static volatile sig_atomic_t rf_signal_seen;

static void rf_on_signal(int sig)
{
	if (!rf_signal_seen)
		rf_signal_seen = sig;
}

void rf_trap_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rf_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int rf_caught_signal(void)
{
	return rf_signal_seen;
}

/*
 * Starts argv[0] (searched in PATH) in its own process group, stdin from
 * /dev/null, stdout/stderr appended to the given files. fork + exec rather
 * than posix_spawn so that the child can ask for PR_SET_PDEATHSIG: when the
 * host process dies, even by SIGKILL, the kernel kills QEMU (or any other
 * child) instead of leaving it running under PID 1. The host spawns from its
 * main thread, whose exit is the process's exit. Returns the pid or -errno
 * (an exec failure is reported through a close-on-exec pipe).
 */
pid_t rf_spawn(char *const argv[], const char *out_path, const char *err_path)
{
	pid_t parent = getpid(), pid;
	int pfd[2], err = 0;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -err;
	}
	if (pid == 0) {
		static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
		sigset_t none;
		int fd;
		unsigned i;

		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0 && getppid() != parent)
			_exit(127);	/* the parent died before the prctl */
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != 0) { dup2(fd, 0); close(fd); }
		if (out_path && (fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0 && fd != 1) { dup2(fd, 1); close(fd); }
		if (err_path && (fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0 && fd != 2) { dup2(fd, 2); close(fd); }
		execvp(argv[0], argv);
		err = errno;
		if (write(pfd[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	setpgid(pid, pid);	/* either side may win; both ask for the same group */
	close(pfd[1]);
	do
		n = read(pfd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(err)) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		return -err;
	}
	return pid;
}

pid_t rf_try_wait(pid_t pid, int *status)
{
	pid_t r = waitpid(pid, status, WNOHANG);
	return r < 0 ? -errno : r;
}

int rf_wait_blocking(pid_t pid, int *status)
{
	pid_t r;
	do
		r = waitpid(pid, status, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

void rf_kill_group(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	kill(-pid, sig);
	kill(pid, sig);
}

int rf_wifexited(int status) { return WIFEXITED(status); }
int rf_wexitstatus(int status) { return WEXITSTATUS(status); }
int rf_wtermsig(int status) { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }

int rf_finit_module(int fd, const char *params, int flags)
{
	long r = syscall(SYS_finit_module, fd, params, flags);
	return r < 0 ? -errno : 0;
}
