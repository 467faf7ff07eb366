/*
 * spawn.c: the spawn stage's parent side: fl_spawn, fl_spawn_release and the layout exports.
 *
 * Runs in the multithreaded .NET host, before and after the clone. It could use libc, but does not: the raw
 * calls of fl_sys.h/spawn_sys.h keep the library's import list empty (native/allowed-symbols.txt) and leave no
 * doubt about what runs where. The child side is spawn_child.c.
 *
 * One call: validate the plan (every refusal before any resource is taken), block every signal in this thread,
 * take a child stack (fast path) or make the pipes (full path), clone (clone3, else the legacy clone with the
 * emulations), restore the mask, then read the mailbox (fast path) or the error pipe (EOF = exec'd): a record
 * means the child failed (it is reaped and its pidfd closed). Every fd made here is closed on every path except the pidfd of a live child and,
 * for FL_PLAN_SYNC, the two pipe ends handed to fl_spawn_release.
 */
#include "spawn_internal.h"

#define FL_PAGE 4096UL
#define FL_STACK_DEFAULT (64UL * 1024)
#define FL_STACK_MIN (16UL * 1024) /* the child routine needs about 1 KiB; the rest is margin */
#define FL_STACK_POOL_SIZE 8

#define FL_PLAN_KNOWN_FLAGS                                                                                   \
    (FL_PLAN_FAST | FL_PLAN_NO_CLONE3 | FL_PLAN_FALLBACK_ON_EPERM | FL_PLAN_SYNC | FL_PLAN_RESET_SIGNALS |      \
     FL_PLAN_SET_SIGMASK | FL_PLAN_TIME_CALL)

/* Clone flags a plan may not pass: the stage sets them itself (VM, VFORK), or they would make the child share the
   stage's state with the host (the fd table holding the pipes, the cwd and umask, the signal handlers, the
   thread group), or they need pointers the stage does not provide (TLS, the tid words), or they are the legacy
   exit-signal byte (plan.exit_signal carries it). */
#define FL_CLONE_REFUSED                                                                                      \
    (0xffULL | CLONE_VM | CLONE_VFORK | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SETTLS |   \
     CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)
/* The bits above 32 the legacy clone path knows how to emulate (the legacy syscall drops the upper half). */
#define FL_CLONE_EMULATED_HIGH (CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP)

/* struct clone_args, VER2 (88 bytes: up to cgroup), include/uapi/linux/sched.h */
struct fl_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};
_Static_assert(sizeof(struct fl_clone_args) == 88, "clone_args VER2 is 88 bytes");

/* The size clone3 is given: the smallest that holds what the call uses, VER0 (64: flags .. tls), VER1 (80: +
   set_tid) or VER2 (88: + cgroup). Any of them is the kernel's ABI: copy_clone_args_from_user (kernel/fork.c)
   accepts 64 to PAGE_SIZE bytes and copy_struct_from_user zero-fills the fields past the size, so the kernel
   sees exactly the same request as with 88 and a zero tail. It also tells our clone3 calls apart from glibc's,
   which always pass 88 (its pthread_create and posix_spawn): a seccomp filter can refuse ours alone, which is
   how the EPERM fallback is tested under a real filter in a process whose runtime makes threads with clone3. */
static unsigned long clone_args_size(const struct fl_clone_args *a)
{
    if (a->flags & CLONE_INTO_CGROUP)
        return 88;
    if (a->set_tid != 0 || a->set_tid_size != 0)
        return 80;
    return 64;
}

/* ---- the fast path's child stacks ----
 * A mapping [guard page | stack ... | fl_stack header]: the header sits at the very top, the child starts just
 * below it. With CLONE_VFORK the parent resumes only once the child has exec'd or exited, so the stack is free
 * again when fl_spawn continues: it goes back to a small lock-free pool (one atomic exchange per slot), which
 * serves concurrent spawning threads without a per-thread cache that would leak a mapping for every thread the
 * host retires. */
typedef struct fl_stack {
    uint64_t map_len; /* whole mapping, guard page included */
    uint64_t usable;  /* bytes from the guard page to the top */
} fl_stack;

static fl_stack *stack_pool[FL_STACK_POOL_SIZE];

static char *stack_base(fl_stack *s) { return (char *)s + sizeof *s - s->map_len; }

static void stack_free(fl_stack *s) { fl_munmap(stack_base(s), s->map_len); }

