/*
 * forklift_spawn.h: the frozen C ABI of Forklift's spawn stage.
 *
 * C# decides and allocates everything: it compiles a command into one flat plan (this header's structs, with
 * every string and array in one block of unmanaged memory that does not move). The stage clones, runs the
 * plan's steps in the child, and execs. After the clone the child runs only this C code: no allocation, no
 * locks, no libc state (raw system calls), every blockable signal blocked until the requested mask is set
 * just before execve. A failing child step reports one fixed-size fl_spawn_record and _exits(127): on the full
 * path through a close-on-exec pipe (EOF means execve succeeded); on the fast path (CLONE_VM|CLONE_VFORK) into
 * memory shared with the suspended parent, which reads it as soon as the vfork releases it, without waiting for
 * the exec to reach its close-on-exec step.
 *
 * Every export has the prefix fl_. Constants are fixed forever: add, never renumber. Layouts are checked by
 * _Static_assert here and by a C# test.
 */
#ifndef FORKLIFT_SPAWN_H
#define FORKLIFT_SPAWN_H

#include <stdint.h>

#ifndef FL_EXPORT
#if defined(__GNUC__)
#define FL_EXPORT __attribute__((visibility("default")))
#else
#define FL_EXPORT
#endif
#endif

#define FL_SPAWN_VERSION 1

/* ---- step operations (fl_spawn_step.op), run in the child in plan order ---- */
#define FL_OP_DUP2 1            /* a = from fd, b = to fd. from == to: clear FD_CLOEXEC on it instead */
#define FL_OP_CLOSE 2           /* a = fd */
#define FL_OP_CLOSE_RANGE 3     /* a = first, b = last (inclusive; 0xffffffff = all), c = flags (CLOSE_RANGE_CLOEXEC = 4).
                                   On ENOSYS (before 5.9) or EINVAL (CLOEXEC before 5.11) the stage loops fcntl/close
                                   from a to min(b, the RLIMIT_NOFILE soft limit - 1) */
#define FL_OP_OPEN 4            /* str = path, a = target fd, b = open flags, c = mode: open, then dup3 to a (unless the
                                   kernel returned a itself), close the original. a keeps FD_CLOEXEC iff b has O_CLOEXEC */
