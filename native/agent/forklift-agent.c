/*
 * forklift-agent: one task of a scenario, run on the real kernel for the simulated kernel's differential tests
 * (tests/Forklift.Simulation.Tests/Differential). The coordinator (C#) sends one call at a time; the agent makes
 * it with a raw system call and reports the result. A clone-family call makes a new agent: the child runs the
 * same command loop, on its own command socket, so every simulated task has a real twin.
 *
 * A standalone static program without libc (built with -nostdlib by native/Forklift.Native.targets):
 *  - the child side of a clone must not depend on per-thread library state: with CLONE_VM (threads, vfork,
 *    shared-memory processes) parent and child run in one address space, so the agent keeps all of its state
 *    on its own stack, and each CLONE_VM child gets a fresh stack; the only writable globals are set before the
 *    first clone (the paths) or are signal-safe bit sets (the signals handled);
 *  - exec of the agent itself must be cheap and must not load anything (scenarios exec often).
 *
 * Modes (argv[1]):
 *   launch SOCK                  unshare a pid, a mount and an IPC namespace, fork the scenario's first task (pid 1 of
 *                                the new namespace, task index 0), reap it, exit with its status
 *   resume SOCK FD INDEX SEQ     the image an agent execs: keep command socket FD, reply to SEQ, go on
 *   exit N [FD INDEX SEQ]        exit_group(N) at once (the model's /bin/exit N, /bin/true, /bin/false), after
 *                                replying to SEQ on FD when exec'd by an agent
 *   pause [FD INDEX SEQ]         pause until killed (the model's /bin/pause), after replying likewise
 */
#include <stddef.h>
#include <stdint.h>

#include "../src/fl_sys.h"
#include "agent_proto.h"

#include <linux/un.h>

#define FA_AF_UNIX 1
#define FA_SOCK_STREAM 1
#define FA_MS_NOSUID 2UL
#define FA_MS_NODEV 4UL
#define FA_MS_NOEXEC 8UL
#define FA_MS_REC 16384UL
#define FA_MS_PRIVATE (1UL << 18)
#define FA_MAP_FIXED_NOREPLACE 0x100000
#define FA_SA_RESTORER 0x04000000UL
#define FA_STACK_SIZE (64 * 1024)
#define FA_EXIT_SETUP 125 /* the agent itself failed (it never exits with this in a scenario) */

/* ---- the few library functions the compiler may call on its own ---- */

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

__attribute__((used)) void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

__attribute__((used)) void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

static size_t fa_strlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static int fa_streq(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

static long fa_atol(const char *s)
{
    long v = 0, sign = 1;
    if (*s == '-') sign = -1, s++;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    return v * sign;
}

/* Decimal text of v into buf (at least 24 bytes). */
static char *fa_ltoa(long v, char *buf)
{
    char tmp[24];
    int n = 0, neg = v < 0;
    unsigned long u = neg ? 0UL - (unsigned long)v : (unsigned long)v;
    do tmp[n++] = (char)('0' + u % 10); while (u /= 10);
    char *p = buf;
    if (neg) *p++ = '-';
    while (n) *p++ = tmp[--n];
    *p = 0;
    return buf;
}

/* ---- globals: set once at start, before any clone; read-only afterwards ---- */

static char fa_self[256];   /* this program's absolute path (argv[0]) */
static char fa_sock[108];   /* the coordinator's socket */
/* The signals the agent's handler has run for, in this image (a bit set, updated atomically: CLONE_VM tasks share it). */
static volatile uint64_t fa_received;

static _Noreturn void fa_die(int code) { fl_exit_group(code); }

/* ---- the command socket ---- */

static int fa_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        long r = fl_write(fd, p, len);
        if (r == -EINTR) continue;
        if (r <= 0) return -1;
        p += r, len -= (size_t)r;
    }
    return 0;
}

static int fa_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        long r = fl_read(fd, p, len);
        if (r == -EINTR) continue;
        if (r <= 0) return -1;
        p += r, len -= (size_t)r;
    }
    return 0;
}

