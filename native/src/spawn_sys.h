/*
 * spawn_sys.h: the raw system calls the spawn stage needs beyond fl_sys.h (which the probe owns). Same rules:
 * one inline `syscall` through fl_syscall6, the kernel's result returned as is (>= 0, or -errno).
 */
#ifndef FL_SPAWN_SYS_H
#define FL_SPAWN_SYS_H

#include "fl_sys.h"

#include <asm-generic/ioctls.h> /* TIOCSCTTY, TIOCSPGRP */
#include <linux/close_range.h>  /* CLOSE_RANGE_CLOEXEC */
#include <linux/ioctl.h>        /* _IOWR */

#define FL_SIG_IGN 1UL
#define FL_ALL_SIGNALS (~0ULL) /* every blockable signal (the kernel keeps SIGKILL and SIGSTOP unblockable) */
#define FL_F_GETFD 1
#define FL_F_SETFD 2
#define FL_FD_CLOEXEC 1
#define FL_F_DUPFD_CLOEXEC 1030
#define FL_RLIM_INFINITY (~0ULL)

static inline long fl_pipe2(int fds[2], int flags) { return FL_SYS2(__NR_pipe2, fds, flags); }
static inline long fl_openat(int dirfd, const char *path, int flags, int mode)
{
    return FL_SYS4(__NR_openat, dirfd, path, flags, mode);
}
static inline long fl_dup3(int from, int to, int flags) { return FL_SYS3(__NR_dup3, from, to, flags); }
static inline long fl_fcntl(int fd, int cmd, long arg) { return FL_SYS3(__NR_fcntl, fd, cmd, arg); }
static inline long fl_close_range_flags(unsigned first, unsigned last, unsigned flags)
{
    return FL_SYS3(__NR_close_range, first, last, flags);
}
static inline long fl_ioctl(int fd, unsigned long cmd, void *arg) { return FL_SYS3(__NR_ioctl, fd, cmd, arg); }
static inline long fl_fchdir(int fd) { return FL_SYS1(__NR_fchdir, fd); }
static inline long fl_umask(unsigned mask) { return FL_SYS1(__NR_umask, mask); }
static inline long fl_setsid(void) { return FL_SYS0(__NR_setsid); }
static inline long fl_setpgid(long pid, long pgid) { return FL_SYS2(__NR_setpgid, pid, pgid); }
static inline long fl_getpgid(long pid) { return FL_SYS1(__NR_getpgid, pid); }
static inline long fl_prctl5(int option, unsigned long a, unsigned long b, unsigned long c, unsigned long d)
{
    return FL_SYS5(__NR_prctl, option, a, b, c, d);
}
static inline long fl_prlimit(int resource, const struct fl_rlimit64 *set, struct fl_rlimit64 *old)
{
    return FL_SYS4(__NR_prlimit64, 0, resource, set, old);
}
static inline long fl_setgroups(long count, const void *gids) { return FL_SYS2(__NR_setgroups, count, gids); }
static inline long fl_setresgid(long gid) { return FL_SYS3(__NR_setresgid, gid, gid, gid); }
static inline long fl_setresuid(long uid) { return FL_SYS3(__NR_setresuid, uid, uid, uid); }
static inline long fl_sigaction_rw(int sig, const struct fl_kernel_sigaction *act, struct fl_kernel_sigaction *old)
{
    return FL_SYS4(__NR_rt_sigaction, sig, act, old, FL_SIGSET_SIZE);
}
static inline long fl_execve(const char *path, const char *const *argv, const char *const *envp)
{
    return FL_SYS3(__NR_execve, path, argv, envp);
}
static inline long fl_waitid(int which, long id, void *info, int options, void *rusage)
{
    return FL_SYS5(__NR_waitid, which, id, info, options, rusage);
}
static inline long fl_pidfd_signal(int pidfd, int sig) { return FL_SYS4(__NR_pidfd_send_signal, pidfd, sig, 0, 0); }

/* The kernel's siginfo as waitid fills it for SIGCHLD (x86-64: 128 bytes; _sifields start at 16). */
struct fl_siginfo_chld {
    int32_t signo;
    int32_t err;
    int32_t code;
    int32_t pad;
    int32_t pid;
    uint32_t uid;
    int32_t status;
    int32_t rest[25];
};
_Static_assert(sizeof(struct fl_siginfo_chld) == 128, "siginfo_t is 128 bytes");

#define FL_P_PIDFD 3
#define FL_CLD_EXITED 1
#define FL_CLD_KILLED 2
#define FL_CLD_DUMPED 3
#define FL_CLD_TRAPPED 4
#define FL_CLD_STOPPED 5
#define FL_CLD_CONTINUED 6

/* struct rusage: 2 timevals and 14 longs. */
#define FL_RUSAGE_LONGS 18

#endif