#define FL_OP_CHDIR 5           /* str = path; b = 1: on failure chdir("/") instead (a new mount view may lack the path) */
#define FL_OP_FCHDIR 6          /* a = fd */
#define FL_OP_UMASK 7           /* a = mask */
#define FL_OP_SETSID 8          /* new session (and process group) */
#define FL_OP_SETPGID 9         /* a = pgid (0: its own pid, a new group) */
#define FL_OP_SET_CTTY 10       /* a = fd: ioctl(a, TIOCSCTTY, b) (b = 1 steals it from another session, needs CAP_SYS_ADMIN) */
#define FL_OP_TCSETPGRP 11      /* a = fd: make the child's process group the foreground group of that terminal */
#define FL_OP_PDEATHSIG 12      /* a = signal, b = the pid of the process that must stay alive (the spawning process, as
                                   the child sees it): prctl(PR_SET_PDEATHSIG, a), then if getppid() != b the parent
                                   already died: the child sends itself signal a (the race Go and others document).
                                   b = 0: no check (use it when getppid() means nothing: CLONE_NEWPID makes it 0,
                                   CLONE_PARENT makes it the spawner's parent) */
#define FL_OP_SETRLIMIT 13      /* a = resource, b = soft, c = hard (RLIM_INFINITY = ~0) */
#define FL_OP_SETGROUPS 14      /* a = count, ptr = uint32_t gids[a] */
#define FL_OP_SETRESGID 15      /* a = gid (real, effective, saved) */
#define FL_OP_SETRESUID 16      /* a = uid (real, effective, saved) */
#define FL_OP_NO_NEW_PRIVS 17   /* prctl(PR_SET_NO_NEW_PRIVS, 1) */
#define FL_OP_SIGNAL_DEFAULT 18 /* a = signal: disposition SIG_DFL */
#define FL_OP_SIGNAL_IGNORE 19  /* a = signal: disposition SIG_IGN */
#define FL_OP_WRITE_FILE 20     /* str = path, ptr = bytes, a = length: open(O_WRONLY|O_CLOEXEC), write all, close */
#define FL_OP_WAIT_PARENT 21    /* wait for the parent's go byte on the sync pipe. Exactly one in a FL_PLAN_SYNC plan,
                                   none in others (fl_spawn refuses either mistake with EINVAL before cloning). EOF
                                   without the byte: the parent gave up; the child _exits(127) without a record. A read
                                   error is reported at FL_STEP_SYNC */
#define FL_OP_DUP_ABOVE 22      /* a = fd, b = minimum: fcntl(a, F_DUPFD_CLOEXEC, b) into slot c (0..63). Later steps name
                                   the new fd as FL_FD_SLOT(c); nothing is remapped implicitly (a stays a). This is how
                                   a plan moves fds out of the way before dup2s that would overwrite them (swaps) */

/* Isolation (namespaces, mounts, capabilities). Run where the plan puts them: after the clone in the new namespaces,
   in the order the plan gives (C# orders them: id maps, propagation, mounts, hostname, network, time, init, then
   the program's own setup). */
#define FL_OP_SETNS 23          /* a = fd (or slot) of a namespace or a pidfd, b = nstype (CLONE_NEW*, 0 = any) */
#define FL_OP_UNSHARE 24        /* a = unshare(2) flags (CLONE_NEWTIME: the program enters it at execve, after the offsets) */
#define FL_OP_MOUNT 25          /* str = target, ptr = "source\0fstype\0data\0" (an empty part is NULL), a = mount flags */
#define FL_OP_MKDIR 26          /* str = path, a = mode, b = 1: an existing entry is success (EEXIST beats EROFS in the
                                   kernel's filename_create, so this works on a read-only tree that has the directory) */
#define FL_OP_SETHOSTNAME 27    /* str = name, a = its length in bytes */
#define FL_OP_SETDOMAINNAME 28  /* str = name, a = its length in bytes */
#define FL_OP_LOOPBACK_UP 29    /* bring "lo" up (SIOCGIFFLAGS/SIOCSIFFLAGS on an AF_INET datagram socket) */
#define FL_OP_OPEN_TREE 30      /* str = path, a = open_tree flags (OPEN_TREE_CLONE, AT_RECURSIVE; O_CLOEXEC is added),
                                   c = slot that receives the detached mount's fd */
#define FL_OP_MOVE_MOUNT 31     /* a = fd (or slot) of a detached mount, str = target path (MOVE_MOUNT_F_EMPTY_PATH) */
#define FL_OP_MOUNT_SETATTR 32  /* a = fd (or slot), or FL_AT_FDCWD with str = path; b = attr_set | attr_clr << 32
                                   (MOUNT_ATTR_*), c = AT_* flags (AT_RECURSIVE; AT_EMPTY_PATH is added for an fd) */
#define FL_OP_CREATE_FILE 33    /* str = path, a = mode: mknod(S_IFREG), an existing entry is success (a bind target) */
#define FL_OP_SYMLINK 34        /* str = link path, ptr = target text; b = 1: an existing entry is success */
#define FL_OP_KEEPCAPS 35       /* prctl(PR_SET_KEEPCAPS, a): keep the permitted set across a uid change */
#define FL_OP_CAPBSET_DROP 36   /* a = mask of capabilities (bit n = cap n) to drop from the bounding set (detail = cap) */
#define FL_OP_CAPSET 37         /* a = effective, b = permitted, c = inheritable (bit masks): capset(2), version 3 */
#define FL_OP_AMBIENT 38        /* clear the ambient set, then raise each capability of mask a (detail = cap) */
#define FL_OP_INIT 39           /* str = the init program (forklift-init), a = an fd open on it (execveat with
                                   AT_EMPTY_PATH: mounts cannot hide it) or -1 (exec by path). The stage forks here (CLONE_VM|CLONE_VFORK):
                                   the new process runs the steps after this one and execs the program; this process
                                   then execs str with argv {str, "<pid of the program>"}: the init that forwards
                                   signals, reaps orphans and exits with the program's status (128+N for signal N).
                                   A failure of the program's steps or exec is reported as usual, and this process
                                   exits 127 without exec'ing the init. At most one, never in the middle of fd steps */

