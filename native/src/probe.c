/*
 * probe.c: fl_probe_run and the keeper.
 *
 * Process tree of one fl_probe_run:
 *
 *   host (.NET, multithreaded) --fork--> keeper (subreaper, dies with the host)
 *                                          |--fork--> caller #0 (context steps, the raw call, report, reap)
 *                                          |--fork--> caller #1 ...
 *
 * Results travel through one MAP_SHARED|MAP_ANONYMOUS area (one fl_slot per request), so they survive
 * whatever the caller does to itself (namespaces, uid switch, chroot) and even its death.
 * The host waits for the keeper by its exact pid, never waitpid(-1): .NET reaps its own children.
 */
#include "probe_internal.h"

void fl_slot_report(fl_slot *slot, int32_t outcome, int32_t err, int32_t setup_step, int32_t signal)
{
    slot->result.outcome = outcome;
    slot->result.err = err;
    slot->result.ret = 0;
    slot->result.setup_step = setup_step;
    slot->result.signal = signal;
    fl_slot_publish(slot);
}

long fl_wait_bounded(long pid, int *status, int64_t deadline_ns)
{
    const uint64_t chld = FL_SIG_BIT(SIGCHLD);
    for (;;) {
        long r = fl_wait4(pid, status, WNOHANG | WUNTRACED | __WALL);
        if (r != 0)
            return r;
        int64_t left = deadline_ns - fl_monotonic_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        /* SIGCHLD is blocked, so one sent since the wait4 above stays pending and ends this sleep at once.
           The slice bounds the delay for children that send no signal at all (exit_signal 0). */
        if (left > 10000000)
            left = 10000000;
        struct fl_timespec slice = {0, left};
        fl_sigtimedwait(&chld, &slice);
    }
}

/* SIGKILLs every child listed in /proc/thread-self/children (the last resort on a deadline). */
static void kill_all_children(void)
{
    long fd = fl_open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    long n = fl_read((int)fd, buf, sizeof buf - 1);
    fl_close((int)fd);
    long pid = 0;
    for (long i = 0; i < n; i++) {
        if (buf[i] >= '0' && buf[i] <= '9') {
            pid = pid * 10 + (buf[i] - '0');
        } else {
            if (pid > 0)
                fl_kill(pid, SIGKILL);
            pid = 0;
        }
    }
    if (pid > 0)
        fl_kill(pid, SIGKILL);
}

void fl_supervise(long pid, fl_slot *slot, int64_t deadline_ns, int match_parent_children)
{
    int killed = 0;
    int status = 0;

    /* 1. The direct child: resume it whenever it stops (an exit signal of SIGSTOP sent back to a caller). */
    for (;;) {
        long r = fl_wait_bounded(pid, &status, deadline_ns);
        if (r == -ETIMEDOUT) {
            if (killed)
                break; /* unkillable: give up on it rather than hang the host */
            if (!fl_slot_reported(slot))
                fl_slot_report(slot, FL_OUTCOME_PROBE_FAILED, ETIMEDOUT, 0, 0);
            fl_kill(pid, SIGKILL);
            killed = 1;
            deadline_ns = fl_monotonic_ns() + FL_PROBE_KILL_GRACE_NS;
            continue;
        }
        if (r < 0) {
            if (!fl_slot_reported(slot))
                fl_slot_report(slot, FL_OUTCOME_PROBE_FAILED, (int32_t)-r, 0, 0);
            break;
        }
        if (FL_WIFSTOPPED(status)) {
            fl_kill(pid, SIGCONT);
            continue;
        }
        if (!fl_slot_reported(slot)) {
            if (FL_WIFSIGNALED(status))
                fl_slot_report(slot, FL_OUTCOME_CALLER_KILLED, 0, 0, FL_WTERMSIG(status));
            else /* exited without reporting: a bug in the probe */
                fl_slot_report(slot, FL_OUTCOME_PROBE_FAILED, EPROTO, 0, 0);
        }
        break;
    }

    /* 2. Everything else: CLONE_PARENT children, orphans re-parented to us (subreaper, or pid-ns init). */
    if (!killed)
        deadline_ns = fl_monotonic_ns() + FL_PROBE_KILL_GRACE_NS;
    for (;;) {
        long r = fl_wait_bounded(-1, &status, deadline_ns);
        if (r == -ECHILD)
            break;
        if (r == -ETIMEDOUT) {
            if (killed > 1)
                break;
            kill_all_children();
            killed = 2;
            deadline_ns = fl_monotonic_ns() + FL_PROBE_KILL_GRACE_NS;
            continue;
        }
        if (r < 0)
            break;
        if (FL_WIFSTOPPED(status)) {
            fl_kill(r, SIGCONT);
            continue;
        }
        /* A CLONE_PARENT child made by our caller: same pid namespace, so its pid is the call's result. */
        if (match_parent_children && fl_slot_reported(slot) && slot->result.outcome == FL_OUTCOME_RETURNED &&
            slot->result.ret == r && slot->result.child_status == -1)
            slot->result.child_status = status;
    }
}

