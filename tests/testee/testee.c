/*
 * forklift-testee: the dummy child program of Forklift's spawn tests. An ordinary libc program (it is exec'd;
 * it never runs inside the library). argv[1] picks a mode; output is plain text on stdout, one fact per line
 * unless said otherwise. Exit status 0, or 2 on a usage error, or as the mode says.
 *
 *   exit N                      exit with status N
 *   sleep MS                    sleep MS milliseconds, exit 0
 *   kill-self SIG               raise SIG (number or name: TERM, SIGTERM, 15) with its default action
 *   fds                         the open fd numbers on one line, ascending, space separated (without the fd
 *                               used to read /proc/self/fd)
 *   env                         environ, one entry per line
 *   cwd                         the working directory
 *   argv                        argv, one per line, argv[0] included
 *   echo                        copy stdin to stdout until EOF
 *   write-out N                 N bytes of the pattern to stdout: byte i is 'a' + i % 26
 *   write-both N                N bytes to stdout ('a' + i % 26) and N to stderr ('A' + i % 26), alternating
 *                               in 64 KiB chunks (stdout first)
 *   close-stdout-then-sleep MS  close fd 1, then sleep MS milliseconds
 *   umask                       the umask in octal (4 digits)
 *   sigmask                     the SigBlk: and SigIgn: lines of /proc/self/status (hex, as the kernel prints)
 *   ids                         uid=R,E,S gid=R,E,S groups=G1,G2 (groups= empty when none)
 *   pgid-sid                    pid=P pgid=G sid=S ctty=yes|no (whether the session has a controlling tty)
 *   rlimit NAME                 "SOFT HARD" for RLIMIT_NAME (NOFILE, NPROC, CORE, ...), "unlimited" for infinity
 *   nnp                         the no_new_privs bit (0 or 1)
 *   pdeathsig                   the parent death signal number (0: none)
 *   ppid                        the parent pid
 *   sigwait SIG                 block SIG, print "ready", wait for SIG, exit 0
 *   cgroup                      /proc/self/cgroup as is
 *   seccomp-clone3 ERRNO PROG ARGS...
 *                               make clone3 (syscall 435) fail with ERRNO (number or name: ENOSYS, EPERM) by a
 *                               seccomp filter, set no_new_privs, then execv(PROG, [PROG, ARGS...])
 *   seccomp-clone3-unless-size SIZE ERRNO PROG ARGS...
 *                               the same, but a clone3 whose size argument is SIZE is allowed (glibc passes 88 for
 *                               its threads, so a .NET runtime can still start while clone3 of other sizes fails)
 *   hog MIB                     allocate MIB MiB and touch every page, 1 MiB at a time; print "allocated MIB"
 *   fork-bomb                   every process forks until a fork fails, then retries every 20 ms forever; the first
 *                               process prints "forked N ERRNO" (its own successes, the first failure's errno name)
 *                               at its first failure
 *   spawn-tree N                fork N children that pause, print "ready N", pause (killed from outside)
 *   spin MS                     burn CPU for MS milliseconds of wall-clock time, exit 0
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int usage(void)
{
    fprintf(stderr, "usage: forklift-testee MODE [ARGS...] (modes are listed in tests/testee/testee.c)\n");
    return 2;
}

static long number(const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 0);
    if (errno || end == text || *end) {
        fprintf(stderr, "forklift-testee: not a number: %s\n", text);
        exit(2);
    }
    return v;
}

static const struct { const char *name; int value; } signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT}, {"KILL", SIGKILL},
    {"SEGV", SIGSEGV}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
};

static int signal_arg(const char *text)
{
    const char *name = strncmp(text, "SIG", 3) == 0 ? text + 3 : text;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (strcmp(name, signals[i].name) == 0)
            return signals[i].value;
    return (int)number(text);
}

static int errno_arg(const char *text)
{
    if (strcmp(text, "ENOSYS") == 0)
        return ENOSYS;
    if (strcmp(text, "EPERM") == 0)
        return EPERM;
    if (strcmp(text, "EACCES") == 0)
        return EACCES;
    return (int)number(text);
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            perror("forklift-testee: write");
            exit(3);
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Writes bytes [from, from + len) of the pattern that starts at `first` ('a' or 'A'). */
static void write_pattern(int fd, char first, long from, long len)
{
    char buf[65536];
    while (len > 0) {
        long chunk = len < (long)sizeof buf ? len : (long)sizeof buf;
        for (long i = 0; i < chunk; i++)
            buf[i] = (char)(first + (from + i) % 26);
        write_all(fd, buf, (size_t)chunk);
        from += chunk;
        len -= chunk;
    }
}

