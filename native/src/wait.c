/*
 * wait.c: the pidfd exports: wait (waitid P_PIDFD), exit status after someone else reaped (PIDFD_GET_INFO),
 * signal (pidfd_send_signal). Each is one raw system call; the result is turned into wait(2)'s status word.
 */
#include "spawn_internal.h"

/* struct pidfd_info as of Linux 6.15 (include/uapi/linux/pidfd.h, PIDFD_INFO_SIZE_VER0 = 64): exit_code took the
   place of spare0[0]. The ioctl number encodes the size; 64 is the first published one, accepted by every kernel
   that knows PIDFD_GET_INFO (6.13+; PIDFD_INFO_EXIT from 6.15). */
struct fl_pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code; /* wait(2) status of a reaped task, valid with PIDFD_INFO_EXIT in mask */
};
_Static_assert(sizeof(struct fl_pidfd_info) == 64, "struct pidfd_info VER0 is 64 bytes");
_Static_assert(__builtin_offsetof(struct fl_pidfd_info, exit_code) == 60, "pidfd_info.exit_code is at 60");

#define FL_PIDFD_GET_INFO _IOWR(0xFF, 11, struct fl_pidfd_info)
#define FL_PIDFD_INFO_EXIT (1ULL << 3)

/* waitid's siginfo (si_code, si_status) back to the status word wait4 would have given. */
static int32_t wait_status(const struct fl_siginfo_chld *info)
{
    switch (info->code) {
    case FL_CLD_EXITED:
        return (info->status & 0xff) << 8;
    case FL_CLD_KILLED:
        return info->status & 0x7f;
    case FL_CLD_DUMPED:
        return (info->status & 0x7f) | 0x80;
    case FL_CLD_TRAPPED:
    case FL_CLD_STOPPED:
        return ((info->status & 0xff) << 8) | 0x7f;
    case FL_CLD_CONTINUED:
        return 0xffff;
    default:
        return 0;
    }
}

FL_EXPORT int fl_pidfd_wait(int pidfd, int options, int32_t *status_out, int64_t *rusage_out)
{
    struct fl_siginfo_chld info;
    int64_t usage[FL_RUSAGE_LONGS];
    info.signo = 0;
    info.pid = 0;
    long r;
    do
        r = fl_waitid(FL_P_PIDFD, pidfd, &info, options | WEXITED | __WALL, usage);
    while (r == -EINTR);
    if (r < 0)
        return (int)r;
    if (info.signo == 0) /* WNOHANG and nothing to report (the kernel writes si_signo = 0) */
        return 0;
    if (status_out)
        *status_out = wait_status(&info);
    if (rusage_out)
        for (int i = 0; i < FL_RUSAGE_LONGS; i++)
            rusage_out[i] = usage[i];
    return 1;
}

FL_EXPORT int fl_pidfd_exit_info(int pidfd, int32_t *status_out)
{
    struct fl_pidfd_info info = {.mask = FL_PIDFD_INFO_EXIT};
    long r = fl_ioctl(pidfd, FL_PIDFD_GET_INFO, &info);
    if (r == -ESRCH) /* gone, and the kernel kept no exit information for this pidfd */
        return 0;
    if (r < 0)
        return (int)r;
    if (!(info.mask & FL_PIDFD_INFO_EXIT))
        return 0;
    if (status_out)
        *status_out = info.exit_code;
    return 1;
}

FL_EXPORT int fl_pidfd_send_signal(int pidfd, int sig) { return (int)fl_pidfd_signal(pidfd, sig); }
