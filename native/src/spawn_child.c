/*
 * spawn_child.c: the spawn stage's child side, from the clone to the execve.
 *
 * Raw system calls and plain memory accesses only (spawn_internal.h says why and how that is checked). Every
 * blockable signal is blocked on entry (the parent blocked them around the clone) and stays blocked until the
 * requested mask is installed just before execve, so nothing interrupts the steps and no handler of the host
 * can run here.
 *
 * Shape: one flat list. Each stage (cgroup, fd relocation, signal reset, each plan step, the mask, execve) is
 * "call, check, on failure report {errno, step, detail} and exit 127". On the full path the report is one
 * 16-byte record on the close-on-exec error pipe, and EOF on that pipe tells the parent execve succeeded; on the
 * fast path it goes into the mailbox in the memory shared with the suspended parent (there is no pipe).
 */
#include "spawn_internal.h"

#define FL_CHILD_EXIT_FAILED 127

typedef struct child_state {
    const fl_spawn_plan *plan;
    int efd;            /* the error pipe (write end), possibly moved above the steps' fds; -1 on the fast path */
    int sfd;            /* the sync pipe (read end), or -1 */
    fl_spawn_record *mailbox; /* fast path: report here, in the shared memory (see fl_child_ctx) */
    uint64_t slot_set;  /* bit n: slots[n] holds an fd made by FL_OP_DUP_ABOVE */
    int32_t slots[FL_MAX_SLOTS];
    volatile int32_t *failed; /* FL_OP_INIT's program process: set before a failure exit, so the suspended init
                                 process (same memory, CLONE_VM) knows not to exec the init. NULL elsewhere */
} child_state;

static _Noreturn void run_program(child_state *s, uint32_t first);
static _Noreturn void run_init(child_state *s, uint32_t i);

/* Reports one record. Fast path: exec errnos go straight into plan->exec_errnos and the final record into the
   mailbox, both in the memory shared with the suspended parent. Full path: the record is written whole to the
   pipe (a pipe write of 16 bytes is atomic; the loop only guards against the impossible). */
static void write_record(const child_state *s, int32_t err, int32_t step, int32_t detail)
{
    if (s->mailbox) {
        const fl_spawn_plan *plan = s->plan;
        if ((step == FL_STEP_EXEC || step == FL_STEP_EXEC_TRIED) && plan->exec_errnos && detail >= 0 &&
            (uint32_t)detail < plan->exec_path_count)
            plan->exec_errnos[detail] = err;
        if (step != FL_STEP_EXEC_TRIED) {
            s->mailbox->err = err;
            s->mailbox->step = step;
            s->mailbox->detail = detail;
            __atomic_store_n(&s->mailbox->magic, FL_SPAWN_RECORD_MAGIC, __ATOMIC_RELEASE);
        }
        return;
    }
    int fd = s->efd;
    fl_spawn_record rec = {FL_SPAWN_RECORD_MAGIC, err, step, detail};
    const char *p = (const char *)&rec;
    size_t left = sizeof rec;
    while (left > 0) {
        long n = fl_write(fd, p, left);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            return; /* the parent is gone or the pipe broke: nobody to tell */
        p += n;
        left -= (size_t)n;
    }
}

/* The single failure exit: neg_err is the raw -errno of the failed call. */
static _Noreturn void fail(const child_state *s, long neg_err, int32_t step, int32_t detail)
{
    write_record(s, (int32_t)-neg_err, step, detail);
    if (s->failed)
        *s->failed = 1;
    fl_exit_group(FL_CHILD_EXIT_FAILED);
}

/* An fd argument: a plain fd, or FL_FD_SLOT(n) for an fd made by FL_OP_DUP_ABOVE. Returns the fd or -EBADF. */
static long resolve_fd(const child_state *s, int64_t v)
{
    if (v <= FL_FD_SLOT(0) && v > FL_FD_SLOT(FL_MAX_SLOTS)) {
        int n = (int)(FL_FD_SLOT(0) - v);
        return (s->slot_set >> n) & 1 ? s->slots[n] : -EBADF;
    }
    if (v < 0 || v > 0x7fffffff)
        return -EBADF;
    return (long)v;
}

