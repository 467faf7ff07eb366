/*
 * forklift_native.h: the frozen C ABI between Forklift (C#) and its native stage.
 *
 * Every export has the prefix `fl_`. Every struct crossing the boundary has a fixed layout, checked by
 * _Static_assert here and by a matching C# layout test (tests/Forklift.Tests/Interop). Constants below are
 * fixed forever: add new ones, never renumber.
 *
 * This header currently declares the clone probe used to prove the clone model against the live kernel:
 * it performs one raw system call exactly as described (clone3 struct bytes, or the legacy register form,
 * or fork/vfork) from a throwaway process placed in a requested caller context, reaps whatever it created,
 * and reports the raw result.
 */
#ifndef FORKLIFT_NATIVE_H
#define FORKLIFT_NATIVE_H

#include <stdint.h>

#define FL_ABI_VERSION 1

#if defined(__GNUC__)
#define FL_EXPORT __attribute__((visibility("default")))
#else
#define FL_EXPORT
#endif

/* ---- entry points (fl_probe_request.call) ---- */
#define FL_CALL_CLONE3 0 /* syscall 435: clone3(struct clone_args *, size_t) */
#define FL_CALL_CLONE 1  /* syscall 56: clone(flags, newsp, parent_tid, child_tid, tls) (x86-64 order) */
#define FL_CALL_FORK 2   /* syscall 57 */
#define FL_CALL_VFORK 3  /* syscall 58 */

/* ---- pointer kinds: how the probe fills a user pointer ---- */
#define FL_PTR_RAW 0     /* use the raw value given in the request (0 = NULL, anything else as is) */
#define FL_PTR_VALID 1   /* a real, readable and writable buffer owned by the probe */
#define FL_PTR_SAME_AS_PARENT_TID 2 /* pidfd only: the same address as parent_tid (after substitution) */

/* ---- cgroup fd sources (fl_probe_request.cgroup_source) ---- */
#define FL_CGROUP_RAW 0          /* args.cgroup is used as given (may name a closed fd or be > INT_MAX) */
#define FL_CGROUP_OPEN_DIR 1     /* open(cgroup_path, O_RDONLY|O_DIRECTORY|O_CLOEXEC) */
#define FL_CGROUP_OPEN_PATH 2    /* open(cgroup_path, O_PATH|O_DIRECTORY|O_CLOEXEC) */
#define FL_CGROUP_OPEN_REMOVED 3 /* open as OPEN_DIR, then rmdir(cgroup_path): a removed cgroup */
#define FL_CGROUP_OPEN_ANY 4     /* open(cgroup_path, O_RDONLY|O_CLOEXEC): may be a file, not a directory */

/* ---- user namespace modes (fl_context.userns_mode) ---- */
#define FL_USERNS_NONE 0
#define FL_USERNS_UNMAPPED 1 /* unshare(CLONE_NEWUSER) and write no map: euid is unmapped inside */
#define FL_USERNS_MAPPED 2   /* unshare(CLONE_NEWUSER), map 0 to the caller's uid/gid, setgroups deny */

/* Number of namespace types with a /proc/sys/user/max_<type>_namespaces limit, in this order:
 * user, mnt, uts, ipc, pid, cgroup, net, time. */
#define FL_NS_LIMIT_COUNT 8