#define FL_AT_FDCWD (-100)

/* 40..44: cgroup ops. */
#define FL_OP_JOIN_CGROUP 40    /* str = a cgroup.procs path: write "0" to it, which moves the writer itself into that
                                   group (cgroup v1 placement: there is no CLONE_INTO_CGROUP for v1). A plan puts these
                                   first, before anything that allocates memory or forks, so all of it is charged
                                   to the new group */

/* A step argument that names an fd may name a slot filled by FL_OP_DUP_ABOVE instead: */
#define FL_FD_SLOT(n) (-1000 - (n))
#define FL_MAX_SLOTS 64

/* At most this many exec candidates per plan: the fast path's child writes one record per failed candidate
   while its parent is suspended (vfork), so they must all fit in a pipe of the smallest size the kernel gives. */
#define FL_MAX_EXEC_PATHS 128

/* ---- plan flags (fl_spawn_plan.flags) ---- */
#define FL_PLAN_FAST 0x1              /* CLONE_VM|CLONE_VFORK on a stage-owned stack (posix_spawn's way). Without it: the
                                         full path, a copy of the parent's memory, no vfork */
#define FL_PLAN_NO_CLONE3 0x2         /* use legacy clone only */
#define FL_PLAN_FALLBACK_ON_EPERM 0x4 /* also fall back to legacy clone when clone3 fails with EPERM (seccomp profiles) */
#define FL_PLAN_SYNC 0x8              /* create a sync pipe: the child stops at FL_OP_WAIT_PARENT until fl_spawn_release.
                                         Not allowed with FL_PLAN_FAST (a vfork parent cannot act before the exec) */
#define FL_PLAN_RESET_SIGNALS 0x10    /* reset every caught signal to SIG_DFL (ignored ones stay ignored), with
                                         CLONE_CLEAR_SIGHAND where clone3 is used, by a loop otherwise. Always set by C# */
#define FL_PLAN_SET_SIGMASK 0x20      /* install sigmask before execve (else the child gets an empty mask) */
#define FL_PLAN_TIME_CALL 0x40        /* fill fl_spawn_result.call_ns. Off, the stage reads no clock: its clock reads are
                                         raw system calls (no vDSO without libc), which cost about 1.5 us each under
                                         some hypervisors; a caller can time the call with its own (vDSO) clock */

/* ---- where a failure happened (fl_spawn_record.step / fl_spawn_result.error_step) ---- */
/* step >= 0: index into steps[] */
#define FL_STEP_CLONE (-1)   /* the clone itself failed: errno is the kernel's */
#define FL_STEP_EXEC (-2)    /* execve: detail = index of the exec path whose errno is reported. Candidates are tried in
                                order as execvp does: ENOENT, ENOTDIR, ESTALE, ENODEV, ETIMEDOUT go on to the next;
                                EACCES goes on too but is reported (with its index) if no later candidate succeeds;
                                any other errno (ENOEXEC, E2BIG, ETXTBSY, ENOMEM...) stops the search. Every tried
                                candidate's errno lands in plan.exec_errnos, also when a later one succeeds */
#define FL_STEP_SETUP (-3)   /* the stage's own preparation in the parent (pipe2, mmap): errno */
#define FL_STEP_SIGNALS (-4) /* resetting signal dispositions or the mask in the child */
#define FL_STEP_SYNC (-5)    /* reading the sync pipe in the child */

typedef struct fl_spawn_step {
    int32_t op;       /* FL_OP_* */
    int32_t reserved; /* 0 */
    int64_t a, b, c;
    const char *str;  /* NUL-terminated, or NULL */
    const void *ptr;  /* op-specific data, or NULL */
} fl_spawn_step;

