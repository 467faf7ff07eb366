/*
 * forklift-init: the small init a Forklift sandbox runs as pid 1 of its pid namespace, above the program.
 *
 * Why an init at all: pid 1 of a pid namespace gets no signal it has no handler for (kernel/signal.c,
 * sig_task_ignored with SIGNAL_UNKILLABLE), so a program that never expected to be pid 1 ignores SIGTERM and SIGINT;
 * and orphans of the namespace are reparented to pid 1, which must reap them or they stay zombies. This init
 * forwards every signal it receives to the program, reaps every child, and exits with the program's status as
 * soon as the program has exited (128+N when signal N ended it: pid 1 cannot die of a signal it sends itself).
 * When it exits the kernel kills whatever is left in the namespace (zap_pid_ns_processes).
 *
 * How it is started: the spawn stage (FL_OP_INIT in native/src/spawn_child.c) forks the program, then execs this
 * file with argv = {path, "<pid of the program>"}, every signal blocked (the stage blocks them all until the exec),
 * so no signal is lost between the fork and the first sigtimedwait: they stay pending. It also works outside a new
 * pid namespace (a joined one, where the stage must fork to enter it): then it is simply the program's parent.
 *
 * Built static, without libc (-nostdlib -ffreestanding): the exec is cheap (no dynamic loader) and the process
 * maps next to nothing. Raw system calls come from fl_sys.h.
 */
#include "../src/fl_sys.h"

#define INIT_EXIT_USAGE 127

static long parse_pid(const char *s)
{
    long v = 0;
    if (s == 0 || *s == 0)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* Reaps every child that has exited; returns 1 and sets *code when the program was among them. */
static int reap(long program, int *code)
{
    int found = 0;
    for (;;) {
        int status = 0;
        long pid = fl_wait4(-1, &status, WNOHANG | __WALL);
        if (pid == -EINTR)
            continue;
        if (pid <= 0)
            return found; /* 0: children left but none exited; -ECHILD: none left */
        if (pid == program) {
            found = 1;
            *code = FL_WIFEXITED(status) ? FL_WEXITSTATUS(status) : 128 + FL_WTERMSIG(status);
        }
    }
}

__attribute__((used)) _Noreturn void fl_init_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    long program = argc >= 2 ? parse_pid(argv[1]) : -1;
    if (program <= 0)
        fl_exit_group(INIT_EXIT_USAGE);

    /* SIGCHLD must be caught-or-default, never ignored: an ignored SIGCHLD makes the kernel reap children itself and
       the program's status would be lost. Every handler is already the default (exec), but an ignored disposition
       survives exec. */
    const struct fl_kernel_sigaction dfl = {FL_SIG_DFL, 0, 0, 0};
    fl_sigaction(SIGCHLD, &dfl);

    /* Hold no fd of the program's: a pipe the program writes must reach EOF when the program and its children are
       done, not when the init is. */
    fl_close_range(0, ~0U);

    const uint64_t all = ~0ULL;
    fl_sigprocmask(FL_SIG_SETMASK, &all, 0);
    int code = 0;
    if (reap(program, &code))
        fl_exit_group(code);
    for (;;) {
        long sig = fl_sigtimedwait(&all, 0);
        if (sig == SIGCHLD) {
            if (reap(program, &code))
                fl_exit_group(code);
        } else if (sig > 0) {
            /* forward: SIGTERM, SIGINT, SIGHUP, SIGUSR1... (SIGKILL and SIGSTOP never reach us: the kernel acts on
               them itself). ESRCH is fine: the program has exited and its SIGCHLD is queued. */
            fl_kill(program, (int)sig);
        }
    }
}

/* The entry point: the kernel starts us with rsp pointing at argc. Pass it on, aligned as a call expects. */
__asm__(".text\n\t"
        ".global _start\n\t"
        "_start:\n\t"
        "xor %ebp, %ebp\n\t"
        "mov %rsp, %rdi\n\t"
        "and $-16, %rsp\n\t"
        "call fl_init_main\n\t"
        "ud2\n");