/*
 * The caller context the probe's throwaway process puts itself into before making the call.
 * Steps are applied in this order (the order matters to the kernel):
 *   1. pid_ns_nesting times: unshare(CLONE_NEWPID) + fork; the child (pid 1 of the new level) continues.
 *   2. user_ns_nesting times (each mapped, as FL_USERNS_MAPPED), then userns_mode once.
 *   3. ns_limits (values >= 0) written to /proc/sys/user/max_<type>_namespaces (of the current user ns).
 *   4. as_init: unshare(CLONE_NEWPID) + fork; the child is pid 1 of the new pid namespace and continues.
 *   5. pidns_init_exited: unshare(CLONE_NEWPID), fork a child that _exits at once, reap it
 *      (the namespace for children then refuses new pids: ENOMEM).
 *      unshare_pid: unshare(CLONE_NEWPID) only (the next child becomes init of the new namespace).
 *      unshare_time: unshare(CLONE_NEWTIME).
 *   6. chroot_path (non-empty): chroot(chroot_path) + chdir("/").
 *   7. subreaper: prctl(PR_SET_CHILD_SUBREAPER, 1).
 *   8. rlimit_nproc (>= 0): setrlimit(RLIMIT_NPROC, {n, n}).
 *   9. sched_deadline: sched_setattr(SCHED_DEADLINE, runtime 2 ms, deadline = period = 100 ms).
 *  10. uid/gid (>= 0): setgroups(0), setresgid(gid), setresuid(uid) with PR_SET_KEEPCAPS, then
 *      capset(effective = permitted = caps) when set_caps != 0 (caps is a 64-bit capability mask).
 * The call is made with every blockable signal blocked, so an exit signal sent back to the caller
 * cannot end it; SIGKILL and SIGSTOP as exit signals are handled by the keeper (see fl_probe_result).
 */
typedef struct fl_context {
    int32_t userns_mode;                    /* FL_USERNS_* */
    int32_t user_ns_nesting;                /* mapped user namespaces to nest first (0..40) */
    int32_t pid_ns_nesting;                 /* pid namespaces to nest first (0..40) */
    int32_t as_init;                        /* 1: become pid 1 of a new pid namespace */
    int32_t pidns_init_exited;              /* 1: see step 5 */
    int32_t unshare_pid;                    /* 1: unshare(CLONE_NEWPID) */
    int32_t unshare_time;                   /* 1: unshare(CLONE_NEWTIME) */
    int32_t subreaper;                      /* 1: PR_SET_CHILD_SUBREAPER */
    int32_t sched_deadline;                 /* 1: SCHED_DEADLINE */
    int32_t set_caps;                       /* 1: apply caps after the uid switch */
    int32_t uid;                            /* -1: keep */
    int32_t gid;                            /* -1: keep */
    int64_t rlimit_nproc;                   /* -1: keep */
    uint64_t caps;                          /* capability mask, used when set_caps */
    int64_t ns_limits[FL_NS_LIMIT_COUNT];   /* -1: keep */
    char chroot_path[256];                  /* NUL-terminated; empty: no chroot */
} fl_context;

_Static_assert(sizeof(fl_context) == 384, "fl_context layout is frozen");
_Static_assert(__builtin_offsetof(fl_context, rlimit_nproc) == 48, "fl_context layout is frozen");
_Static_assert(__builtin_offsetof(fl_context, caps) == 56, "fl_context layout is frozen");
_Static_assert(__builtin_offsetof(fl_context, ns_limits) == 64, "fl_context layout is frozen");
_Static_assert(__builtin_offsetof(fl_context, chroot_path) == 128, "fl_context layout is frozen");

/*
 * One raw call. For clone3, `args` holds the values of struct clone_args (the first `size` bytes of it
 * are what the kernel reads; the probe builds the struct in memory so that exactly `readable_bytes`
 * bytes from its start are readable and the next page faults). Pointer fields whose kind is
 * FL_PTR_VALID are replaced by real buffers; set_tid values are copied into the set_tid buffer.
 * For legacy clone, the registers are: raw_flags (flags | exit signal byte), newsp = args.stack,
 * parent_tid = args.parent_tid (substituted when parent_tid_kind is VALID), child_tid, tls.
 */
typedef struct fl_probe_request {
    int32_t call;              /* FL_CALL_* */
    int32_t args_kind;         /* clone3 struct pointer: FL_PTR_VALID, or FL_PTR_RAW with args_raw_pointer */
    uint64_t args_raw_pointer; /* used when args_kind == FL_PTR_RAW (0 = NULL, or a faulting address) */
    uint64_t size;             /* clone3 size argument */
    uint32_t readable_bytes;   /* bytes of the struct that are readable, from its start (<= 8192) */
    int32_t tail_nonzero_at;   /* -1: none; else this byte offset of the struct is set to 1 */
    int32_t pidfd_kind;        /* FL_PTR_* */
    int32_t parent_tid_kind;   /* FL_PTR_RAW or FL_PTR_VALID */
    int32_t child_tid_kind;    /* FL_PTR_RAW or FL_PTR_VALID */
    int32_t set_tid_kind;      /* FL_PTR_RAW or FL_PTR_VALID */
    int32_t cgroup_source;     /* FL_CGROUP_* */
    int32_t reserved0;
    uint64_t raw_flags;        /* legacy clone: the whole first register */
    /* struct clone_args values, in kernel order (CLONE_ARGS_SIZE_VER2 = 88 bytes) */
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
        cgroup;
    int32_t set_tid_values[32];
    char cgroup_path[256];
    fl_context context;
} fl_probe_request;