/* Sends a message; a coordinator that went away ends the whole agent process. */
static void fa_send(int ch, struct fa_msg *m)
{
    if (fa_write_full(ch, m, sizeof *m) < 0) fa_die(0);
}

static void fa_send_simple(int ch, uint32_t kind, uint32_t seq, int index, long ret)
{
    struct fa_msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind, m.seq = seq, m.index = index, m.ret = ret;
    fa_send(ch, &m);
}

static void fa_send_identity(int ch, uint32_t kind, uint32_t seq, int index, long ret)
{
    struct fa_msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind, m.seq = seq, m.index = index, m.ret = ret;
    m.nspid = (int32_t)fl_getpid();
    m.nstid = (int32_t)FL_SYS0(__NR_gettid);
    fa_send(ch, &m);
}

/* Connects a new command socket to the coordinator and moves it to the task's channel fd. The socket is not
   close-on-exec: an agent that execs itself keeps it. In a shared fd table nothing else runs meanwhile (the
   coordinator waits for this task's hello), so the low fd the socket briefly takes is invisible to scenarios. */
static int fa_connect(int index)
{
    long s = FL_SYS3(__NR_socket, FA_AF_UNIX, FA_SOCK_STREAM, 0);
    if (s < 0) fa_die(FA_EXIT_SETUP);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = FA_AF_UNIX;
    memcpy(addr.sun_path, fa_sock, fa_strlen(fa_sock));
    long r;
    do r = FL_SYS3(__NR_connect, s, &addr, sizeof addr);
    while (r == -EINTR);
    if (r < 0 && r != -EISCONN) fa_die(FA_EXIT_SETUP);
    int ch = FA_CHANNEL_FD(index);
    if (s != ch) {
        if (FL_SYS3(__NR_dup3, s, ch, 0) < 0) fa_die(FA_EXIT_SETUP);
        fl_close((int)s);
    }
    return ch;
}

static void fa_map_scratch(void)
{
    long r = fl_syscall6(__NR_mmap, (long)FA_SCRATCH_ADDR, FA_SCRATCH_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | FA_MAP_FIXED_NOREPLACE, -1, 0);
    if (r != (long)FA_SCRATCH_ADDR) fa_die(FA_EXIT_SETUP);
}

static int fa_in_scratch(uint64_t addr, uint64_t len)
{
    return addr >= FA_SCRATCH_ADDR && addr + len <= FA_SCRATCH_ADDR + FA_SCRATCH_SIZE && addr + len > addr;
}

/* ---- signals ---- */

void fa_restorer(void);
__asm__(".text\n"
        ".type fa_restorer,@function\n"
        "fa_restorer:\n\t"
        "mov $15, %eax\n\t" /* rt_sigreturn */
        "syscall\n\t"
        "hlt\n");

static void fa_on_signal(int sig)
{
    __atomic_fetch_or(&fa_received, 1ULL << (sig - 1), __ATOMIC_RELAXED);
}

/* ---- clone: the child runs fa_child_main on the stack the kernel gave it and never returns ---- */

_Noreturn void fa_child_main(long arg);

/* One clone-family system call (fork, vfork, clone, clone3). In the child (result 0) the stack is realigned and
   fa_child_main(arg) is called; it never returns. A CLONE_VM child starts on its own stack; a vfork child runs
   below the suspended parent's stack pointer (the agent is built without a red zone, so nothing live is there). */
static long fa_clone_call(long nr, long a1, long a2, long a3, long a4, long a5, long arg)
{
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r12 __asm__("r12") = arg;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "and $-16, %%rsp\n\t"
                     "mov %%r12, %%rdi\n\t"
                     "call fa_child_main\n\t"
                     "hlt\n"
                     "1:\n\t"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r12)
                     : "rcx", "r11", "memory");
    return ret;
}

/* The child's argument: its index, the parent's command fd, and whether the fd table is shared. */
static long fa_child_arg(int index, int parent_ch, uint64_t flags)
{
    return (long)index | ((long)parent_ch << 16) | ((flags & CLONE_FILES) ? (1L << 32) : 0);
}