_Static_assert(sizeof(fl_spawn_step) == 48, "fl_spawn_step layout is frozen");

typedef struct fl_spawn_plan {
    uint32_t version;             /* FL_SPAWN_VERSION */
    uint32_t flags;               /* FL_PLAN_* */
    uint64_t clone_flags;         /* extra clone flags (namespaces, CLONE_PARENT, CLONE_INTO_CGROUP...). The stage adds
                                     CLONE_PIDFD always, CLONE_VM|CLONE_VFORK on the fast path, CLONE_CLEAR_SIGHAND
                                     with clone3 when FL_PLAN_RESET_SIGNALS. It refuses (EINVAL at FL_STEP_CLONE,
                                     before cloning) the flags it owns or that would share its state with the child:
                                     VM, VFORK, FS, FILES, SIGHAND, THREAD, SETTLS, the three *TID flags, the CSIGNAL
                                     byte, and (legacy clone) any bit above 32 it cannot emulate */
    uint64_t exit_signal;         /* signal to the parent on exit (SIGCHLD = 17; 0 with CLONE_PARENT) */
    uint64_t cgroup_fd;           /* for CLONE_INTO_CGROUP */
    const int32_t *set_tid;       /* clone3 set_tid array, or NULL */
    uint64_t set_tid_size;
    uint64_t stack_size;          /* fast path child stack; 0: 64 KiB */
    const char *const *exec_paths;/* candidate program paths, tried in order (C# resolves PATH into this list);
                                     1..FL_MAX_EXEC_PATHS of them */
    uint32_t exec_path_count;
    uint32_t step_count;
    const char *const *argv;      /* NULL-terminated */
    const char *const *envp;      /* NULL-terminated */
    const fl_spawn_step *steps;
    uint64_t sigmask;             /* bit (n-1) = signal n, installed before execve with FL_PLAN_SET_SIGMASK */
    int32_t *exec_errnos;         /* out: exec_path_count entries (or NULL), the errno of each candidate tried (0: not
                                     tried, or the one that succeeded). Zeroed by fl_spawn */
} fl_spawn_plan;

_Static_assert(sizeof(fl_spawn_plan) == 112, "fl_spawn_plan layout is frozen");
_Static_assert(__builtin_offsetof(fl_spawn_plan, exec_paths) == 56, "fl_spawn_plan layout is frozen");
_Static_assert(__builtin_offsetof(fl_spawn_plan, argv) == 72, "fl_spawn_plan layout is frozen");
_Static_assert(__builtin_offsetof(fl_spawn_plan, sigmask) == 96, "fl_spawn_plan layout is frozen");

/* The record a failing child writes (whole, in one write) to the error pipe. */
typedef struct fl_spawn_record {
    int32_t magic;  /* FL_SPAWN_RECORD_MAGIC */
    int32_t err;    /* errno */
    int32_t step;   /* step index or FL_STEP_* */
    int32_t detail; /* exec path index for FL_STEP_EXEC; otherwise the fd or signal concerned, or 0 */
} fl_spawn_record;

#define FL_SPAWN_RECORD_MAGIC 0x464c5352 /* "FLSR" */

_Static_assert(sizeof(fl_spawn_record) == 16, "fl_spawn_record layout is frozen");

typedef struct fl_spawn_result {
    int32_t pid;          /* > 0 when a child was created (even if it then failed: it is reaped by the stage in that
                             case, and pid is kept for the message); 0 when the failure came before the clone */
    int32_t pidfd;        /* the child's pidfd (O_CLOEXEC), -1 on failure */
    int32_t ok;           /* 1: the child exec'd (or, with FL_PLAN_SYNC, is waiting for fl_spawn_release) */
    int32_t used_clone3;  /* 1: clone3 created the child; 0: legacy clone */
    int32_t clone3_errno; /* why clone3 was not used: ENOSYS, EPERM, or 0 */
    int32_t error_errno;  /* the failure's errno */
    int32_t error_step;   /* step index or FL_STEP_* */
    int32_t error_detail; /* as fl_spawn_record.detail */
    int32_t sync_fd;      /* FL_PLAN_SYNC: the parent's end of the sync pipe, else -1 */
    int32_t error_fd;     /* FL_PLAN_SYNC: the parent's end of the error pipe (read by fl_spawn_release), else -1 */
    int64_t call_ns;      /* FL_PLAN_TIME_CALL: CLOCK_MONOTONIC time from the entry of fl_spawn to the clone's return
                             in the parent; else 0 */
} fl_spawn_result;