/* Returns 0 when the request is one this probe can carry out; EINVAL otherwise. */
static int request_valid(const fl_probe_request *rq)
{
    const fl_context *c = &rq->context;
    if (rq->call < FL_CALL_CLONE3 || rq->call > FL_CALL_VFORK)
        return 0;
    if (rq->args_kind != FL_PTR_RAW && rq->args_kind != FL_PTR_VALID)
        return 0;
    if (rq->args_kind == FL_PTR_VALID && rq->readable_bytes > 8192)
        return 0;
    if (rq->tail_nonzero_at < -1 ||
        (rq->tail_nonzero_at >= 0 && (uint32_t)rq->tail_nonzero_at >= rq->readable_bytes))
        return 0; /* the byte would lie in the guard page */
    if (rq->pidfd_kind < FL_PTR_RAW || rq->pidfd_kind > FL_PTR_SAME_AS_PARENT_TID)
        return 0;
    if ((rq->parent_tid_kind != FL_PTR_RAW && rq->parent_tid_kind != FL_PTR_VALID) ||
        (rq->child_tid_kind != FL_PTR_RAW && rq->child_tid_kind != FL_PTR_VALID) ||
        (rq->set_tid_kind != FL_PTR_RAW && rq->set_tid_kind != FL_PTR_VALID))
        return 0;
    if (rq->cgroup_source < FL_CGROUP_RAW || rq->cgroup_source > FL_CGROUP_OPEN_ANY)
        return 0;
    if (rq->cgroup_source != FL_CGROUP_RAW && rq->cgroup_path[0] == 0)
        return 0;
    if (rq->cgroup_path[sizeof rq->cgroup_path - 1] != 0 || c->chroot_path[sizeof c->chroot_path - 1] != 0)
        return 0; /* not NUL-terminated */
    if (c->userns_mode < FL_USERNS_NONE || c->userns_mode > FL_USERNS_MAPPED)
        return 0;
    if (c->user_ns_nesting < 0 || c->user_ns_nesting > 40 || c->pid_ns_nesting < 0 || c->pid_ns_nesting > 40)
        return 0;
    return 1;
}

/* Leaves no signal handler of the host's runtime in our processes: each one would run host code here. */
static void reset_signal_handlers(void)
{
    struct fl_kernel_sigaction dfl = {FL_SIG_DFL, 0, 0, 0};
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            fl_sigaction(sig, &dfl);
}