static long fa_new_stack(void)
{
    long base = fl_mmap(FA_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK);
    return base < 0 ? 0 : base;
}

/* ---- the command loop ---- */

static _Noreturn void fa_loop(int ch, int index);

_Noreturn __attribute__((used)) void fa_child_main(long arg)
{
    int index = (int)(arg & 0xffff);
    int parent_ch = (int)((arg >> 16) & 0xffff);
    int shared_files = (int)((arg >> 32) & 1);
    /* A copied fd table holds the parent's command socket: drop it, so the parent's socket is its own. */
    if (!shared_files) fl_close(parent_ch);
    int ch = fa_connect(index);
    fa_send_identity(ch, FA_MSG_HELLO, 0, index, 0);
    fa_loop(ch, index);
}

/* A wait that would sleep is first tried with WNOHANG, so the coordinator learns at once that it sleeps (the
   model says so in the same call); then it is made for real. */
static long fa_wait4(int ch, const struct fa_cmd *c, int index, struct fa_msg *m)
{
    int status = 0;
    long pid = c->a[0];
    int options = (int)c->a[1];
    long r = fl_wait4(pid, &status, options | ((options & WNOHANG) ? 0 : WNOHANG));
    if (r == 0 && !(options & WNOHANG)) {
        fa_send_simple(ch, FA_MSG_BLOCKED, c->seq, index, 0);
        r = fl_wait4(pid, &status, options);
    }
    m->w[0] = status;
    return r;
}

static long fa_waitid(int ch, const struct fa_cmd *c, int index, struct fa_msg *m)
{
    int info[32];
    memset(info, 0, sizeof info);
    int type = (int)c->a[0], options = (int)c->a[2];
    long id = c->a[1];
    int probe = !(options & WNOHANG);
    if (probe && type == 3 /* P_PIDFD */) {
        /* A PIDFD_NONBLOCK pidfd never sleeps (EAGAIN instead), and an explicit WNOHANG would change that answer. */
        long fl = FL_SYS2(__NR_fcntl, id, 3 /* F_GETFL */);
        if (fl >= 0 && (fl & O_NONBLOCK)) probe = 0;
    }
    long r;
    if (probe) {
        r = FL_SYS5(__NR_waitid, type, id, info, options | WNOHANG, 0);
        if (r == 0 && info[4] == 0) {
            fa_send_simple(ch, FA_MSG_BLOCKED, c->seq, index, 0);
            memset(info, 0, sizeof info);
            r = FL_SYS5(__NR_waitid, type, id, info, options, 0);
        }
    } else {
        r = FL_SYS5(__NR_waitid, type, id, info, options, 0);
    }
    /* siginfo: si_signo@0, si_code@8, si_pid@16, si_uid@20, si_status@24. */
    m->w[1] = info[4], m->w[2] = info[2], m->w[3] = info[6], m->w[4] = info[5], m->w[5] = info[0];
    return r;
}

static long fa_clone3(int ch, const struct fa_cmd *c, int index)
{
    struct clone_args args;
    memset(&args, 0, sizeof args);
    uint64_t flags = (uint64_t)c->a[1];
    args.flags = flags;
    args.exit_signal = (uint64_t)c->a[2];
    args.pidfd = (uint64_t)c->a[3];
    args.child_tid = (uint64_t)c->a[4];
    args.parent_tid = (uint64_t)c->a[5];
    args.tls = (uint64_t)c->a[6];
    args.set_tid = (uint64_t)c->a[7];
    args.set_tid_size = (uint64_t)c->a[8];
    long size = c->a[9];
    /* The set_tid values go to the scenario's address when it is ours to write (else the kernel faults on it). */
    if (args.set_tid && args.set_tid_size <= 32 && fa_in_scratch(args.set_tid, args.set_tid_size * 4)) {
        const int32_t *v = (const int32_t *)c->text;
        for (uint64_t i = 0; i < args.set_tid_size && i < sizeof c->text / 4; i++)
            ((volatile int32_t *)args.set_tid)[i] = v[i];
    }
    if (flags & CLONE_VM) {
        long stack = fa_new_stack();
        if (!stack) return -ENOMEM;
        args.stack = (uint64_t)stack;
        args.stack_size = FA_STACK_SIZE;
    }
    if (size < 0 || size > (long)sizeof args) size = sizeof args;
    if (flags & CLONE_VFORK) fa_send_simple(ch, FA_MSG_BLOCKED, c->seq, index, 0);
    long r = fa_clone_call(__NR_clone3, (long)&args, size, 0, 0, 0, fa_child_arg((int)c->a[0], ch, flags));
    /* A pid number outlives its task briefly: release_task unhashes the task (its /proc entry is gone, which is
       what the coordinator waits for) and frees the pid numbers only afterwards (free_pids, kernel/exit.c, 6.14+),
       on the CPU of the task that released it. A set_tid naming such a number meets EEXIST for those few
       microseconds: try again for up to 20 ms before answering EEXIST, which is then the number's real owner. */
    for (int i = 0; r == -EEXIST && args.set_tid && i < 100; i++) {
        struct fl_timespec pause = {0, 200000};
        fl_nanosleep(&pause);
        r = fa_clone_call(__NR_clone3, (long)&args, size, 0, 0, 0, fa_child_arg((int)c->a[0], ch, flags));
    }
    return r;
}