static fl_stack *stack_acquire(uint64_t usable, long *err)
{
    for (int i = 0; i < FL_STACK_POOL_SIZE; i++) {
        fl_stack *s = __atomic_exchange_n(&stack_pool[i], (fl_stack *)0, __ATOMIC_ACQUIRE);
        if (s == 0)
            continue;
        if (s->usable == usable)
            return s;
        stack_free(s); /* a plan asked for another size: keep the pool to the latest */
    }
    uint64_t map_len = usable + FL_PAGE;
    long base = fl_mmap(map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK);
    if (base < 0) {
        *err = base;
        return 0;
    }
    long r = fl_mprotect((void *)base, FL_PAGE, PROT_NONE);
    if (r < 0) {
        fl_munmap((void *)base, map_len);
        *err = r;
        return 0;
    }
    fl_stack *s = (fl_stack *)(base + (long)map_len - (long)sizeof(fl_stack));
    s->map_len = map_len;
    s->usable = usable;
    return s;
}

static void stack_release(fl_stack *s)
{
    for (int i = 0; i < FL_STACK_POOL_SIZE; i++) {
        fl_stack *expected = 0;
        if (__atomic_compare_exchange_n(&stack_pool[i], &expected, s, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return;
    }
    stack_free(s);
}

/*
 * The clone itself (clone3 or legacy clone: nr and the five register arguments in x86-64 order). The parent
 * returns the raw result. The child (rax == 0) never returns into C here: on the fast path its stack pointer is
 * the stage stack the kernel switched to, and these frames belong to the suspended parent; on the full path it
 * is its own copy of our stack. Either way it drops below any red zone, aligns, and calls fl_spawn_child with
 * the context from r12 (callee-saved, so the kernel hands it to the child unchanged). rbp = 0 ends backtraces.
 */
__attribute__((noinline)) static long clone_into_child(long nr, long a1, long a2, long a3, long a4, long a5,
                                                       const fl_child_ctx *ctx)
{
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register const fl_child_ctx *r12 __asm__("r12") = ctx;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "sub $128, %%rsp\n\t"
                     "and $-16, %%rsp\n\t"
                     "mov %%r12, %%rdi\n\t"
                     "call fl_spawn_child\n\t"
                     "ud2\n"
                     "1:\n\t"
                     : "=a"(ret)
                     : "0"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r12)
                     : "rcx", "r11", "memory");
    return ret;
}

static void set_error(fl_spawn_result *r, int32_t err, int32_t step, int32_t detail)
{
    r->ok = 0;
    r->error_errno = err;
    r->error_step = step;
    r->error_detail = detail;
}

static long read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        long n = fl_read(fd, (char *)buf + got, len - got);
        if (n == -EINTR)
            continue;
        if (n < 0)
            return n;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long)got;
}

#define FL_COLLECT_EXECED 0
#define FL_COLLECT_FAILED 1  /* the child reported a failure and exits by itself */
#define FL_COLLECT_UNKNOWN 2 /* the pipe said nothing trustworthy: the child's state is unknown */

/* Reads the error pipe until EOF or the child's failure record, filing TRIED records in exec_errnos. */
static int collect(int fd, const fl_spawn_plan *plan, fl_spawn_result *result)
{
    int32_t *errnos = plan ? plan->exec_errnos : 0;
    uint32_t count = plan ? plan->exec_path_count : 0;
    for (;;) {
        fl_spawn_record rec;
        long n = read_full(fd, &rec, sizeof rec);
        if (n == 0)
            return FL_COLLECT_EXECED;
        if (n < 0) {
            set_error(result, (int32_t)-n, FL_STEP_SETUP, fd);
            return FL_COLLECT_UNKNOWN;
        }
        if (n != (long)sizeof rec || rec.magic != FL_SPAWN_RECORD_MAGIC) {
            /* a short read is corruption, never success */
            set_error(result, EPROTO, FL_STEP_SETUP, fd);
            return FL_COLLECT_UNKNOWN;
        }
        if ((rec.step == FL_STEP_EXEC || rec.step == FL_STEP_EXEC_TRIED) && errnos && rec.detail >= 0 &&
            (uint32_t)rec.detail < count)
            errnos[rec.detail] = rec.err;
        if (rec.step == FL_STEP_EXEC_TRIED)
            continue;
        set_error(result, rec.err, rec.step, rec.detail);
        return FL_COLLECT_FAILED;
    }
}

/* A child that failed (or whose state is unknown: killed first) is reaped, and its pidfd closed. ECHILD: it was
   not ours to reap (CLONE_PARENT) or someone else did. */