_Static_assert(__builtin_offsetof(fl_probe_request, raw_flags) == 56, "fl_probe_request layout is frozen");
_Static_assert(__builtin_offsetof(fl_probe_request, flags) == 64, "fl_probe_request layout is frozen");
_Static_assert(__builtin_offsetof(fl_probe_request, set_tid_values) == 152, "fl_probe_request layout is frozen");
_Static_assert(__builtin_offsetof(fl_probe_request, cgroup_path) == 280, "fl_probe_request layout is frozen");
_Static_assert(__builtin_offsetof(fl_probe_request, context) == 536, "fl_probe_request layout is frozen");
_Static_assert(sizeof(fl_probe_request) == 920, "fl_probe_request layout is frozen");

/* Outcome of one probe (fl_probe_result.outcome) */
#define FL_OUTCOME_RETURNED 0      /* the call returned: ret >= 0 is success, else err is its errno */
#define FL_OUTCOME_SETUP_FAILED 1  /* a context step failed: setup_step names it, err is its errno */
#define FL_OUTCOME_CALLER_KILLED 2 /* the caller died of `signal` before reporting (e.g. SIGKILL as the
                                      exit signal of a vfork child): the call itself succeeded */
#define FL_OUTCOME_PROBE_FAILED 3  /* the probe machinery failed: err is EINVAL (malformed request),
                                      ETIMEDOUT (the caller hung and was killed), ECHILD (the keeper died
                                      before this request), EPROTO (the caller exited without reporting),
                                      or the errno of a failed mmap/fork/wait of the machinery */

/* fl_probe_result.setup_step values beyond fl_context's list (1..10) */
#define FL_STEP_CGROUP 11 /* opening cgroup_path per cgroup_source (done before step 1, in the keeper's root
                             and with its credentials, so later steps cannot affect the path) */

typedef struct fl_probe_result {
    int32_t outcome;     /* FL_OUTCOME_* */
    int32_t err;         /* errno of the call (outcome RETURNED, ret < 0) or of the failed step */
    int64_t ret;         /* raw return value: child pid (> 0) or -errno */
    int32_t setup_step;  /* 1-based step number of fl_context's list when SETUP_FAILED, else 0 */
    int32_t signal;      /* CALLER_KILLED: the signal */
    int32_t child_status;/* wait status of the created child, when one was created and reaped (-1: none) */
    int32_t pidfd_seen;  /* 1 when CLONE_PIDFD succeeded and a pidfd >= 0 was written and then closed */
} fl_probe_result;

_Static_assert(sizeof(fl_probe_result) == 32, "fl_probe_result layout is frozen");

/*
 * Runs `count` probes. Each request gets a fresh throwaway caller (forked from a keeper process, itself
 * forked from the calling process), so no request can disturb another and nothing is left behind: the
 * keeper reaps every process it or the callers created (CLONE_PARENT children become its children).
 * Returns 0, or -errno when the results area or the keeper itself could not be created (-EINVAL for
 * count < 0 or NULL arrays). Thread-safe; blocks until done.
 * No managed code runs in any forked process.
 */
FL_EXPORT int fl_probe_run(const fl_probe_request *requests, fl_probe_result *results, int32_t count);

/* Size checks for the C# side's layout test. */
FL_EXPORT int32_t fl_abi_version(void);
FL_EXPORT int32_t fl_sizeof_probe_request(void);
FL_EXPORT int32_t fl_sizeof_probe_result(void);
FL_EXPORT int32_t fl_sizeof_context(void);

#endif