_Static_assert(sizeof(fl_spawn_result) == 48, "fl_spawn_result layout is frozen");

/*
 * Starts a child as the plan says. Returns 0 when the child exec'd (or waits, with FL_PLAN_SYNC), -1 when it
 * failed (result says where and why; a child that was created and failed has been reaped). Blocks every signal
 * in the calling thread around the clone and restores the thread's mask before returning. Thread-safe.
 * On the fast path the call returns only once the child has exec'd or failed (vfork): a step that blocks (a FIFO
 * open, a slow WRITE_FILE) blocks the caller. A failed child's pidfd is closed: never wait for it.
 */
FL_EXPORT int fl_spawn(const fl_spawn_plan *plan, fl_spawn_result *result);

/*
 * FL_PLAN_SYNC plans: tells the waiting child to go on (go = 1) or to give up (go = 0), closes result->sync_fd,
 * reads the error pipe to EOF or a record, closes it, and completes result (ok, error_*). A child that gave up or
 * failed is reaped (and result->pidfd closed, set to -1). Returns 0 on exec, -1 otherwise: the failed step's
 * record when a step failed (also one before FL_OP_WAIT_PARENT), else FL_STEP_SYNC with ECANCELED (go = 0) or
 * EPIPE (the child died before reading the go byte). go = 0 closes the pipe, nothing more: a child blocked in an
 * earlier step keeps the call waiting, so kill it first (fl_pidfd_send_signal) if that can happen. Call it
 * exactly once per FL_PLAN_SYNC spawn that returned 0 (EBADF at FL_STEP_SYNC if the fds are already gone).
 */
FL_EXPORT int fl_spawn_release(fl_spawn_result *result, const fl_spawn_plan *plan, int go);

/*
 * Waits for (or, with WNOHANG in options, polls) the child behind a pidfd: waitid(P_PIDFD, pidfd, &info,
 * options | WEXITED | __WALL, &rusage) (__WALL: a child whose exit signal is not SIGCHLD is found too).
 * status_out gets a wait(2)-style status (WIFEXITED/WIFSIGNALED, core flag), rusage_out 18 longs of struct
 * rusage (may be NULL). Returns 1 when a status was collected, 0 when the child is
 * still running (WNOHANG), -errno on failure (ECHILD: already reaped by someone else; see fl_pidfd_exit_info).
 */
FL_EXPORT int fl_pidfd_wait(int pidfd, int options, int32_t *status_out, int64_t *rusage_out);

/*
 * Reads a reaped child's exit status back through its pidfd (ioctl PIDFD_GET_INFO with PIDFD_INFO_EXIT, Linux
 * 6.15+). Returns 1 and a wait(2)-style status, 0 when the kernel has no exit information for it (still running,
 * a zombie not reaped yet (6.18 fills it in at reaping), or the pidfd was made after the exit), -errno on failure
 * (ENOTTY/EINVAL: the kernel lacks PIDFD_GET_INFO).
 */
FL_EXPORT int fl_pidfd_exit_info(int pidfd, int32_t *status_out);

/* pidfd_send_signal(pidfd, sig, NULL, 0). Returns 0 or -errno (ESRCH: the process has exited). */
FL_EXPORT int fl_pidfd_send_signal(int pidfd, int sig);

/* Layout checks for the C# side. */
FL_EXPORT int32_t fl_sizeof_spawn_plan(void);
FL_EXPORT int32_t fl_sizeof_spawn_step(void);
FL_EXPORT int32_t fl_sizeof_spawn_result(void);

#endif