static void end_child(fl_spawn_result *result, int kill)
{
    if (result->pidfd < 0)
        return;
    if (kill)
        fl_pidfd_signal(result->pidfd, SIGKILL);
    struct fl_siginfo_chld info;
    long r;
    do
        r = fl_waitid(FL_P_PIDFD, result->pidfd, &info, WEXITED | __WALL, 0);
    while (r == -EINTR);
    fl_close(result->pidfd);
    result->pidfd = -1;
    result->ok = 0;
}

/* Validates the plan before anything is taken. Returns 0 or an errno with step and detail set. Also finds the
   highest fd a step overwrites or closes (the child moves its pipe ends above it). */
static int32_t validate(const fl_spawn_plan *plan, int32_t *step, int32_t *detail, int32_t *fd_floor)
{
    *step = FL_STEP_SETUP;
    *detail = 0;
    *fd_floor = -1;
    if (plan->version != FL_SPAWN_VERSION || (plan->flags & ~(uint32_t)FL_PLAN_KNOWN_FLAGS) != 0)
        return EINVAL;
    if ((plan->flags & FL_PLAN_FAST) && (plan->flags & FL_PLAN_SYNC))
        return EINVAL; /* a vfork parent cannot act before the exec */
    if (plan->exec_path_count == 0 || plan->exec_path_count > FL_MAX_EXEC_PATHS || plan->exec_paths == 0 ||
        plan->argv == 0)
        return EINVAL;
    if (plan->step_count > 0 && plan->steps == 0)
        return EINVAL;
    int waits = 0, inits = 0;
    for (uint32_t i = 0; i < plan->step_count; i++) {
        const fl_spawn_step *st = &plan->steps[i];
        *step = (int32_t)i;
        if ((st->op < FL_OP_DUP2 || st->op > FL_OP_INIT) && st->op != FL_OP_JOIN_CGROUP)
            return EINVAL;
        if (st->op == FL_OP_WAIT_PARENT && (!(plan->flags & FL_PLAN_SYNC) || ++waits > 1))
            return EINVAL;
        if ((st->op == FL_OP_DUP_ABOVE || st->op == FL_OP_OPEN_TREE) && (st->c < 0 || st->c >= FL_MAX_SLOTS))
            return EINVAL;
        if ((st->op == FL_OP_INIT && ++inits > 1) ||
            ((st->op == FL_OP_MOUNT || st->op == FL_OP_SYMLINK || st->op == FL_OP_WRITE_FILE) && st->ptr == 0) ||
            ((st->op == FL_OP_MOUNT || st->op == FL_OP_SYMLINK || st->op == FL_OP_INIT || st->op == FL_OP_OPEN_TREE ||
              st->op == FL_OP_MOVE_MOUNT || st->op == FL_OP_MKDIR || st->op == FL_OP_CREATE_FILE ||
              st->op == FL_OP_SETHOSTNAME || st->op == FL_OP_SETDOMAINNAME || st->op == FL_OP_WRITE_FILE ||
              st->op == FL_OP_CHDIR || st->op == FL_OP_OPEN) && st->str == 0) ||
            (st->op == FL_OP_MOUNT_SETATTR && st->a == FL_AT_FDCWD && st->str == 0))
            return EINVAL;
        int64_t target = st->op == FL_OP_DUP2 ? st->b : (st->op == FL_OP_OPEN || st->op == FL_OP_CLOSE) ? st->a : -1;
        if (target > *fd_floor && target < 0x7fffffff)
            *fd_floor = (int32_t)target;
    }
    *step = FL_STEP_SETUP;
    if ((plan->flags & FL_PLAN_SYNC) && waits == 0)
        return EINVAL;
    *step = FL_STEP_CLONE;
    if (plan->clone_flags & FL_CLONE_REFUSED)
        return EINVAL;
    return 0;
}