/* A close_range bound: a slot, or a number clamped to 0xffffffff ("all"). */
static long range_bound(const child_state *s, int64_t v)
{
    if (v < 0)
        return resolve_fd(s, v);
    return v > 0xffffffffLL ? 0xffffffffLL : (long)v;
}

/* Marks [first, last] close-on-exec, or closes it, one fd at a time (close_range before 5.9, CLOEXEC before 5.11).
   Bounded by the RLIMIT_NOFILE soft limit: no fd can be open at or above it. */
static long close_range_by_loop(uint32_t first, uint32_t last, uint32_t flags)
{
    struct fl_rlimit64 nofile = {0, 0};
    long r = fl_prlimit(RLIMIT_NOFILE, 0, &nofile);
    if (r < 0)
        return r;
    if (nofile.cur == 0)
        return 0;
    if ((uint64_t)last > nofile.cur - 1)
        last = (uint32_t)(nofile.cur - 1);
    for (uint64_t fd = first; fd <= last; fd++) {
        if (flags & CLOSE_RANGE_CLOEXEC)
            fl_fcntl((int)fd, FL_F_SETFD, FL_FD_CLOEXEC); /* EBADF for the closed ones: nothing to do */
        else
            fl_close((int)fd);
    }
    return 0;
}

static long close_range_one(uint32_t first, uint32_t last, uint32_t flags)
{
    if (first > last)
        return 0;
    long r = fl_close_range_flags(first, last, flags);
    if (r == -ENOSYS || (r == -EINVAL && (flags & CLOSE_RANGE_CLOEXEC)))
        r = close_range_by_loop(first, last, flags & CLOSE_RANGE_CLOEXEC);
    return r;
}

/* close_range that spares the stage's own pipe ends (they sit above every fd the steps name, but a range may
   reach them: "3 to all"). Marking them close-on-exec is harmless: they already are. */
static long close_range_sparing(const child_state *s, uint32_t first, uint32_t last, uint32_t flags)
{
    if (flags & CLOSE_RANGE_CLOEXEC)
        return close_range_one(first, last, flags);
    /* the pipe ends that exist (none on the fast path, which reports through the mailbox), in order */
    uint32_t keep[2];
    int n = 0;
    if (s->efd >= 0)
        keep[n++] = (uint32_t)s->efd;
    if (s->sfd >= 0)
        keep[n++] = (uint32_t)s->sfd;
    if (n == 2 && keep[1] < keep[0]) {
        uint32_t t = keep[0];
        keep[0] = keep[1];
        keep[1] = t;
    }
    uint32_t lo = first;
    for (int i = 0; i < n; i++) {
        if (keep[i] < lo || keep[i] > last)
            continue;
        if (keep[i] > lo) {
            long r = close_range_one(lo, keep[i] - 1, flags);
            if (r < 0)
                return r;
        }
        if (keep[i] == last)
            return 0;
        lo = keep[i] + 1;
    }
    return close_range_one(lo, last, flags);
}

/* Moves one of the stage's fds (>= 0) above `floor`, keeping it close-on-exec. Returns the new fd or -errno. */
static long move_above(int fd, int floor)
{
    if (fd > floor)
        return fd;
    long moved = fl_fcntl(fd, FL_F_DUPFD_CLOEXEC, (long)floor + 1);
    if (moved < 0)
        return moved;
    fl_close(fd);
    return moved;
}

/* write(2) until all of len is written; 0 or -errno (-EIO when the file takes no more). */
static long write_all(int fd, const char *p, uint64_t len)
{
    while (len > 0) {
        long n = fl_write(fd, p, len);
        if (n == -EINTR)
            continue;
        if (n < 0)
            return n;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (uint64_t)n;
    }
    return 0;
}