/* The keeper: runs every request in order in a fresh caller, reaps everything, exits. Never returns. */
static _Noreturn void keeper_main(const fl_probe_request *requests, fl_slot *slots, int32_t count, long host_pid,
                                  void *area, size_t area_bytes)
{
    /* Signals are all blocked (the host thread blocked them around the fork). */
    reset_signal_handlers();

    /* Die with the host; if it is already gone (we were re-parented before the prctl), stop. */
    fl_prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (fl_getppid() != host_pid)
        fl_exit_group(1);

    /* Orphans of callers (e.g. the child of a caller killed by its exit signal) come to us to be reaped. */
    fl_prctl(PR_SET_CHILD_SUBREAPER, 1);

    /* The host's memory: nothing of it is used from here on (see keeper_mm.c); copying it at every fork
       would cost more than the probes themselves. */
    fl_keeper_shed_host_memory(area, area_bytes);

    /* We inherited every fd of the host, including pipe ends other host threads are using for their own
       children: holding them would delay those pipes' EOF. Keep none; 0-2 become /dev/null. */
    if (fl_close_range(0, ~0U) < 0)
        for (int fd = 0; fd < 4096; fd++)
            fl_close(fd);
    long null_fd = fl_open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd == 0) {
        fl_dup2(0, 1);
        fl_dup2(0, 2);
    }

    for (int32_t i = 0; i < count; i++) {
        const fl_probe_request *rq = &requests[i];
        fl_slot *slot = &slots[i];
        if (!request_valid(rq)) {
            fl_slot_report(slot, FL_OUTCOME_PROBE_FAILED, EINVAL, 0, 0);
            continue;
        }
        int64_t deadline = fl_monotonic_ns() + FL_PROBE_DEADLINE_NS;
        long pid = fl_fork();
        if (pid == 0)
            fl_caller_main(rq, slot, deadline);
        if (pid < 0) {
            fl_slot_report(slot, FL_OUTCOME_PROBE_FAILED, (int32_t)-pid, 0, 0);
            continue;
        }
        /* A CLONE_PARENT child of the caller is our child, and has the pid the call returned only when the
           caller did not move itself into a deeper pid namespace. */
        int same_pidns = rq->context.pid_ns_nesting == 0 && !rq->context.as_init;
        fl_supervise(pid, slot, deadline, same_pidns);
    }
    fl_exit_group(0);
}

FL_EXPORT int fl_probe_run(const fl_probe_request *requests, fl_probe_result *results, int32_t count)
{
    if (count < 0 || (count > 0 && (requests == 0 || results == 0)))
        return -EINVAL;
    if (count == 0)
        return 0;

    /* One shared area: the slots, then a copy of the requests (the keeper drops the host's memory). */
    size_t bytes = ((size_t)count * (sizeof(fl_slot) + sizeof(fl_probe_request)) + 4095) & ~(size_t)4095;
    long area = fl_mmap(bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    if (area < 0 && area > -4096)
        return (int)area;
    fl_slot *slots = (fl_slot *)area;
    fl_probe_request *copies = (fl_probe_request *)(slots + count);
    for (int32_t i = 0; i < count; i++) {
        copies[i] = requests[i];
        /* What a request reports when the keeper never got to it (it was killed). */
        slots[i].result.outcome = FL_OUTCOME_PROBE_FAILED;
        slots[i].result.err = ECHILD;
        slots[i].result.ret = 0;
        slots[i].result.setup_step = 0;
        slots[i].result.signal = 0;
        slots[i].result.child_status = -1;
        slots[i].result.pidfd_seen = 0;
        slots[i].state = FL_SLOT_PENDING;
    }

    /* Block every signal in this host thread across the fork, so no host handler can ever run in the
       keeper: it starts with everything blocked, resets every handler to SIG_DFL and never unblocks. */
    const uint64_t all = FL_SIGSET_ALL;
    uint64_t old = 0;
    fl_sigprocmask(FL_SIG_SETMASK, &all, &old);
    long host_pid = fl_getpid();
    long keeper = fl_fork();
    if (keeper == 0)
        keeper_main(copies, slots, count, host_pid, slots, bytes);
    fl_sigprocmask(FL_SIG_SETMASK, &old, 0);
    if (keeper < 0) {
        fl_munmap(slots, bytes);
        return (int)keeper;
    }

    int status = 0;
    long r;
    do
        r = fl_wait4(keeper, &status, __WALL);
    while (r == -EINTR);
    /* r == -ECHILD: someone else reaped the keeper (a host that is pid 1 reaps all). It has exited either
       way, so the slots are final. */

    for (int32_t i = 0; i < count; i++)
        results[i] = slots[i].result;
    fl_munmap(slots, bytes);
    return 0;
}