FL_EXPORT int fl_spawn(const fl_spawn_plan *plan, fl_spawn_result *result)
{
    if (result == 0)
        return -1;
    const int64_t start = plan && (plan->flags & FL_PLAN_TIME_CALL) ? fl_monotonic_ns() : 0;
    result->pid = 0;
    result->pidfd = -1;
    result->ok = 0;
    result->used_clone3 = 0;
    result->clone3_errno = 0;
    result->error_errno = 0;
    result->error_step = 0;
    result->error_detail = 0;
    result->sync_fd = -1;
    result->error_fd = -1;
    result->call_ns = 0;
    if (plan == 0) {
        set_error(result, EINVAL, FL_STEP_SETUP, 0);
        return -1;
    }

    int32_t step, detail, fd_floor;
    int32_t invalid = validate(plan, &step, &detail, &fd_floor);
    if (invalid) {
        set_error(result, invalid, step, detail);
        return -1;
    }
    if (plan->exec_errnos)
        for (uint32_t i = 0; i < plan->exec_path_count; i++)
            plan->exec_errnos[i] = 0;

    const int fast = (plan->flags & FL_PLAN_FAST) != 0;
    const int sync = (plan->flags & FL_PLAN_SYNC) != 0;
    const int reset = (plan->flags & FL_PLAN_RESET_SIGNALS) != 0;

    /* Every signal blocked in this thread from here to after the clone: the child starts with all of them
       blocked, so no handler of the host can run in it before the reset. */
    const uint64_t all = FL_ALL_SIGNALS;
    uint64_t old_mask = 0;
    fl_sigprocmask(FL_SIG_SETMASK, &all, &old_mask);

    int errp[2] = {-1, -1};
    int syncp[2] = {-1, -1};
    fl_stack *stack = 0;
    int32_t pidfd = -1;
    long pid = 0;
    int32_t fail_step = FL_STEP_SETUP;
    fl_spawn_record mailbox = {0, 0, 0, 0}; /* the fast path's answer (fl_child_ctx.mailbox) */

    /* The error pipe serves the full path only: the fast path's child reports into the mailbox, which the
       parent reads once the child has exec'd or exited (vfork), so it costs no pipe and no fd moves. */
    long r = fast ? 0 : fl_pipe2(errp, O_CLOEXEC);
    if (r >= 0 && sync)
        r = fl_pipe2(syncp, O_CLOEXEC);
    if (r >= 0 && fast) {
        uint64_t size = plan->stack_size ? plan->stack_size : FL_STACK_DEFAULT;
        size = size < FL_STACK_MIN ? FL_STACK_MIN : (size + FL_PAGE - 1) & ~(FL_PAGE - 1);
        stack = stack_acquire(size, &r);
    }
    if (r < 0) {
        pid = r;
        goto cloned;
    }

    fl_child_ctx ctx = {plan, errp[1], syncp[0], {errp[0], syncp[1]}, fd_floor, 0, 0, (int32_t)plan->cgroup_fd,
                        fast ? &mailbox : 0};
    const uint64_t base_flags = plan->clone_flags | CLONE_PIDFD | (fast ? CLONE_VM | CLONE_VFORK : 0);
    fail_step = FL_STEP_CLONE;
    pid = -ENOSYS;

    /* clone3: CLONE_CLEAR_SIGHAND does the handler reset in the kernel */
    if (!(plan->flags & FL_PLAN_NO_CLONE3)) {
        struct fl_clone_args args = {
            .flags = base_flags | (reset ? CLONE_CLEAR_SIGHAND : 0),
            .pidfd = (uint64_t)(uintptr_t)&pidfd,
            .exit_signal = plan->exit_signal,
            .stack = stack ? (uint64_t)(uintptr_t)(stack_base(stack) + FL_PAGE) : 0,
            .stack_size = stack ? stack->usable - sizeof(fl_stack) : 0, /* the top is the header */
            .set_tid = (uint64_t)(uintptr_t)plan->set_tid,
            .set_tid_size = plan->set_tid_size,
            .cgroup = plan->cgroup_fd,
        };
        pid = clone_into_child(__NR_clone3, (long)&args, (long)clone_args_size(&args), 0, 0, 0, &ctx);
        if (pid >= 0) {
            result->used_clone3 = 1;
        } else if (pid == -ENOSYS || (pid == -EPERM && (plan->flags & FL_PLAN_FALLBACK_ON_EPERM))) {
            result->clone3_errno = (int32_t)-pid; /* a kernel before 5.3, or a seccomp profile that blocks it */
            pid = -ENOSYS;
        } else {
            goto cloned;
        }
    }

    /* Legacy clone(flags | exit_signal, newsp, parent_tid = &pidfd (CLONE_PIDFD's slot there), 0, 0). It has no
       set_tid, and drops the flags above 32: emulate what can be, refuse the rest before cloning. */
    if (pid == -ENOSYS) {
        if (plan->set_tid_size > 0 || (plan->clone_flags & ~0xffffffffULL & ~FL_CLONE_EMULATED_HIGH) != 0 ||
            plan->exit_signal > 0xff) {
            pid = -EINVAL;
            goto cloned;
        }
        ctx.reset_handlers = reset || (plan->clone_flags & CLONE_CLEAR_SIGHAND) != 0;
        ctx.join_cgroup = (plan->clone_flags & CLONE_INTO_CGROUP) != 0;
        uint64_t flags = (base_flags & 0xffffff00ULL) | plan->exit_signal;
        pid = clone_into_child(__NR_clone, (long)flags, stack ? (long)(uintptr_t)stack : 0, (long)&pidfd, 0, 0,
                               &ctx);
    }

cloned:
    /* Here the fast path's child has exec'd or exited (vfork): its stack is free again. */
    if (plan->flags & FL_PLAN_TIME_CALL)
        result->call_ns = fl_monotonic_ns() - start;
    if (stack)
        stack_release(stack);
    fl_sigprocmask(FL_SIG_SETMASK, &old_mask, 0);
    if (errp[1] >= 0)
        fl_close(errp[1]);
    if (syncp[0] >= 0)
        fl_close(syncp[0]);

    if (pid < 0) {
        if (errp[0] >= 0)
            fl_close(errp[0]);
        if (syncp[1] >= 0)
            fl_close(syncp[1]);
        set_error(result, (int32_t)-pid, fail_step, 0);
        return -1;
    }

    result->pid = (int32_t)pid;
    result->pidfd = pidfd;
    if (sync) {
        /* the child waits at FL_OP_WAIT_PARENT: fl_spawn_release goes on from here */
        result->sync_fd = syncp[1];
        result->error_fd = errp[0];
        result->ok = 1;
        return 0;
    }

    int outcome;
    if (fast) {
        /* vfork: the child has exec'd (its old memory released) or exited; a failure is in the mailbox */
        if (__atomic_load_n(&mailbox.magic, __ATOMIC_ACQUIRE) == FL_SPAWN_RECORD_MAGIC) {
            set_error(result, mailbox.err, mailbox.step, mailbox.detail);
            outcome = FL_COLLECT_FAILED;
        } else {
            outcome = FL_COLLECT_EXECED;
        }
    } else {
        outcome = collect(errp[0], plan, result);
        fl_close(errp[0]);
    }
    if (outcome == FL_COLLECT_EXECED) {
        result->ok = 1;
        return 0;
    }
    end_child(result, outcome == FL_COLLECT_UNKNOWN);
    return -1;
}

