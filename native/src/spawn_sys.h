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

/* ---- isolation: namespaces, mounts, network, capabilities ---- */
static inline long fl_setns(int fd, long nstype) { return FL_SYS2(__NR_setns, fd, nstype); }
static inline long fl_mount(const char *src, const char *target, const char *fstype, unsigned long flags,
                            const char *data)
{
    return FL_SYS5(__NR_mount, src, target, fstype, flags, data);
}
static inline long fl_mkdirat(int dirfd, const char *path, int mode) { return FL_SYS3(__NR_mkdirat, dirfd, path, mode); }
static inline long fl_mknodat(int dirfd, const char *path, int mode, long dev)
{
    return FL_SYS4(__NR_mknodat, dirfd, path, mode, dev);
}
static inline long fl_symlinkat(const char *target, int dirfd, const char *path)
{
    return FL_SYS3(__NR_symlinkat, target, dirfd, path);
}
static inline long fl_sethostname(const char *name, long len) { return FL_SYS2(__NR_sethostname, name, len); }
static inline long fl_setdomainname(const char *name, long len) { return FL_SYS2(__NR_setdomainname, name, len); }
static inline long fl_socket(int domain, int type, int protocol) { return FL_SYS3(__NR_socket, domain, type, protocol); }
static inline long fl_open_tree(int dirfd, const char *path, unsigned flags)
{
    return FL_SYS3(__NR_open_tree, dirfd, path, flags);
}
static inline long fl_move_mount(int from_dirfd, const char *from, int to_dirfd, const char *to, unsigned flags)
{
    return FL_SYS5(__NR_move_mount, from_dirfd, from, to_dirfd, to, flags);
}
/* struct mount_attr (include/uapi/linux/mount.h, MOUNT_ATTR_SIZE_VER0 = 32) */
struct fl_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};
static inline long fl_mount_setattr(int dirfd, const char *path, unsigned flags, struct fl_mount_attr *attr)
{
    return FL_SYS5(__NR_mount_setattr, dirfd, path, flags, attr, sizeof *attr);
}
/* capset(2) with _LINUX_CAPABILITY_VERSION_3: a header and two 32-bit words per set */
struct fl_cap_header {
    uint32_t version;
    int32_t pid;
};
struct fl_cap_data {
    uint32_t effective;
    uint32_t permitted;
    uint32_t inheritable;
};
static inline long fl_capset(struct fl_cap_header *h, const struct fl_cap_data *d) { return FL_SYS2(__NR_capset, h, d); }

#define FL_AF_INET 2
#define FL_SOCK_DGRAM 2
#define FL_SOCK_CLOEXEC 02000000
#define FL_SIOCGIFFLAGS 0x8913
#define FL_SIOCSIFFLAGS 0x8914
#define FL_IFF_UP 0x1
/* struct ifreq: a 16-byte name, then a 24-byte union whose first member (ifr_flags) is a short */
struct fl_ifreq {
    char name[16];
    int16_t flags;
    char pad[22];
};
_Static_assert(sizeof(struct fl_ifreq) == 40, "struct ifreq is 40 bytes on x86-64");
#define FL_OPEN_TREE_CLONE 1
#define FL_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define FL_AT_RECURSIVE 0x8000
#define FL_AT_EMPTY_PATH 0x1000
#define FL_S_IFREG 0100000
#define FL_PR_CAP_AMBIENT 47
#define FL_PR_CAP_AMBIENT_RAISE 2
#define FL_PR_CAP_AMBIENT_CLEAR_ALL 4
#define FL_PR_CAPBSET_DROP 24
#define FL_PR_SET_KEEPCAPS 8

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