static long fa_clone(int ch, const struct fa_cmd *c, int index)
{
    uint64_t flags = (uint64_t)c->a[1];
    long sp = 0;
    if (flags & CLONE_VM) {
        long stack = fa_new_stack();
        if (!stack) return -ENOMEM;
        sp = stack + FA_STACK_SIZE;
    }
    if (flags & CLONE_VFORK) fa_send_simple(ch, FA_MSG_BLOCKED, c->seq, index, 0);
    /* x86-64 clone: flags, newsp, parent_tid, child_tid, tls. */
    return fa_clone_call(__NR_clone, (long)flags, sp, c->a[2], c->a[3], c->a[4], fa_child_arg((int)c->a[0], ch, flags));
}

static long fa_execve(const struct fa_cmd *c, int ch, int index)
{
    char fdbuf[24], indexbuf[24], seqbuf[24], codebuf[24];
    const char *argv[8];
    const char *envp[1] = {0};
    const char *path = fa_self;
    switch (c->a[0]) {
    case 0:
        argv[0] = fa_self, argv[1] = "resume", argv[2] = fa_sock, argv[3] = fa_ltoa(ch, fdbuf);
        argv[4] = fa_ltoa(index, indexbuf), argv[5] = fa_ltoa(c->seq, seqbuf), argv[6] = 0;
        break;
    case 1:
        argv[0] = fa_self, argv[1] = "exit", argv[2] = fa_ltoa(c->a[1], codebuf), argv[3] = fa_ltoa(ch, fdbuf);
        argv[4] = fa_ltoa(index, indexbuf), argv[5] = fa_ltoa(c->seq, seqbuf), argv[6] = 0;
        break;
    case 2:
        argv[0] = fa_self, argv[1] = "pause", argv[2] = fa_ltoa(ch, fdbuf), argv[3] = fa_ltoa(index, indexbuf);
        argv[4] = fa_ltoa(c->seq, seqbuf), argv[5] = 0;
        break;
    default:
        path = c->text;
        argv[0] = c->text, argv[1] = 0;
        break;
    }
    return FL_SYS3(__NR_execve, path, argv, envp);
}

static long fa_sigaction(const struct fa_cmd *c)
{
    struct fl_kernel_sigaction act;
    memset(&act, 0, sizeof act);
    act.handler = c->a[1] == 0 ? 0UL : c->a[1] == 1 ? 1UL : (unsigned long)fa_on_signal;
    act.flags = (unsigned long)c->a[2] | FA_SA_RESTORER;
    act.restorer = (unsigned long)fa_restorer;
    return FL_SYS4(__NR_rt_sigaction, c->a[0], &act, 0, FL_SIGSET_SIZE);
}

