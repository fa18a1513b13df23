// C side of ringfence: what Swift cannot call or declare by itself.
//  - syscall(2) is variadic, so each raw syscall gets a fixed-arity wrapper;
//  - liburing comes in through this header (its static inline
//    helpers are callable from Swift once imported here);
//  - a constructor prepares /proc when the binary is PID 1 in the VM guest.
#ifndef CRINGFENCE_H
#define CRINGFENCE_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <liburing.h>


/* io_uring_register(2) with every argument under the caller's control.
   Returns the syscall result, or -errno. */
long rf_io_uring_register(int fd, unsigned int opcode, const void *arg, unsigned int nr_args);

/* io_uring_setup(2) / io_uring_enter(2) raw, for tests that avoid liburing. */
long rf_io_uring_setup(unsigned int entries, void *params);

/* finit_module(2): the guest loads modules without libkmod. Returns 0 or -errno. */
int rf_finit_module(int fd, const char *params, int flags);

/* strerrorname_np(3): "EACCES" for 13, NULL when unknown. */
const char *rf_errno_name(int err);

/* fork(2) and friends: Swift marks some of these unavailable. */
pid_t rf_fork(void);

/*
 * Fault injection (Documentation/fault-injection/fault-injection.rst):
 * /proc/thread-self/fail-nth. rf_fail_nth_set arms the N-th fault-injectable
 * call of this thread (0 disarms); rf_fail_nth_get reads what is left
 * (0 after the fault was injected). rf_fork_nth forks with the parent's
 * N-th call failing and disarms in the parent right after fork returns.
 */
int rf_fail_nth_open(void);
int rf_fail_nth_set(int fd, unsigned int n);
long rf_fail_nth_get(int fd);
pid_t rf_fork_nth(int fd, unsigned int n, int *injected);
int rf_set_no_new_privs(void);
int rf_get_no_new_privs(void);
/* Drop to uid/gid with no capabilities left (setresgid + setgroups + setresuid). */
int rf_drop_privileges(uid_t uid, gid_t gid);
/* unshare(CLONE_NEWUSER); 0 or -errno. */
int rf_unshare_user(void);
/* Sets (on != 0) or clears FD_CLOEXEC; 0 or -errno. */
int rf_set_cloexec(int fd, int on);
/* memfd_create(name, 0) holding len bytes; the fd or -errno. */
int rf_memfd_with(const char *name, const void *data, size_t len);
/* One datagram with one fd (SCM_RIGHTS) and len bytes of data; 0 or -errno. */
int rf_send_fd(int sock, int fd, const void *data, size_t len);
/* Receives one such datagram without blocking: the bytes read (data) and *fd
   (-1 when none came with it), or -errno (-EAGAIN when nothing is queued). */
long rf_recv_fd(int sock, void *data, size_t len, int *fd);
/* pidfd_open(pid) then pidfd_getfd(pidfd, fd): a copy of another process's fd
   (close-on-exec), or -errno. */
int rf_pidfd_getfd(pid_t pid, int fd);
/* Kill the whole process group of a forked case when it times out. */
int rf_setpgid_self(void);

/* Memory with a known shape, for fault cases. All return MAP_FAILED-free
   addresses or NULL. */
void *rf_unmapped_address(void);           /* a page no access can reach (PROT_NONE guard) */
void *rf_map_pages(size_t pages, int readonly);
/* n bytes at the very end of a mapped page, followed by a PROT_NONE guard page
   (2 pages in all, starting n bytes before the page boundary minus one page). */
void *rf_tail_of_mapping(size_t n);
int rf_protect_readonly(void *addr, size_t len);

/* A monotonic clock in nanoseconds. */
uint64_t rf_now_ns(void);

/* Set when the process started as PID 1 (the VM guest's init). */
extern int rf_is_pid1;
void rf_power_off(void);


/* Host side (ringfence vm). */
/* SIGINT, SIGTERM and SIGHUP set a flag instead of killing the process, so
   every wait loop can stop QEMU and its children and exit 130/143. */
void rf_trap_signals(void);
/* The first trapped signal's number, or 0. */
int rf_caught_signal(void);
/* Starts argv[0] (PATH search) in its own process group (so a terminal's
   Ctrl-C reaches only ringfence, which stops the child itself), stdin from
   /dev/null, stdout and stderr appended to out_path/err_path (NULL: inherit).
   Returns the pid, or -errno. */
pid_t rf_spawn(char *const argv[], const char *out_path, const char *err_path);
/* waitpid(pid, WNOHANG): 0 while running, pid when done (status set), -errno. */
pid_t rf_try_wait(pid_t pid, int *status);
int rf_wait_blocking(pid_t pid, int *status);
/* Kills a spawned child's process group (and the child) with sig. */
void rf_kill_group(pid_t pid, int sig);
int rf_wifexited(int status);
int rf_wexitstatus(int status);
int rf_wtermsig(int status);
#endif
