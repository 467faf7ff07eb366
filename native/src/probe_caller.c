/*
 * probe_caller.c: the throwaway caller of one probe request.
 *
 * Runs in a process forked (raw fork) from the keeper, itself forked from the multithreaded .NET host: only
 * raw system calls and plain memory accesses here; no libc, no malloc, no locks, no stdio.
 *
 * Shape (one flat list, one exit per outcome): prepare the cgroup fd; apply the context steps in the
 * header's order, each "call, check, on failure report {step, errno} and exit"; build the call's memory;
 * block every signal; make the raw call; report the result; reap what the call created; exit.
 */
#include "probe_internal.h"

#define FL_PAGE 4096
/* The clone3 struct area: two readable pages (readable_bytes <= 8192), then a PROT_NONE guard page,
   then one page for the pointer fields' buffers. */
#define FL_ARGS_AREA (2 * FL_PAGE)
#define FL_MAP_BYTES (4 * FL_PAGE)
#define FL_BUF_PIDFD 0
#define FL_BUF_PARENT_TID 64
#define FL_BUF_CHILD_TID 128
#define FL_BUF_SET_TID 256

static _Noreturn void setup_failed(fl_slot *slot, int32_t step, long neg_errno)
{
    fl_slot_report(slot, FL_OUTCOME_SETUP_FAILED, (int32_t)-neg_errno, step, 0);
    fl_exit_group(0);
}

static _Noreturn void probe_failed(fl_slot *slot, long neg_errno)
{
    fl_slot_report(slot, FL_OUTCOME_PROBE_FAILED, (int32_t)-neg_errno, 0, 0);
    fl_exit_group(0);
}

