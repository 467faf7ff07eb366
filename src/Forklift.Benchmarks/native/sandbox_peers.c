/*
 * sandbox_peers.c: the raw clone3 path the sandbox benchmark measures Forklift's isolation against, called from
 * the same .NET process. It does what Forklift's fast path does for a sandbox without mounts, and nothing else:
 * one clone3 with CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND and the namespace flags, the child on a
 * stack of its own writes setgroups, uid_map and gid_map (user_namespaces(7): an unprivileged child may map its
 * own ids once setgroups is "deny") and execs; the parent waits on the pidfd. x86-64 only, like the native stage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* 64 KiB is far more than open + write + execve need; one stack, reused (the benchmark calls this from one thread). */
#define RAW_STACK_SIZE (64 * 1024)

struct raw_child {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *uid_map; /* null: no maps written */
    const char *gid_map;
    const uint64_t *restore_mask; /* the parent's signal mask, restored just before execve */
    volatile int err;             /* the child's errno when it failed (the parent reads it after the vfork wait) */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One write(2) from offset 0: the kernel takes a map in a single write (kernel/user_namespace.c map_write). */
static int write_whole(const char *file, const char *text)
{
    int fd = (int)syscall(SYS_open, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    long w = syscall(SYS_write, fd, text, n);
    syscall(SYS_close, fd);
    return w == (long)n ? 0 : -1;
}

/* The child: it shares the parent's memory until execve (the parent is suspended), so raw syscalls only. */
__attribute__((noreturn, noinline)) static void raw_child_main(struct raw_child *c)
{
    if (c->uid_map &&
        (write_whole("/proc/self/setgroups", "deny") || write_whole("/proc/self/uid_map", c->uid_map) ||
         write_whole("/proc/self/gid_map", c->gid_map))) {
        c->err = errno;
        syscall(SYS_exit, 126);
    }
    /* CLONE_CLEAR_SIGHAND reset the handlers, so the runtime's signal mask can come back now */
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, c->restore_mask, 0, 8);
    syscall(SYS_execve, c->path, c->argv, c->envp);
    c->err = errno;
    syscall(SYS_exit, 127);
    __builtin_unreachable();
}

/*
 * clone3 from inline assembly: in the child the stack pointer is the new stack, so no C frame of this function
 * is valid there. The child jumps straight to the function in r13 with the context in r12 (both callee-saved, so
 * the kernel hands them to the child as they were).
 */
static long clone3_into(struct clone_args *args, struct raw_child *ctx)
{
    register struct raw_child *r12 __asm__("r12") = ctx;
    register void (*r13)(struct raw_child *) __asm__("r13") = raw_child_main;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "and $-16, %%rsp\n\t"
                     "mov %%r12, %%rdi\n\t"
                     "call *%%r13\n\t"
                     "ud2\n"
                     "1:\n\t"
                     : "=a"(ret)
                     : "0"((long)SYS_clone3), "D"(args), "S"(sizeof *args), "r"(r12), "r"(r13)
                     : "rcx", "r11", "memory");
    return ret;
}

static void *raw_stack;

/*
 * clone3 with CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND|ns_flags, the child writing the maps (when
 * uid_map is not null) and exec'ing path; then waitid on the pidfd. call_ns gets the time until clone3 returned in
 * the parent (the child has exec'd by then). Returns the exit code, 128+N for a signal N, or -errno.
 */
EXPORT int flb_clone3_ns_wait(uint64_t ns_flags, const char *path, char *const argv[], char *const envp[],
                              const char *uid_map, const char *gid_map, int64_t *call_ns)
{
    int64_t t0 = now_ns();
    if (!raw_stack) {
        void *s = mmap(0, RAW_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (s == MAP_FAILED)
            return -errno;
        raw_stack = s;
    }
    /* Every signal blocked across the clone: no runtime handler may run on the child's stack before the reset. */
    uint64_t all = ~0ULL, old = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
    int pidfd = -1;
    struct raw_child ctx = {path, argv, envp, uid_map, gid_map, &old, 0};
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND | ns_flags;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    args.stack = (uint64_t)(uintptr_t)raw_stack;
    args.stack_size = RAW_STACK_SIZE;
    long pid = clone3_into(&args, &ctx);
    if (call_ns)
        *call_ns = now_ns() - t0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
    if (pid < 0)
        return (int)pid;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    while (syscall(SYS_waitid, P_PIDFD, pidfd, &info, WEXITED, 0) < 0)
        if (errno != EINTR) {
            int e = errno;
            close(pidfd);
            return -e;
        }
    close(pidfd);
    if (ctx.err)
        return -ctx.err;
    return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}