static long fa_observe(const struct fa_cmd *c, struct fa_msg *m)
{
    long what = c->a[0], arg = c->a[1];
    switch (what) {
    case FA_OBS_FD: {
        long r = FL_SYS2(__NR_fcntl, arg, 1 /* F_GETFD */);
        if (r >= 0) {
            char path[40] = "/proc/self/fd/";
            fa_ltoa(arg, path + 14);
            long n = FL_SYS4(__NR_readlinkat, AT_FDCWD, path, m->text, sizeof m->text - 1);
            if (n > 0) m->text[n] = 0;
        }
        return r;
    }
    case FA_OBS_CWD: {
        long r = FL_SYS2(__NR_getcwd, m->text, sizeof m->text);
        return r < 0 ? r : 0;
    }
    case FA_OBS_UMASK: {
        long old = FL_SYS1(__NR_umask, 0);
        FL_SYS1(__NR_umask, old);
        return old;
    }
    case FA_OBS_DISPOSITION: {
        struct fl_kernel_sigaction old;
        memset(&old, 0, sizeof old);
        long r = FL_SYS4(__NR_rt_sigaction, arg, 0, &old, FL_SIGSET_SIZE);
        return r < 0 ? r : old.handler == 0 ? 0 : old.handler == 1 ? 1 : 2;
    }
    case FA_OBS_MEM:
        return fa_in_scratch((uint64_t)arg, 4) ? *(volatile int32_t *)arg : -EFAULT;
    case FA_OBS_SUBREAPER:
    case FA_OBS_PDEATHSIG: {
        int v = 0;
        long r = FL_SYS5(__NR_prctl, what == FA_OBS_SUBREAPER ? PR_GET_CHILD_SUBREAPER : PR_GET_PDEATHSIG, &v, 0, 0, 0);
        return r < 0 ? r : v;
    }
    case FA_OBS_RECEIVED:
        return arg >= 1 && arg <= 64 ? (long)((fa_received >> (arg - 1)) & 1) : -EINVAL;
    default:
        return -EINVAL;
    }
}

static long fa_prctl(const struct fa_cmd *c)
{
    /* The GET options store through a pointer; the value is the answer (as the model returns it). */
    if (c->a[0] == PR_GET_PDEATHSIG || c->a[0] == PR_GET_CHILD_SUBREAPER) {
        int v = 0;
        long r = FL_SYS5(__NR_prctl, c->a[0], &v, 0, 0, 0);
        return r < 0 ? r : v;
    }
    return FL_SYS5(__NR_prctl, c->a[0], c->a[1], 0, 0, 0);
}