/* Decimal text of v into buf (at least 20 bytes); returns the length. No stdio after fork. */
static size_t format_u64(char *buf, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

/* Writes all of text to an existing file (procfs control files take one write). */
static long write_text(const char *path, const char *text, size_t len)
{
    long fd = fl_open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return fd;
    long n = fl_write((int)fd, text, len);
    fl_close((int)fd);
    if (n < 0)
        return n;
    return (size_t)n == len ? 0 : -EIO;
}

/* "0 <outer id> 1\n" into /proc/self/{uid,gid}_map: our own id becomes 0 inside. */
static long write_id_map(const char *path, long outer_id)
{
    char line[32] = {'0', ' '};
    size_t len = 2;
    len += format_u64(line + len, (uint64_t)outer_id);
    line[len++] = ' ';
    line[len++] = '1';
    line[len++] = '\n';
    return write_text(path, line, len);
}

/* unshare(CLONE_NEWUSER) with uid and gid 0 inside mapped to our ids outside (user_namespaces(7)). */
static long enter_mapped_userns(void)
{
    long uid = fl_getuid();
    long gid = fl_getgid();
    long r = fl_unshare(CLONE_NEWUSER);
    if (r < 0)
        return r;
    /* An unprivileged gid_map needs setgroups denied first (since 3.19, CVE-2014-8989). */
    r = write_text("/proc/self/setgroups", "deny", 4);
    if (r < 0)
        return r;
    r = write_id_map("/proc/self/uid_map", uid);
    if (r < 0)
        return r;
    return write_id_map("/proc/self/gid_map", gid);
}

/*
 * unshare(CLONE_NEWPID) + fork. Returns 0 in the child, pid 1 of the new namespace, which carries on as the
 * caller. This process stays behind as the child's supervisor (resuming it when stopped, reporting it if it
 * is killed, reaping everything) and exits; it never returns.
 */
static long become_init_of_new_pidns(fl_slot *slot, int64_t deadline_ns)
{
    long r = fl_unshare(CLONE_NEWPID);
    if (r < 0)
        return r;
    long pid = fl_fork();
    if (pid < 0)
        return pid;
    if (pid == 0) {
        fl_prctl(PR_SET_PDEATHSIG, SIGKILL);
        return 0;
    }
    fl_supervise(pid, slot, deadline_ns, 0);
    fl_exit_group(0);
}

static const char *const ns_limit_paths[FL_NS_LIMIT_COUNT] = {
    "/proc/sys/user/max_user_namespaces", "/proc/sys/user/max_mnt_namespaces",
    "/proc/sys/user/max_uts_namespaces",  "/proc/sys/user/max_ipc_namespaces",
    "/proc/sys/user/max_pid_namespaces",  "/proc/sys/user/max_cgroup_namespaces",
    "/proc/sys/user/max_net_namespaces",  "/proc/sys/user/max_time_namespaces",
};

/* The context steps of forklift_native.h, in its order. Returns only when all succeeded. */
static void apply_context(const fl_context *c, fl_slot *slot, int64_t deadline_ns)
{
    long r = 0;
    int32_t step;

    /* 1. Nested pid namespaces: each level's init carries on. */
    step = 1;
    for (int32_t i = 0; i < c->pid_ns_nesting; i++)
        if ((r = become_init_of_new_pidns(slot, deadline_ns)) < 0)
            goto fail;

    /* 2. Nested user namespaces, each mapped; then the requested mode once more. */
    step = 2;
    for (int32_t i = 0; i < c->user_ns_nesting; i++)
        if ((r = enter_mapped_userns()) < 0)
            goto fail;
    if (c->userns_mode == FL_USERNS_UNMAPPED && (r = fl_unshare(CLONE_NEWUSER)) < 0)
        goto fail;
    if (c->userns_mode == FL_USERNS_MAPPED && (r = enter_mapped_userns()) < 0)
        goto fail;

    /* 3. Namespace count limits of the current user namespace (ucounts, kernel/ucount.c). */
    step = 3;
    for (int t = 0; t < FL_NS_LIMIT_COUNT; t++) {
        if (c->ns_limits[t] < 0)
            continue;
        char text[24];
        size_t len = format_u64(text, (uint64_t)c->ns_limits[t]);
        if ((r = write_text(ns_limit_paths[t], text, len)) < 0)
            goto fail;
    }

    /* 4. Become init of a new pid namespace. */
    step = 4;
    if (c->as_init && (r = become_init_of_new_pidns(slot, deadline_ns)) < 0)
        goto fail;

    /* 5. A pid namespace for children whose init has exited (alloc_pid then fails: PIDNS_ADDING cleared);
          or just unshare the pid namespace; or the time namespace. */
    step = 5;
    if (c->pidns_init_exited) {
        if ((r = fl_unshare(CLONE_NEWPID)) < 0)
            goto fail;
        long pid = fl_fork();
        if (pid == 0)
            fl_exit_group(0);
        if ((r = pid) < 0)
            goto fail;
        int status = 0;
        if ((r = fl_wait_bounded(pid, &status, deadline_ns)) < 0)
            goto fail;
    }
    if (c->unshare_pid && (r = fl_unshare(CLONE_NEWPID)) < 0)
        goto fail;
    if (c->unshare_time && (r = fl_unshare(CLONE_NEWTIME)) < 0)
        goto fail;

    /* 6. Chroot (current_chrooted() then refuses CLONE_NEWUSER). */
    step = 6;
    if (c->chroot_path[0] != 0) {
        if ((r = fl_chroot(c->chroot_path)) < 0)
            goto fail;
        if ((r = fl_chdir("/")) < 0)
            goto fail;
    }

    /* 7. Child subreaper. */
    step = 7;
    if (c->subreaper && (r = fl_prctl(PR_SET_CHILD_SUBREAPER, 1)) < 0)
        goto fail;

    /* 8. RLIMIT_NPROC (soft and hard). */
    step = 8;
    if (c->rlimit_nproc >= 0) {
        struct fl_rlimit64 lim = {(uint64_t)c->rlimit_nproc, (uint64_t)c->rlimit_nproc};
        if ((r = FL_SYS4(__NR_prlimit64, 0, RLIMIT_NPROC, &lim, 0)) < 0)
            goto fail;
    }

    /* 9. SCHED_DEADLINE: runtime 2 ms, deadline = period = 100 ms (sched_fork then refuses: EAGAIN). */
    step = 9;
    if (c->sched_deadline) {
        struct sched_attr attr = {0};
        attr.size = sizeof attr;
        attr.sched_policy = SCHED_DEADLINE;
        attr.sched_runtime = 2000000;
        attr.sched_deadline = 100000000;
        attr.sched_period = 100000000;
        if ((r = FL_SYS3(__NR_sched_setattr, 0, &attr, 0)) < 0)
            goto fail;
    }

    /* 10. Credentials: supplementary groups, gid, uid (keeping the permitted set), then capabilities.
           Raw syscalls: glibc's wrappers would signal the host's (absent) other threads (SIGSETXID). */
    step = 10;
    if (c->uid >= 0 || c->gid >= 0) {
        if ((r = FL_SYS2(__NR_setgroups, 0, 0)) < 0)
            goto fail;
        if (c->gid >= 0 && (r = FL_SYS3(__NR_setresgid, c->gid, c->gid, c->gid)) < 0)
            goto fail;
        if (c->uid >= 0) {
            if ((r = fl_prctl(PR_SET_KEEPCAPS, 1)) < 0)
                goto fail;
            if ((r = FL_SYS3(__NR_setresuid, c->uid, c->uid, c->uid)) < 0)
                goto fail;
            fl_prctl(PR_SET_PDEATHSIG, SIGKILL); /* an euid change cleared it */
        }
    }
    if (c->set_caps) {
        struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct data[2] = {
            {(uint32_t)c->caps, (uint32_t)c->caps, 0},
            {(uint32_t)(c->caps >> 32), (uint32_t)(c->caps >> 32), 0},
        };
        if ((r = FL_SYS2(__NR_capset, &header, data)) < 0)
            goto fail;
    }
    return;

fail:
    setup_failed(slot, step, r);
}

/* Opens the cgroup fd the request asks for. Returns the value for args.cgroup, or -errno. */
static long prepare_cgroup(const fl_probe_request *rq)
{
    const char *path = rq->cgroup_path;
    long fd;
    switch (rq->cgroup_source) {
    case FL_CGROUP_OPEN_DIR:
        return fl_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    case FL_CGROUP_OPEN_PATH:
        return fl_open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    case FL_CGROUP_OPEN_REMOVED:
        /* The directory was created by the test for this one request; the open fd outlives it. */
        fd = fl_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return fd;
        long r = fl_rmdir(path);
        if (r < 0) {
            fl_close((int)fd);
            return r;
        }
        return fd;
    case FL_CGROUP_OPEN_ANY:
        return fl_open(path, O_RDONLY | O_CLOEXEC);
    default:
        return 0; /* FL_CGROUP_RAW: args.cgroup as given */
    }
}

/* Waits (bounded) until the thread `tid` of our thread group is gone: threads are never reaped by wait. */
static void wait_thread_gone(long tid, int64_t deadline_ns)
{
    long tgid = fl_getpid();
    struct fl_timespec nap = {0, 20000};
    while (fl_tgkill(tgid, tid, 0) != -ESRCH && fl_monotonic_ns() < deadline_ns)
        fl_nanosleep(&nap);
}

/* If a pidfd was written at `where` (a buffer initialised to -1), closes it and returns 1. */
static int32_t close_pidfd_at(const int32_t *where)
{
    if (where == 0 || *where < 0)
        return 0;
    fl_close(*where);
    return 1;
}

_Noreturn void fl_caller_main(const fl_probe_request *rq, fl_slot *slot, int64_t deadline_ns)
{
    fl_prctl(PR_SET_PDEATHSIG, SIGKILL);

    /* Cgroup fd: before the context steps, so cgroup_path is resolved in the keeper's root with its
       credentials (reported as step FL_STEP_CGROUP). */
    long cgroup = prepare_cgroup(rq);
    if (rq->cgroup_source != FL_CGROUP_RAW && cgroup < 0)
        setup_failed(slot, FL_STEP_CGROUP, cgroup);

    apply_context(&rq->context, slot, deadline_ns);

    /* The call's memory. */
    long map = fl_mmap(FL_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (map < 0 && map > -4096)
        probe_failed(slot, map);
    uint8_t *base = (uint8_t *)map;
    long r = fl_mprotect(base + FL_ARGS_AREA, FL_PAGE, PROT_NONE);
    if (r < 0)
        probe_failed(slot, r);
    uint8_t *bufs = base + FL_ARGS_AREA + FL_PAGE;
    int32_t *pidfd_buf = (int32_t *)(bufs + FL_BUF_PIDFD);
    int32_t *parent_tid_buf = (int32_t *)(bufs + FL_BUF_PARENT_TID);
    int32_t *child_tid_buf = (int32_t *)(bufs + FL_BUF_CHILD_TID);
    int32_t *set_tid_buf = (int32_t *)(bufs + FL_BUF_SET_TID);
    *pidfd_buf = -1;
    *parent_tid_buf = -1;
    *child_tid_buf = -1;
    for (int i = 0; i < 32; i++)
        set_tid_buf[i] = rq->set_tid_values[i];

    uint64_t parent_tid = rq->parent_tid_kind == FL_PTR_VALID ? (uint64_t)(uintptr_t)parent_tid_buf : rq->parent_tid;
    uint64_t child_tid = rq->child_tid_kind == FL_PTR_VALID ? (uint64_t)(uintptr_t)child_tid_buf : rq->child_tid;
    uint64_t pidfd = rq->pidfd;
    if (rq->pidfd_kind == FL_PTR_VALID)
        pidfd = (uint64_t)(uintptr_t)pidfd_buf;
    else if (rq->pidfd_kind == FL_PTR_SAME_AS_PARENT_TID)
        pidfd = parent_tid;

    /* clone3: the struct ends exactly where the readable memory does (the next page faults). */
    void *args = (void *)(uintptr_t)rq->args_raw_pointer;
    if (rq->call == FL_CALL_CLONE3 && rq->args_kind == FL_PTR_VALID) {
        uint64_t values[11] = {
            rq->flags, pidfd, child_tid, parent_tid, rq->exit_signal, rq->stack, rq->stack_size, rq->tls,
            rq->set_tid_kind == FL_PTR_VALID ? (uint64_t)(uintptr_t)set_tid_buf : rq->set_tid,
            rq->set_tid_size,
            rq->cgroup_source != FL_CGROUP_RAW ? (uint64_t)cgroup : rq->cgroup,
        };
        uint8_t *start = base + FL_ARGS_AREA - rq->readable_bytes;
        const uint8_t *src = (const uint8_t *)values;
        for (uint32_t i = 0; i < sizeof values && i < rq->readable_bytes; i++)
            start[i] = src[i];
        /* bytes past the values up to `size` are zero already (fresh anonymous memory) */
        if (rq->tail_nonzero_at >= 0)
            start[rq->tail_nonzero_at] = 1;
        args = start;
    }

    /* The call, with every blockable signal blocked: an exit signal sent back to us cannot end us
       (SIGKILL and SIGSTOP can; the keeper handles both). */
    const uint64_t all = FL_SIGSET_ALL;
    fl_sigprocmask(FL_SIG_SETMASK, &all, 0);
    long ret;
    uint64_t flags;
    switch (rq->call) {
    case FL_CALL_CLONE3:
        flags = rq->flags;
        ret = fl_call_clone3(args, rq->size);
        break;
    case FL_CALL_CLONE:
        flags = rq->raw_flags;
        ret = fl_call_clone(rq->raw_flags, rq->stack, parent_tid, child_tid, rq->tls);
        break;
    case FL_CALL_FORK:
        flags = 0;
        ret = fl_call_fork();
        break;
    default:
        flags = CLONE_VM | CLONE_VFORK;
        ret = fl_call_vfork();
        break;
    }

    /* Report before reaping: if the child's exit signal kills us while we wait, the result is in. */
    int32_t pidfd_seen = 0;
    if (ret > 0 && (flags & CLONE_PIDFD)) {
        if (rq->call == FL_CALL_CLONE) /* legacy clone stores the pidfd at parent_tid */
            pidfd_seen = close_pidfd_at(rq->parent_tid_kind == FL_PTR_VALID ? parent_tid_buf : 0);
        else if (rq->pidfd_kind == FL_PTR_VALID)
            pidfd_seen = close_pidfd_at(pidfd_buf);
        else if (rq->pidfd_kind == FL_PTR_SAME_AS_PARENT_TID && rq->parent_tid_kind == FL_PTR_VALID)
            pidfd_seen = close_pidfd_at(parent_tid_buf);
    }
    slot->result.outcome = FL_OUTCOME_RETURNED;
    slot->result.err = ret < 0 ? (int32_t)-ret : 0;
    slot->result.ret = ret;
    slot->result.setup_step = 0;
    slot->result.signal = 0;
    slot->result.child_status = -1;
    slot->result.pidfd_seen = pidfd_seen;
    fl_slot_publish(slot);

    /* Reap what the call created. A thread is never a child; a CLONE_PARENT child is the keeper's (or an
       intermediate init's), which reaps it. */
    if (ret > 0) {
        if (flags & CLONE_THREAD) {
            wait_thread_gone(ret, deadline_ns);
        } else if (!(flags & CLONE_PARENT)) {
            int status = 0;
            for (;;) {
                long w = fl_wait_bounded(ret, &status, deadline_ns);
                if (w == ret && FL_WIFSTOPPED(status)) {
                    fl_kill(ret, SIGCONT);
                    continue;
                }
                if (w == ret)
                    slot->result.child_status = status;
                break;
            }
        }
    }
    fl_exit_group(0);
}