/* Runs step i. Returns 0, or -errno with *detail set to the fd or signal concerned. */
static long run_step(child_state *s, const fl_spawn_step *st, int32_t *detail)
{
    long r = 0, fd = 0, to = 0;
    *detail = 0;
    switch (st->op) {
    /* Dup2: from == to only clears close-on-exec (dup2 would do nothing) */
    case FL_OP_DUP2:
        fd = resolve_fd(s, st->a);
        to = resolve_fd(s, st->b);
        *detail = (int32_t)(fd < 0 ? st->a : to < 0 ? st->b : to);
        if (fd < 0 || to < 0)
            return -EBADF;
        return fd == to ? fl_fcntl((int)fd, FL_F_SETFD, 0) : fl_dup2((int)fd, (int)to);

    /* Close */
    case FL_OP_CLOSE:
        fd = resolve_fd(s, st->a);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        if (fd < 0)
            return fd;
        r = fl_close((int)fd);
        return r == -EINTR ? 0 : r; /* Linux has closed the fd even then */

    /* Close range (or mark it close-on-exec) */
    case FL_OP_CLOSE_RANGE:
        fd = range_bound(s, st->a);
        to = range_bound(s, st->b);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        if (fd < 0 || to < 0)
            return -EBADF;
        return close_range_sparing(s, (uint32_t)fd, (uint32_t)to, (uint32_t)st->c);

    /* Open onto a given fd */
    case FL_OP_OPEN:
        to = resolve_fd(s, st->a);
        *detail = (int32_t)(to < 0 ? st->a : to);
        if (to < 0)
            return to;
        fd = fl_openat(AT_FDCWD, st->str, (int)st->b, (int)st->c);
        if (fd < 0 || fd == to)
            return fd < 0 ? fd : 0;
        r = fl_dup3((int)fd, (int)to, (int)(st->b & O_CLOEXEC));
        fl_close((int)fd);
        return r;

    /* Working directory */
    case FL_OP_CHDIR:
        r = fl_chdir(st->str);
        return r < 0 && st->b == 1 ? fl_chdir("/") : r;
    case FL_OP_FCHDIR:
        fd = resolve_fd(s, st->a);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        return fd < 0 ? fd : fl_fchdir((int)fd);

    /* Umask (cannot fail) */
    case FL_OP_UMASK:
        fl_umask((unsigned)st->a);
        return 0;

    /* Session and process group */
    case FL_OP_SETSID:
        return fl_setsid();
    case FL_OP_SETPGID:
        return fl_setpgid(0, (long)st->a);

    /* Controlling terminal, foreground group (SIGTTOU is blocked, so a background child is not stopped) */
    case FL_OP_SET_CTTY:
        fd = resolve_fd(s, st->a);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        return fd < 0 ? fd : fl_ioctl((int)fd, TIOCSCTTY, (void *)(long)st->b);
    case FL_OP_TCSETPGRP: {
        fd = resolve_fd(s, st->a);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        if (fd < 0)
            return fd;
        long pgrp = fl_getpgid(0);
        if (pgrp < 0)
            return pgrp;
        int32_t pg = (int32_t)pgrp;
        return fl_ioctl((int)fd, TIOCSPGRP, &pg);
    }

    /* Parent death signal; if the parent died before the prctl, nobody will send it: send it ourselves. It stays
       pending (blocked) until the mask is installed before execve, and then ends us (handlers are reset). */
    case FL_OP_PDEATHSIG:
        *detail = (int32_t)st->a;
        r = fl_prctl(PR_SET_PDEATHSIG, (unsigned long)st->a);
        if (r < 0 || st->b <= 0 || fl_getppid() == st->b)
            return r;
        return fl_kill(fl_getpid(), (int)st->a);

    /* Resource limit */
    case FL_OP_SETRLIMIT: {
        struct fl_rlimit64 lim = {(uint64_t)st->b, (uint64_t)st->c};
        return fl_prlimit((int)st->a, &lim, 0);
    }

    /* Credentials: the raw calls change only this (single-threaded) process, no glibc broadcast */
    case FL_OP_SETGROUPS:
        return fl_setgroups((long)st->a, st->ptr);
    case FL_OP_SETRESGID:
        return fl_setresgid((long)st->a);
    case FL_OP_SETRESUID:
        return fl_setresuid((long)st->a);

    /* No new privileges */
    case FL_OP_NO_NEW_PRIVS:
        return fl_prctl5(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

    /* One signal's disposition */
    case FL_OP_SIGNAL_DEFAULT:
    case FL_OP_SIGNAL_IGNORE: {
        struct fl_kernel_sigaction act = {st->op == FL_OP_SIGNAL_IGNORE ? FL_SIG_IGN : FL_SIG_DFL, 0, 0, 0};
        *detail = (int32_t)st->a;
        return fl_sigaction((int)st->a, &act);
    }

    /* Write a file (procfs control files, cgroup files) */
    case FL_OP_WRITE_FILE:
        fd = fl_open(st->str, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return fd;
        r = write_all((int)fd, (const char *)st->ptr, (uint64_t)st->a);
        fl_close((int)fd);
        return r;

    /* Enter a cgroup: "0" is the writer itself (Documentation/admin-guide/cgroup-v1/cgroups.rst, cgroup.procs) */
    case FL_OP_JOIN_CGROUP:
        fd = fl_open(st->str, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return fd;
        r = write_all((int)fd, "0", 1);
        fl_close((int)fd);
        return r;

    /* Wait for the parent's go (a read error is the sync stage's, EOF means the parent gave up) */
    case FL_OP_WAIT_PARENT: {
        char go = 0;
        do
            r = fl_read(s->sfd, &go, 1);
        while (r == -EINTR);
        if (r == 0)
            fl_exit_group(FL_CHILD_EXIT_FAILED);
        if (r < 0)
            fail(s, r, FL_STEP_SYNC, s->sfd);
        return 0;
    }

    /* Duplicate above a minimum, into a slot */
    case FL_OP_DUP_ABOVE:
        fd = resolve_fd(s, st->a);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        if (fd < 0)
            return fd;
        if (st->c < 0 || st->c >= FL_MAX_SLOTS)
            return -EINVAL;
        r = fl_fcntl((int)fd, FL_F_DUPFD_CLOEXEC, (long)st->b);
        if (r < 0)
            return r;
        s->slots[st->c] = (int32_t)r;
        s->slot_set |= 1ULL << st->c;
        return 0;

    /* ---- isolation ---- */
    case FL_OP_SETNS:
        fd = resolve_fd(s, st->a);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        return fd < 0 ? fd : fl_setns((int)fd, (long)st->b);
    case FL_OP_UNSHARE:
        return fl_unshare((unsigned long)st->a);

    /* mount(2): the packed "source\0fstype\0data\0" of ptr, an empty part meaning NULL */
    case FL_OP_MOUNT: {
        const char *src = (const char *)st->ptr;
        const char *type = src;
        while (*type)
            type++;
        type++;
        const char *data = type;
        while (*data)
            data++;
        data++;
        return fl_mount(*src ? src : 0, st->str, *type ? type : 0, (unsigned long)st->a, *data ? data : 0);
    }
    case FL_OP_MKDIR:
        r = fl_mkdirat(AT_FDCWD, st->str, (int)st->a);
        return r == -EEXIST && st->b ? 0 : r;
    case FL_OP_CREATE_FILE:
        r = fl_mknodat(AT_FDCWD, st->str, FL_S_IFREG | (int)(st->a & 07777), 0);
        return r == -EEXIST ? 0 : r;
    case FL_OP_SYMLINK:
        r = fl_symlinkat((const char *)st->ptr, AT_FDCWD, st->str);
        return r == -EEXIST && st->b ? 0 : r;
    case FL_OP_SETHOSTNAME:
        return fl_sethostname(st->str, (long)st->a);
    case FL_OP_SETDOMAINNAME:
        return fl_setdomainname(st->str, (long)st->a);

    /* A new network namespace has only "lo", down (net/core/net_namespace.c); ip(8) does the same two ioctls */
    case FL_OP_LOOPBACK_UP: {
        struct fl_ifreq ifr = {{'l', 'o', 0}, 0, {0}};
        fd = fl_socket(FL_AF_INET, FL_SOCK_DGRAM | FL_SOCK_CLOEXEC, 0);
        if (fd < 0)
            return fd;
        r = fl_ioctl((int)fd, FL_SIOCGIFFLAGS, &ifr);
        if (r >= 0) {
            ifr.flags = (int16_t)(ifr.flags | FL_IFF_UP);
            r = fl_ioctl((int)fd, FL_SIOCSIFFLAGS, &ifr);
        }
        fl_close((int)fd);
        return r;
    }

    /* The new mount API (5.2+): a detached copy of a tree, kept in a slot until it is moved into place */
    case FL_OP_OPEN_TREE:
        if (st->c < 0 || st->c >= FL_MAX_SLOTS)
            return -EINVAL;
        r = fl_open_tree(AT_FDCWD, st->str, (unsigned)st->a | O_CLOEXEC);
        if (r < 0)
            return r;
        s->slots[st->c] = (int32_t)r;
        s->slot_set |= 1ULL << st->c;
        return 0;
    case FL_OP_MOVE_MOUNT:
        fd = resolve_fd(s, st->a);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        return fd < 0 ? fd : fl_move_mount((int)fd, "", AT_FDCWD, st->str, FL_MOVE_MOUNT_F_EMPTY_PATH);
    case FL_OP_MOUNT_SETATTR: {
        struct fl_mount_attr attr = {(uint64_t)st->b & 0xffffffffULL, (uint64_t)st->b >> 32, 0, 0};
        if (st->a == FL_AT_FDCWD)
            return fl_mount_setattr(AT_FDCWD, st->str, (unsigned)st->c, &attr);
        fd = resolve_fd(s, st->a);
        *detail = (int32_t)(fd < 0 ? st->a : fd);
        return fd < 0 ? fd : fl_mount_setattr((int)fd, "", (unsigned)st->c | FL_AT_EMPTY_PATH, &attr);
    }

    /* Capabilities (capabilities(7)): bounding set, then the three sets, then ambient */
    case FL_OP_KEEPCAPS:
        return fl_prctl(FL_PR_SET_KEEPCAPS, (unsigned long)st->a);
    case FL_OP_CAPBSET_DROP:
        for (int cap = 0; cap < 64; cap++) {
            if (!(((uint64_t)st->a >> cap) & 1))
                continue;
            *detail = cap;
            r = fl_prctl(FL_PR_CAPBSET_DROP, (unsigned long)cap);
            if (r < 0)
                return r;
        }
        return 0;
    case FL_OP_CAPSET: {
        struct fl_cap_header h = {_LINUX_CAPABILITY_VERSION_3, 0};
        const uint64_t e = (uint64_t)st->a, p = (uint64_t)st->b, i = (uint64_t)st->c;
        struct fl_cap_data d[2] = {{(uint32_t)e, (uint32_t)p, (uint32_t)i},
                                   {(uint32_t)(e >> 32), (uint32_t)(p >> 32), (uint32_t)(i >> 32)}};
        return fl_capset(&h, d);
    }
    case FL_OP_AMBIENT:
        r = fl_prctl5(FL_PR_CAP_AMBIENT, FL_PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        for (int cap = 0; r >= 0 && cap < 64; cap++) {
            if (!(((uint64_t)st->a >> cap) & 1))
                continue;
            *detail = cap;
            r = fl_prctl5(FL_PR_CAP_AMBIENT, FL_PR_CAP_AMBIENT_RAISE, (unsigned long)cap, 0, 0);
        }
        return r;

    default:
        return -EINVAL;
    }
}

/* execvp's rule for going on to the next candidate (EACCES is handled apart: it goes on but is remembered). */
static int try_next(long err)
{
    return err == -ENOENT || err == -ENOTDIR || err == -ESTALE || err == -ENODEV || err == -ETIMEDOUT;
}

_Noreturn void fl_spawn_child(const fl_child_ctx *ctx)
{
    child_state s;
    s.plan = ctx->plan;
    s.efd = ctx->error_fd;
    s.sfd = ctx->sync_fd;
    s.mailbox = ctx->mailbox;
    s.slot_set = 0;
    s.failed = 0;
    long r;

    /* The parent's pipe ends: the copies in our fd table would keep the sync pipe from ever reaching EOF */
    for (int i = 0; i < 2; i++)
        if (ctx->parent_fds[i] >= 0)
            fl_close(ctx->parent_fds[i]);

    /* CLONE_INTO_CGROUP, emulated after a legacy clone: join the cgroup before doing anything else */
    if (ctx->join_cgroup) {
        r = fl_openat(ctx->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC, 0);
        if (r >= 0) {
            long fd = r;
            r = write_all((int)fd, "0", 1);
            fl_close((int)fd);
        }
        if (r < 0)
            fail(&s, r, FL_STEP_CLONE, ctx->cgroup_fd);
    }

    /* The stage's pipe ends (the full path's): out of the way of every fd a step names */
    if (s.efd >= 0) {
        r = move_above(s.efd, ctx->fd_floor);
        if (r < 0)
            fail(&s, r, FL_STEP_SETUP, s.efd);
        s.efd = (int)r;
    }
    if (s.sfd >= 0) {
        r = move_above(s.sfd, ctx->fd_floor);
        if (r < 0)
            fail(&s, r, FL_STEP_SETUP, s.sfd);
        s.sfd = (int)r;
    }

    /* Signal handlers: the host's must never run here. Caught signals go back to SIG_DFL, ignored ones stay
       ignored (what CLONE_CLEAR_SIGHAND does, kernel/signal.c flush_signal_handlers) */
    if (ctx->reset_handlers) {
        const struct fl_kernel_sigaction dfl = {FL_SIG_DFL, 0, 0, 0};
        for (int sig = 1; sig <= 64; sig++) {
            if (sig == SIGKILL || sig == SIGSTOP)
                continue;
            struct fl_kernel_sigaction old = {0, 0, 0, 0};
            r = fl_sigaction_rw(sig, 0, &old);
            if (r >= 0 && old.handler != FL_SIG_DFL && old.handler != FL_SIG_IGN)
                r = fl_sigaction_rw(sig, &dfl, 0);
            if (r < 0)
                fail(&s, r, FL_STEP_SIGNALS, sig);
        }
    }

    run_program(&s, 0);
}

/* The steps from `first` on, the mask, then execve. */
static _Noreturn void run_program(child_state *s, uint32_t first)
{
    const fl_spawn_plan *plan = s->plan;
    long r;

    /* The plan's steps, in order */
    for (uint32_t i = first; i < plan->step_count; i++) {
        if (plan->steps[i].op == FL_OP_INIT)
            run_init(s, i);
        int32_t detail = 0;
        r = run_step(s, &plan->steps[i], &detail);
        if (r < 0)
            fail(s, r, (int32_t)i, detail);
    }

    /* The signal mask the program starts with */
    uint64_t mask = (plan->flags & FL_PLAN_SET_SIGMASK) ? plan->sigmask : 0;
    r = fl_sigprocmask(FL_SIG_SETMASK, &mask, 0);
    if (r < 0)
        fail(s, r, FL_STEP_SIGNALS, 0);

    /* Execve, each candidate in order (execvp's rules). Each failed candidate that is not the one reported gets a
       TRIED record, so the parent can fill exec_errnos even when a later candidate succeeds */
    int32_t eacces_at = -1;
    for (uint32_t i = 0; i < plan->exec_path_count; i++) {
        r = fl_execve(plan->exec_paths[i], plan->argv, plan->envp);
        int last = i + 1 == plan->exec_path_count;
        int goes_on = try_next(r) || r == -EACCES;
        if (goes_on && !last) {
            write_record(s, (int32_t)-r, FL_STEP_EXEC_TRIED, (int32_t)i);
            if (r == -EACCES && eacces_at < 0)
                eacces_at = (int32_t)i;
            continue;
        }
        if (goes_on && eacces_at >= 0) {
            /* exhausted: the first EACCES is the answer; this candidate's own errno is a TRIED record */
            write_record(s, (int32_t)-r, FL_STEP_EXEC_TRIED, (int32_t)i);
            fail(s, -EACCES, FL_STEP_EXEC, eacces_at);
        }
        fail(s, r, FL_STEP_EXEC, (int32_t)i);
    }
    fail(s, -EINVAL, FL_STEP_EXEC, 0); /* no candidate at all (the parent refuses such plans) */
}

/* ---- FL_OP_INIT: the program runs as a child of an init ----
 * This process (pid 1 of a new pid namespace, or a process that joined one and must fork to enter it) forks the
 * program process with CLONE_VM|CLONE_VFORK on a stack carved from this frame: it is suspended until the program
 * process has exec'd or failed, so the frame stays intact, and the program process reports through the same
 * channel as every step (the fast path's mailbox, else the error pipe). Then this process execs the init. Why an
 * exec rather than an init loop right here: on the fast path this process still runs in the .NET host's memory
 * (the host thread waits for that exec); on the full path it holds a copy-on-write image of the host, which would
 * pin every page the host later writes for as long as the sandbox runs. The init binary is small and static. */
#define FL_INIT_CHILD_STACK (16 * 1024)

struct init_start {
    child_state *s;
    uint32_t first;
};

/* Entered from clone_program's asm on the program process's stack. */
__attribute__((visibility("hidden"))) _Noreturn void fl_init_program(struct init_start *start);
_Noreturn void fl_init_program(struct init_start *start) { run_program(start->s, start->first); }

/* Legacy clone(flags, newsp): the child (rax == 0) aligns its new stack and calls fl_init_program(r12). */
__attribute__((noinline)) static long clone_program(long flags, char *stack_top, struct init_start *start)
{
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    register struct init_start *r12 __asm__("r12") = start;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "and $-16, %%rsp\n\t"
                     "mov %%r12, %%rdi\n\t"
                     "call fl_init_program\n\t"
                     "ud2\n"
                     "1:\n\t"
                     : "=a"(ret)
                     : "0"((long)__NR_clone), "D"(flags), "S"(stack_top), "d"(0L), "r"(r10), "r"(r8), "r"(r12)
                     : "rcx", "r11", "memory");
    return ret;
}

static _Noreturn void run_init(child_state *s, uint32_t i)
{
    const fl_spawn_step *st = &s->plan->steps[i];
    volatile int32_t failed = 0;
    char stack[FL_INIT_CHILD_STACK] __attribute__((aligned(16)));
    struct init_start start = {s, i + 1};
    s->failed = &failed;
    long pid = clone_program(CLONE_VM | CLONE_VFORK | SIGCHLD, stack + sizeof stack, &start);
    s->failed = 0;
    if (pid < 0)
        fail(s, pid, (int32_t)i, 0);
    if (failed)
        fl_exit_group(FL_CHILD_EXIT_FAILED); /* the program process has reported its failure */

    /* argv[1]: the program's pid, in decimal */
    char num[24];
    char *p = num + sizeof num;
    *--p = 0;
    long v = pid;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    const char *argv[3] = {st->str, p, 0};
    const char *envp[1] = {0};
    /* By the fd the parent opened before any mount could hide the file (a /tmp covered by the sandbox's tmpfs),
       else by path */
    long r = st->a >= 0 ? FL_SYS5(__NR_execveat, (int)st->a, "", argv, envp, FL_AT_EMPTY_PATH)
                        : fl_execve(st->str, argv, envp);
    /* No init: the program must not run on unsupervised (outside a new pid namespace nothing would end it) */
    fl_kill(pid, SIGKILL);
    fail(s, r, (int32_t)i, 0);
}