static _Noreturn void fa_loop(int ch, int index)
{
    for (;;) {
        struct fa_cmd c;
        if (fa_read_full(ch, &c, sizeof c) < 0) fa_die(0); /* the coordinator is gone */
        c.text[sizeof c.text - 1] = 0;
        struct fa_msg m;
        memset(&m, 0, sizeof m);
        m.kind = FA_MSG_REPLY, m.seq = c.seq, m.index = index;
        long r;
        const long *a = c.a;
        switch (c.op) {
        case FA_FORK:
            r = fa_clone_call(__NR_fork, 0, 0, 0, 0, 0, fa_child_arg((int)a[0], ch, 0));
            break;
        case FA_VFORK:
            fa_send_simple(ch, FA_MSG_BLOCKED, c.seq, index, 0);
            r = fa_clone_call(__NR_vfork, 0, 0, 0, 0, 0, fa_child_arg((int)a[0], ch, CLONE_VM));
            break;
        case FA_CLONE: r = fa_clone(ch, &c, index); break;
        case FA_CLONE3: r = fa_clone3(ch, &c, index); break;
        case FA_EXECVE: r = fa_execve(&c, ch, index); break;
        case FA_EXIT: for (;;) FL_SYS1(__NR_exit, a[0]);
        case FA_EXIT_GROUP: fa_die((int)a[0]);
        case FA_WAIT4: r = fa_wait4(ch, &c, index, &m); break;
        case FA_WAITID: r = fa_waitid(ch, &c, index, &m); break;
        case FA_KILL: r = fl_kill(a[0], (int)a[1]); break;
        case FA_TGKILL: r = fl_tgkill(a[0], a[1], (int)a[2]); break;
        case FA_PIDFD_SEND_SIGNAL: r = FL_SYS4(__NR_pidfd_send_signal, a[0], a[1], 0, a[2]); break;
        case FA_PIDFD_OPEN: r = FL_SYS2(__NR_pidfd_open, a[0], a[1]); break;
        case FA_GETPID: r = fl_getpid(); break;
        case FA_GETTID: r = FL_SYS0(__NR_gettid); break;
        case FA_GETPPID: r = fl_getppid(); break;
        case FA_GETPGID: r = FL_SYS1(__NR_getpgid, a[0]); break;
        case FA_GETSID: r = FL_SYS1(__NR_getsid, a[0]); break;
        case FA_SETSID: r = FL_SYS0(__NR_setsid); break;
        case FA_SETPGID: r = FL_SYS2(__NR_setpgid, a[0], a[1]); break;
        case FA_UNSHARE: r = fl_unshare((unsigned long)a[0]); break;
        case FA_SETNS: r = FL_SYS2(__NR_setns, a[0], a[1]); break;
        case FA_PRCTL: r = fa_prctl(&c); break;
        case FA_OPEN: r = FL_SYS4(__NR_openat, AT_FDCWD, c.text, a[1], 0644); break;
        case FA_CLOSE: r = fl_close((int)a[0]); break;
        case FA_DUP: r = FL_SYS1(__NR_dup, a[0]); break;
        case FA_DUP2: r = FL_SYS2(__NR_dup2, a[0], a[1]); break;
        case FA_DUP3: r = FL_SYS3(__NR_dup3, a[0], a[1], a[2]); break;
        case FA_FCNTL: r = FL_SYS3(__NR_fcntl, a[0], a[1], a[2]); break;
        case FA_SIGACTION: r = fa_sigaction(&c); break;
        case FA_UMASK: r = FL_SYS1(__NR_umask, a[0]); break;
        case FA_CHDIR: r = fl_chdir(c.text); break;
        case FA_STORE:
            if (fa_in_scratch((uint64_t)a[0], 4)) {
                *(volatile int32_t *)a[0] = (int32_t)a[1];
                r = 0;
            } else {
                r = -EFAULT;
            }
            break;
        case FA_OBSERVE: r = fa_observe(&c, &m); break;
        case FA_SEMGET: r = FL_SYS3(__NR_semget, 0 /* IPC_PRIVATE */, a[0], 01000 /* IPC_CREAT */ | 0600); break;
        case FA_SEMOP: {
            /* struct sembuf: unsigned short sem_num; short sem_op; short sem_flg. */
            short op[3] = {(short)a[1], (short)a[2], (short)(a[3] | 04000 /* IPC_NOWAIT */)};
            r = FL_SYS3(__NR_semop, a[0], op, 1);
            break;
        }
        case FA_SEMCTL_GETVAL: r = FL_SYS4(__NR_semctl, a[0], a[1], 12 /* GETVAL */, 0); break;
        default: r = -ENOSYS; break;
        }
        m.ret = r;
        fa_send(ch, &m);
    }
}

/* ---- the modes ---- */

/* pid 1 of the scenario's pid namespace: its own /proc, a session, the model's initial fs and fd state. */
static _Noreturn void fa_root(void)
{
    /* No parent-death signal here: the model's init has none, and scenarios read it. The coordinator kills this
       init (and so the namespace) when a run ends; if the coordinator dies, every agent reads EOF and exits. */
    if (FL_SYS5(__NR_mount, 0, "/", 0, FA_MS_REC | FA_MS_PRIVATE, 0) < 0) fa_die(FA_EXIT_SETUP);
    if (FL_SYS5(__NR_mount, "proc", "/proc", "proc", FA_MS_NOSUID | FA_MS_NODEV | FA_MS_NOEXEC, 0) < 0)
        fa_die(FA_EXIT_SETUP);
    FL_SYS0(__NR_setsid);
    fl_chdir("/");
    FL_SYS1(__NR_umask, 022);
    /* The model's RLIMIT_NOFILE soft limit (1024); lowering it needs no privilege. */
    struct fl_rlimit64 old, lim;
    if (FL_SYS4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, &old) == 0) {
        lim.cur = 1024, lim.max = old.max < 1024 ? 1024 : old.max;
        FL_SYS4(__NR_prlimit64, 0, RLIMIT_NOFILE, &lim, 0);
    }
    long null = fl_open("/dev/null", O_RDWR);
    if (null < 0) fa_die(FA_EXIT_SETUP);
    for (int fd = 0; fd < 3; fd++)
        if (null != fd) fl_dup2((int)null, fd);
    if (null > 2) fl_close((int)null);
    fa_map_scratch();
    int ch = fa_connect(0);
    fa_send_identity(ch, FA_MSG_HELLO, 0, 0, 0);
    fa_loop(ch, 0);
}