static int print_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        perror("forklift-testee: /proc/self/fd");
        return 3;
    }
    int own = dirfd(dir);
    int fds[4096];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && count < 4096) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd != own)
            fds[count++] = fd;
    }
    closedir(dir);
    for (int i = 1; i < count; i++) /* insertion sort: the list is short */
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    for (int i = 0; i < count; i++)
        printf(i ? " %d" : "%d", fds[i]);
    printf("\n");
    return 0;
}

static int print_file(const char *path, const char *only_prefix1, const char *only_prefix2)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 3;
    }
    char line[4096];
    while (fgets(line, sizeof line, f))
        if (!only_prefix1 || strncmp(line, only_prefix1, strlen(only_prefix1)) == 0 ||
            strncmp(line, only_prefix2, strlen(only_prefix2)) == 0)
            fputs(line, stdout);
    fclose(f);
    return 0;
}

static int print_ids(void)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    gid_t groups[256];
    int n = getgroups(256, groups);
    printf("uid=%u,%u,%u gid=%u,%u,%u groups=", ru, eu, su, rg, eg, sg);
    for (int i = 0; i < n; i++)
        printf(i ? ",%u" : "%u", groups[i]);
    printf("\n");
    return 0;
}

/* The session's controlling tty: field 7 (tty_nr) of /proc/self/stat, after the ")" that ends comm. */
static int print_pgid_sid(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    char buf[1024] = {0};
    if (!f || !fgets(buf, sizeof buf, f)) {
        perror("forklift-testee: /proc/self/stat");
        return 3;
    }
    fclose(f);
    const char *p = strrchr(buf, ')');
    int ppid = 0, pgrp = 0, session = 0, tty = 0;
    char state;
    if (!p || sscanf(p + 2, "%c %d %d %d %d", &state, &ppid, &pgrp, &session, &tty) != 5)
        return 3;
    printf("pid=%d pgid=%d sid=%d ctty=%s\n", getpid(), getpgid(0), getsid(0), tty != 0 ? "yes" : "no");
    return 0;
}

static const struct { const char *name; int value; } limits[] = {
    {"CPU", RLIMIT_CPU},         {"FSIZE", RLIMIT_FSIZE},   {"DATA", RLIMIT_DATA},
    {"STACK", RLIMIT_STACK},     {"CORE", RLIMIT_CORE},     {"RSS", RLIMIT_RSS},
    {"NPROC", RLIMIT_NPROC},     {"NOFILE", RLIMIT_NOFILE}, {"MEMLOCK", RLIMIT_MEMLOCK},
    {"AS", RLIMIT_AS},           {"LOCKS", RLIMIT_LOCKS},   {"SIGPENDING", RLIMIT_SIGPENDING},
    {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},   {"RTPRIO", RLIMIT_RTPRIO},
    {"RTTIME", RLIMIT_RTTIME},
};

static void print_limit(rlim_t v) { v == RLIM_INFINITY ? printf("unlimited") : printf("%llu", (unsigned long long)v); }

static int print_rlimit(const char *name)
{
    const char *n = strncmp(name, "RLIMIT_", 7) == 0 ? name + 7 : name;
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (strcmp(n, limits[i].name) == 0) {
            struct rlimit lim;
            getrlimit(limits[i].value, &lim);
            print_limit(lim.rlim_cur);
            printf(" ");
            print_limit(lim.rlim_max);
            printf("\n");
            return 0;
        }
    return usage();
}

static int wait_signal(int sig)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("ready\n");
    fflush(stdout);
    int got = 0;
    return sigwait(&set, &got) == 0 && got == sig ? 0 : 1;
}

/* clone3 -> errno, except (size >= 0) a clone3 whose size argument (args[1], all 64 bits) is `size`; everything
   else allowed, other architectures' calls too (the filter is a test aid). */
static int seccomp_clone3(int err, long size, char **argv)
{
    const unsigned args1 = offsetof(struct seccomp_data, args) + sizeof(uint64_t); /* args[1], low word first */
    struct sock_filter filter[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 8),  /* other arch -> 10 allow */
        /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 435, 0, 6),                /* not clone3 -> 10 allow */
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JA, size < 0 ? 4u : 0u, 0, 0),         /* no exception -> 9 fail */
        /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, args1 + 4),
        /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),                  /* high word not 0 -> 9 fail */
        /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, args1),
        /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)size, 1, 0),     /* the size -> 10 allow */
        /* 9 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        /* 10 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("forklift-testee: seccomp");
        return 3;
    }
    execv(argv[0], argv);
    perror(argv[0]);
    return 127;
}

/* Allocate and touch (a memory cgroup charges a page when it is first touched, not when it is mapped). */
static int hog(long mib)
{
    for (long i = 0; i < mib; i++) {
        char *chunk = malloc(1 << 20);
        if (!chunk) {
            printf("malloc failed at %ld\n", i);
            return 3;
        }
        for (long off = 0; off < (1 << 20); off += 4096)
            chunk[off] = (char)off;
    }
    printf("allocated %ld\n", mib);
    return 0;
}

