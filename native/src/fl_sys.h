/*
 * fl_sys.h: the raw system call layer of the native stage.
 *
 * Every kernel call the library makes goes through fl_syscall6 below: one `syscall` instruction, the result
 * returned as the kernel gives it (>= 0, or -errno). No libc wrapper is used, on purpose:
 *  - after a fork from the multithreaded .NET host only async-signal-safe code may run, and several glibc
 *    wrappers are not safe there (setresuid/setgroups broadcast to the host's other threads via SIGSETXID,
 *    sigprocmask silently keeps glibc's internal signals unblocked, fork runs atfork handlers);
 *  - we fork with the raw syscall, so glibc's per-thread state in our children is the host thread's: nothing
 *    that reads it (errno, cancellation, the cached tid) may run there;
 *  - the allow-list of undefined symbols (native/allowed-symbols.txt) stays tiny and auditable.
 */
#ifndef FL_SYS_H
#define FL_SYS_H

#if !defined(__x86_64__)
#error "Forklift's native stage currently supports x86-64 only: port fl_sys.h and probe_call.c (syscall ABI, clone register order) first."
#endif

#include <stddef.h>
#include <stdint.h>

#include <asm/unistd.h>     /* __NR_* */
#include <linux/capability.h>
#include <linux/errno.h>
#include <linux/fcntl.h>    /* O_*, AT_FDCWD */
#include <linux/mman.h>     /* PROT_*, MAP_* */
#include <linux/prctl.h>    /* PR_* */
#include <linux/resource.h> /* RLIMIT_NPROC */
#include <linux/sched.h>    /* CLONE_*, SCHED_DEADLINE */
#include <linux/sched/types.h> /* struct sched_attr */
#include <linux/signal.h>   /* SIG* numbers */
#include <linux/time.h>     /* CLOCK_MONOTONIC */
#include <linux/wait.h>     /* WNOHANG, WUNTRACED, __WALL */

/* One raw system call (x86-64: rax = nr, args in rdi rsi rdx r10 r8 r9; rcx and r11 are clobbered). */
static inline long fl_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#define FL_SYS0(nr) fl_syscall6((nr), 0, 0, 0, 0, 0, 0)
#define FL_SYS1(nr, a) fl_syscall6((nr), (long)(a), 0, 0, 0, 0, 0)
#define FL_SYS2(nr, a, b) fl_syscall6((nr), (long)(a), (long)(b), 0, 0, 0, 0)
#define FL_SYS3(nr, a, b, c) fl_syscall6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define FL_SYS4(nr, a, b, c, d) fl_syscall6((nr), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define FL_SYS5(nr, a, b, c, d, e) fl_syscall6((nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* ---- kernel ABI pieces that have no uapi header of their own ---- */

/* The kernel's struct sigaction for rt_sigaction on x86-64 (arch/x86/include/uapi/asm/signal.h). */
struct fl_kernel_sigaction {
    unsigned long handler;
    unsigned long flags;
    unsigned long restorer;
    uint64_t mask;
};

#define FL_SIGSET_SIZE 8 /* the kernel's sigset_t: 64 signals */
#define FL_SIG_DFL 0UL
#define FL_SIG_BLOCK 0
#define FL_SIG_SETMASK 2
#define FL_SIG_BIT(sig) (1ULL << ((sig) - 1))

struct fl_timespec {
    int64_t tv_sec;
    int64_t tv_nsec;
};

struct fl_rlimit64 {
    uint64_t cur;
    uint64_t max;
};

/* wait status decoding (the values are the kernel's, as in <sys/wait.h>) */
#define FL_WIFEXITED(s) (((s) & 0x7f) == 0)
#define FL_WEXITSTATUS(s) (((s) >> 8) & 0xff)
#define FL_WIFSTOPPED(s) (((s) & 0xff) == 0x7f)
#define FL_WIFSIGNALED(s) (((s) & 0x7f) != 0 && ((s) & 0x7f) != 0x7f)
#define FL_WTERMSIG(s) ((s) & 0x7f)

/* ---- thin, named wrappers: each returns the raw result (>= 0, or -errno) ---- */

static inline long fl_read(int fd, void *buf, size_t len) { return FL_SYS3(__NR_read, fd, buf, len); }
static inline long fl_write(int fd, const void *buf, size_t len) { return FL_SYS3(__NR_write, fd, buf, len); }
static inline long fl_open(const char *path, int flags) { return FL_SYS4(__NR_openat, AT_FDCWD, path, flags, 0); }
static inline long fl_close(int fd) { return FL_SYS1(__NR_close, fd); }
static inline long fl_dup2(int from, int to) { return FL_SYS2(__NR_dup2, from, to); }
static inline long fl_close_range(unsigned first, unsigned last) { return FL_SYS3(__NR_close_range, first, last, 0); }
static inline long fl_rmdir(const char *path) { return FL_SYS1(__NR_rmdir, path); }
static inline long fl_chroot(const char *path) { return FL_SYS1(__NR_chroot, path); }
static inline long fl_chdir(const char *path) { return FL_SYS1(__NR_chdir, path); }

static inline long fl_mmap(size_t len, int prot, int flags)
{
    return fl_syscall6(__NR_mmap, 0, (long)len, prot, flags, -1, 0);
}
static inline long fl_munmap(void *addr, size_t len) { return FL_SYS2(__NR_munmap, addr, len); }
static inline long fl_mprotect(void *addr, size_t len, int prot) { return FL_SYS3(__NR_mprotect, addr, len, prot); }

static inline long fl_fork(void) { return FL_SYS0(__NR_fork); }
static inline long fl_getpid(void) { return FL_SYS0(__NR_getpid); }
static inline long fl_getppid(void) { return FL_SYS0(__NR_getppid); }
static inline long fl_getuid(void) { return FL_SYS0(__NR_getuid); }
static inline long fl_getgid(void) { return FL_SYS0(__NR_getgid); }
static inline long fl_wait4(long pid, int *status, int options) { return FL_SYS4(__NR_wait4, pid, status, options, 0); }
static inline long fl_kill(long pid, int sig) { return FL_SYS2(__NR_kill, pid, sig); }
static inline long fl_tgkill(long tgid, long tid, int sig) { return FL_SYS3(__NR_tgkill, tgid, tid, sig); }
static inline long fl_prctl(int option, unsigned long arg) { return FL_SYS5(__NR_prctl, option, arg, 0, 0, 0); }
static inline long fl_unshare(unsigned long flags) { return FL_SYS1(__NR_unshare, flags); }

static inline long fl_sigprocmask(int how, const uint64_t *set, uint64_t *old)
{
    return FL_SYS4(__NR_rt_sigprocmask, how, set, old, FL_SIGSET_SIZE);
}
static inline long fl_sigaction(int sig, const struct fl_kernel_sigaction *act)
{
    return FL_SYS4(__NR_rt_sigaction, sig, act, 0, FL_SIGSET_SIZE);
}
static inline long fl_sigtimedwait(const uint64_t *set, const struct fl_timespec *timeout)
{
    return FL_SYS4(__NR_rt_sigtimedwait, set, 0, timeout, FL_SIGSET_SIZE);
}
static inline long fl_nanosleep(const struct fl_timespec *t) { return FL_SYS2(__NR_nanosleep, t, 0); }

static inline int64_t fl_monotonic_ns(void)
{
    struct fl_timespec t = {0, 0};
    FL_SYS2(__NR_clock_gettime, CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline _Noreturn void fl_exit_group(int code)
{
    for (;;) FL_SYS1(__NR_exit_group, code);
}

#endif