static _Noreturn void fa_launch(void)
{
    fl_close_range(3, ~0U);
    /* The model's machine starts with every signal at its default action and none blocked; ignored dispositions
       and the mask survive exec (signal(7)), so a coordinator started under nohup or with signals blocked would
       otherwise hand them to every task of the scenario. */
    struct fl_kernel_sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) fl_sigaction(sig, &dfl);
    uint64_t none = 0;
    fl_sigprocmask(SIG_SETMASK, &none, 0);
    fl_prctl(PR_SET_PDEATHSIG, SIGKILL); /* if the coordinator dies */
    /* A fresh IPC namespace too: the model's starts empty (semaphore ids from 0), and what a scenario creates
       goes with it. */
    if (fl_unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC) < 0) fa_die(FA_EXIT_SETUP);
    long pid = fl_fork();
    if (pid < 0) fa_die(FA_EXIT_SETUP);
    if (pid == 0) fa_root();
    for (;;) {
        int status = 0;
        long r = fl_wait4(pid, &status, __WALL);
        if (r == -EINTR) continue;
        if (r < 0) fa_die(FA_EXIT_SETUP);
        fa_die(FL_WIFEXITED(status) ? FL_WEXITSTATUS(status) : 128 + FL_WTERMSIG(status));
    }
}

static void fa_copy(char *dst, size_t size, const char *src)
{
    size_t n = fa_strlen(src);
    if (n >= size) fa_die(FA_EXIT_SETUP);
    memcpy(dst, src, n + 1);
}

_Noreturn __attribute__((used)) void fa_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc < 2) fa_die(2);
    fa_copy(fa_self, sizeof fa_self, argv[0]);
    const char *mode = argv[1];
    if (fa_streq(mode, "exit") && (argc == 3 || argc == 6)) {
        if (argc == 6) fa_send_identity((int)fa_atol(argv[3]), FA_MSG_REPLY, (uint32_t)fa_atol(argv[5]), (int)fa_atol(argv[4]), 0);
        fa_die((int)fa_atol(argv[2]));
    }
    if (fa_streq(mode, "pause") && (argc == 2 || argc == 5)) {
        if (argc == 5) fa_send_identity((int)fa_atol(argv[2]), FA_MSG_REPLY, (uint32_t)fa_atol(argv[4]), (int)fa_atol(argv[3]), 0);
        for (;;) FL_SYS0(__NR_pause);
    }
    if (fa_streq(mode, "launch") && argc == 3) {
        fa_copy(fa_sock, sizeof fa_sock, argv[2]);
        fa_launch();
    }
    if (fa_streq(mode, "resume") && argc == 6) {
        fa_copy(fa_sock, sizeof fa_sock, argv[2]);
        int ch = (int)fa_atol(argv[3]);
        int index = (int)fa_atol(argv[4]);
        fa_map_scratch();
        fa_send_identity(ch, FA_MSG_REPLY, (uint32_t)fa_atol(argv[5]), index, 0);
        fa_loop(ch, index);
    }
    fa_die(2);
}

__asm__(".text\n"
        ".globl _start\n"
        ".type _start,@function\n"
        "_start:\n\t"
        "xor %ebp, %ebp\n\t"
        "mov %rsp, %rdi\n\t"
        "and $-16, %rsp\n\t"
        "call fa_main\n\t"
        "hlt\n");