_Noreturn static void fork_bomb(void)
{
    const pid_t first = getpid();
    long made = 0;
    int reported = 0;
    for (;;) {
        pid_t p = fork();
        if (p == 0)
            continue; /* the new process joins the bomb */
        if (p > 0) {
            made++;
            continue;
        }
        if (getpid() == first && !reported) {
            printf("forked %ld %s\n", made, errno == EAGAIN ? "EAGAIN" : strerror(errno));
            fflush(stdout);
            reported = 1;
        }
        sleep_ms(20);
    }
}

_Noreturn static void spawn_tree(long n)
{
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) {
            perror("forklift-testee: fork");
            exit(3);
        }
        if (p == 0) {
            for (;;)
                pause();
        }
    }
    printf("ready %ld\n", n);
    fflush(stdout);
    for (;;)
        pause();
}

static int spin(long ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile unsigned long sink = 0;
    do {
        for (int i = 0; i < 100000; i++)
            sink += (unsigned long)i;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *mode = argv[1];
    const char *arg = argc > 2 ? argv[2] : NULL;

    if (strcmp(mode, "exit") == 0 && arg)
        return (int)number(arg);
    if (strcmp(mode, "sleep") == 0 && arg) {
        sleep_ms(number(arg));
        return 0;
    }
    if (strcmp(mode, "kill-self") == 0 && arg) {
        int sig = signal_arg(arg);
        fflush(stdout);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        return 1; /* the signal was ignored or is not fatal */
    }
    if (strcmp(mode, "fds") == 0)
        return print_fds();
    if (strcmp(mode, "env") == 0) {
        for (char **e = environ; *e; e++)
            printf("%s\n", *e);
        return 0;
    }
    if (strcmp(mode, "cwd") == 0) {
        char buf[4096];
        if (!getcwd(buf, sizeof buf)) {
            perror("forklift-testee: getcwd");
            return 3;
        }
        printf("%s\n", buf);
        return 0;
    }
    if (strcmp(mode, "argv") == 0) {
        for (int i = 0; i < argc; i++)
            printf("%s\n", argv[i]);
        return 0;
    }
    if (strcmp(mode, "echo") == 0) {
        char buf[65536];
        for (;;) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? 3 : 0;
            write_all(1, buf, (size_t)n);
        }
    }
    if (strcmp(mode, "write-out") == 0 && arg) {
        write_pattern(1, 'a', 0, number(arg));
        return 0;
    }
    if (strcmp(mode, "write-both") == 0 && arg) {
        long n = number(arg);
        for (long off = 0; off < n; off += 65536) {
            long chunk = n - off < 65536 ? n - off : 65536;
            write_pattern(1, 'a', off, chunk);
            write_pattern(2, 'A', off, chunk);
        }
        return 0;
    }
    if (strcmp(mode, "close-stdout-then-sleep") == 0 && arg) {
        close(1);
        sleep_ms(number(arg));
        return 0;
    }
    if (strcmp(mode, "umask") == 0) {
        mode_t m = umask(0);
        printf("%04o\n", (unsigned)m);
        return 0;
    }
    if (strcmp(mode, "sigmask") == 0)
        return print_file("/proc/self/status", "SigBlk:", "SigIgn:");
    if (strcmp(mode, "ids") == 0)
        return print_ids();
    if (strcmp(mode, "pgid-sid") == 0)
        return print_pgid_sid();
    if (strcmp(mode, "rlimit") == 0 && arg)
        return print_rlimit(arg);
    if (strcmp(mode, "nnp") == 0) {
        printf("%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
        return 0;
    }
    if (strcmp(mode, "pdeathsig") == 0) {
        int sig = 0;
        prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
        printf("%d\n", sig);
        return 0;
    }
    if (strcmp(mode, "ppid") == 0) {
        printf("%d\n", getppid());
        return 0;
    }
    if (strcmp(mode, "sigwait") == 0 && arg)
        return wait_signal(signal_arg(arg));
    if (strcmp(mode, "cgroup") == 0)
        return print_file("/proc/self/cgroup", NULL, NULL);
    if (strcmp(mode, "seccomp-clone3") == 0 && argc > 3)
        return seccomp_clone3(errno_arg(argv[2]), -1, argv + 3);
    if (strcmp(mode, "seccomp-clone3-unless-size") == 0 && argc > 4)
        return seccomp_clone3(errno_arg(argv[3]), atol(argv[2]), argv + 4);
    if (strcmp(mode, "hog") == 0 && arg)
        return hog(number(arg));
    if (strcmp(mode, "fork-bomb") == 0)
        fork_bomb();
    if (strcmp(mode, "spawn-tree") == 0 && arg)
        spawn_tree(number(arg));
    if (strcmp(mode, "spin") == 0 && arg)
        return spin(number(arg));
    return usage();
}