FL_EXPORT int fl_spawn_release(fl_spawn_result *result, const fl_spawn_plan *plan, int go)
{
    if (result == 0)
        return -1;
    if (result->sync_fd < 0 || result->error_fd < 0 || result->pidfd < 0) {
        set_error(result, EBADF, FL_STEP_SYNC, result->sync_fd);
        return -1;
    }

    long wrote = 0;
    if (go) {
        /* A child that died has closed its end: the write fails with EPIPE and raises SIGPIPE at this thread.
           Blocked here, then taken back, so the host never sees it. */
        const uint64_t all = FL_ALL_SIGNALS;
        const uint64_t pipe_sig = FL_SIG_BIT(SIGPIPE);
        uint64_t old_mask = 0;
        fl_sigprocmask(FL_SIG_SETMASK, &all, &old_mask);
        const char byte = 1;
        do
            wrote = fl_write(result->sync_fd, &byte, 1);
        while (wrote == -EINTR);
        if (wrote == -EPIPE) {
            const struct fl_timespec now = {0, 0};
            fl_sigtimedwait(&pipe_sig, &now);
        }
        fl_sigprocmask(FL_SIG_SETMASK, &old_mask, 0);
    }
    fl_close(result->sync_fd);
    result->sync_fd = -1;

    /* EOF: exec'd after the go; or, without the go, the child's silent exit 127 */
    int outcome = collect(result->error_fd, plan, result);
    fl_close(result->error_fd);
    result->error_fd = -1;
    if (outcome == FL_COLLECT_EXECED) {
        if (go && wrote == 1) {
            result->ok = 1;
            return 0;
        }
        set_error(result, go ? (wrote < 0 ? (int32_t)-wrote : EIO) : ECANCELED, FL_STEP_SYNC, 0);
        outcome = go ? FL_COLLECT_UNKNOWN : FL_COLLECT_FAILED;
    }
    end_child(result, outcome == FL_COLLECT_UNKNOWN);
    return -1;
}

FL_EXPORT int32_t fl_sizeof_spawn_plan(void) { return (int32_t)sizeof(fl_spawn_plan); }
FL_EXPORT int32_t fl_sizeof_spawn_step(void) { return (int32_t)sizeof(fl_spawn_step); }
FL_EXPORT int32_t fl_sizeof_spawn_result(void) { return (int32_t)sizeof(fl_spawn_result); }
