/*
 * peers.c: the C peers Forklift's spawn benchmark measures against, called from the same .NET process.
 * Plain libc (posix_spawn, vfork, waitpid), and one raw clone3: this library is only loaded by the benchmark.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* posix_spawn + waitpid of argv[0]; call_ns gets the time posix_spawn itself took. Returns the wait status or -errno. */
EXPORT int flb_posix_spawn_wait(const char *path, char *const argv[], char *const envp[], int64_t *call_ns)
{
    pid_t pid;
    int64_t t0 = now_ns();
    int r = posix_spawn(&pid, path, NULL, NULL, argv, envp);
    if (call_ns)
        *call_ns = now_ns() - t0;
    if (r != 0)
        return -r;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return status;
}

/* vfork + execve + waitpid: the classic fast path, for reference. */
EXPORT int flb_vfork_wait(const char *path, char *const argv[], char *const envp[], int64_t *call_ns)
{
    int64_t t0 = now_ns();
    pid_t pid = vfork();
    if (pid == 0) {
        execve(path, argv, envp);
        _exit(127);
    }
    if (call_ns)
        *call_ns = now_ns() - t0;
    if (pid < 0)
        return -errno;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return status;
}

/*
 * The raw clone3+exec path: clone3(CLONE_VM|CLONE_VFORK, SIGCHLD) with no stack of its own (the child runs on
 * this stack while we are suspended, as vfork's does), execve at once, then waitpid. The child's side is a few
 * instructions of inline assembly that touch no memory (path, argv and envp wait in callee-saved registers, which
 * the child inherits), so it cannot disturb the frames we return through.
 */
EXPORT int flb_clone3_wait(const char *path, char *const argv[], char *const envp[], int64_t *call_ns)
{
    struct clone_args args = {.flags = CLONE_VM | CLONE_VFORK, .exit_signal = SIGCHLD};
    register const char *r12 __asm__("r12") = path;
    register char *const *r13 __asm__("r13") = argv;
    register char *const *r14 __asm__("r14") = envp;
    long pid;
    int64_t t0 = now_ns();
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $59, %%eax\n\t" /* execve(path, argv, envp) */
                     "mov %%r12, %%rdi\n\t"
                     "mov %%r13, %%rsi\n\t"
                     "mov %%r14, %%rdx\n\t"
                     "syscall\n\t"
                     "mov $231, %%eax\n\t" /* exit_group(127) */
                     "mov $127, %%edi\n\t"
                     "syscall\n"
                     "1:\n\t"
                     : "=a"(pid)
                     : "0"((long)__NR_clone3), "D"(&args), "S"(sizeof args), "r"(r12), "r"(r13), "r"(r14)
                     : "rcx", "r11", "rdx", "memory");
    if (call_ns)
        *call_ns = now_ns() - t0;
    if (pid < 0)
        return (int)pid;
    int status;
    while (waitpid((pid_t)pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return status;
}

/* Spawns and waits `count` times with posix_spawn on the calling thread; returns how many succeeded. */
EXPORT int flb_posix_spawn_loop(const char *path, char *const argv[], char *const envp[], int count)
{
    int ok = 0;
    for (int i = 0; i < count; i++)
        ok += flb_posix_spawn_wait(path, argv, envp, NULL) == 0;
    return ok;
}
