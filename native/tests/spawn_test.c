/*
 * spawn_test.c: the spawn stage (libforklift_native.so) against the real kernel.
 *
 *   spawn_test TESTEE                  run every test; prints "ok N checks" or the failures; exit 0 iff all passed
 *   spawn_test TESTEE --bench [ROUNDS] time fl_spawn (fast path) vs posix_spawn vs vfork+execve of /bin/true
 *
 * TESTEE is the path of forklift-testee (tests/testee/testee.c). Two modes are for the test itself: it re-runs
 * itself under a seccomp filter that blocks clone3 (--under-seccomp ENOSYS|EPERM, through the testee's
 * seccomp-clone3 mode) and with close_range blocked (--close-range-enosys).
 *
 * Built by tests/Forklift.Tests/NativeSpawn/NativeSpawnSpecs.cs:
 *   gcc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I native/include spawn_test.c \
 *       -L artifacts/native -lforklift_native -Wl,-rpath,artifacts/native -lpthread
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forklift_spawn.h"

extern char **environ;

static const char *testee;
static char self_exe[4096];
static char tmpdir[256];
static int checks, failures;
static const char *run_name = "spawn_test";
static uint32_t extra_flags; /* added to every plan (the runs under seccomp allow the EPERM fallback) */

#define CHECK(cond, ...)                                                                                      \
    do {                                                                                                      \
        checks++;                                                                                             \
        if (!(cond)) {                                                                                        \
            failures++;                                                                                       \
            fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, current, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                              \
        }                                                                                                     \
    } while (0)

static const char *current = "";

/* ---- plans ---- */

#define MAX_STEPS 32
#define MAX_ARGS 16

typedef struct pb {
    fl_spawn_plan plan;
    fl_spawn_step steps[MAX_STEPS + 1];
    const char *paths[8];
    const char *argv[MAX_ARGS];
    int32_t errnos[8];
} pb;

/* A plan that execs the testee with MODE ARGS... (NULL-terminated), every other field at its default. */
static void pb_init(pb *b, uint32_t flags, const char *mode, ...)
{
    memset(b, 0, sizeof *b);
    b->plan.version = FL_SPAWN_VERSION;
    b->plan.flags = flags | FL_PLAN_RESET_SIGNALS | extra_flags;
    b->plan.exit_signal = SIGCHLD;
    b->paths[0] = testee;
    b->plan.exec_paths = b->paths;
    b->plan.exec_path_count = 1;
    b->argv[0] = testee;
    int n = 1;
    va_list ap;
    va_start(ap, mode);
    for (const char *a = mode; a && n < MAX_ARGS - 1; a = va_arg(ap, const char *))
        b->argv[n++] = a;
    va_end(ap);
    b->argv[n] = NULL;
    b->plan.argv = b->argv;
    b->plan.envp = (const char *const *)environ;
    b->plan.steps = b->steps;
    b->plan.exec_errnos = b->errnos;
}

static void pb_paths(pb *b, int count, ...)
{
    va_list ap;
    va_start(ap, count);
    for (int i = 0; i < count; i++)
        b->paths[i] = va_arg(ap, const char *);
    va_end(ap);
    b->plan.exec_path_count = (uint32_t)count;
}

static fl_spawn_step *pb_step(pb *b, int op, int64_t a, int64_t bb, int64_t c, const char *str, const void *ptr)
{
    fl_spawn_step *s = &b->steps[b->plan.step_count++];
    s->op = op;
    s->a = a;
    s->b = bb;
    s->c = c;
    s->str = str;
    s->ptr = ptr;
    return s;
}

/* ---- running ---- */

typedef struct outcome {
    int rc;          /* fl_spawn (then fl_spawn_release for SYNC plans) */
    fl_spawn_result res;
    int status;      /* wait status, -1 when there was no child to wait for */
    int64_t rusage[18];
    char out[1 << 16];
    size_t len;
} outcome;

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char sink[4096];
    for (;;) {
        ssize_t n = len < cap - 1 ? read(fd, buf + len, cap - 1 - len) : read(fd, sink, sizeof sink);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (len < cap - 1)
            len += (size_t)n;
    }
    buf[len] = 0;
    return len;
}

static int wait_and_close(fl_spawn_result *res, int64_t *rusage)
{
    int32_t status = -1;
    if (res->pidfd >= 0) {
        int r = fl_pidfd_wait(res->pidfd, 0, &status, rusage);
        if (r != 1)
            fprintf(stderr, "fl_pidfd_wait: %d\n", r);
        close(res->pidfd);
        res->pidfd = -1;
    }
    return status;
}

/* Runs the plan with the child's stdout on a pipe (a DUP2 step put first), collects the output, waits. */
static void run(pb *b, outcome *o)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        perror("pipe2");
        exit(2);
    }
    fl_spawn_plan plan = b->plan;
    fl_spawn_step steps[MAX_STEPS + 1];
    steps[0] = (fl_spawn_step){.op = FL_OP_DUP2, .a = p[1], .b = 1};
    memcpy(steps + 1, b->steps, sizeof(fl_spawn_step) * plan.step_count);
    plan.steps = steps;
    plan.step_count++;
    o->rc = fl_spawn(&plan, &o->res);
    if (o->rc == 0 && (plan.flags & FL_PLAN_SYNC))
        o->rc = fl_spawn_release(&o->res, &plan, 1);
    close(p[1]);
    o->len = read_all(p[0], o->out, sizeof o->out);
    close(p[0]);
    o->status = wait_and_close(&o->res, o->rusage);
}

/* Runs the plan without capturing anything (step indexes stay the plan's own). */
static void run_plain(pb *b, outcome *o)
{
    o->rc = fl_spawn(&b->plan, &o->res);
    if (o->rc == 0 && (b->plan.flags & FL_PLAN_SYNC))
        o->rc = fl_spawn_release(&o->res, &b->plan, 1);
    o->len = 0;
    o->out[0] = 0;
    o->status = wait_and_close(&o->res, o->rusage);
}

static int exited(int status, int code) { return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == code; }
static int killed_by(int status, int sig) { return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == sig; }

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* Whether the space-separated list has the number. */
static int has_number(const char *list, int n)
{
    char want[16];
    snprintf(want, sizeof want, "%d", n);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\n')
            p++;
        size_t len = strcspn(p, " \n");
        if (len == strlen(want) && strncmp(p, want, len) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/* "SigBlk:\t<hex>" -> value */
static unsigned long long status_field(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    return p ? strtoull(p + strlen(name), NULL, 16) : ~0ULL;
}

static int no_children(void)
{
    int st;
    return waitpid(-1, &st, WNOHANG | __WALL) == -1 && errno == ECHILD;
}

static int child_gone(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG | __WALL) == -1 && errno == ECHILD;
}

static const uint32_t paths[] = {FL_PLAN_FAST, 0, FL_PLAN_FAST | FL_PLAN_NO_CLONE3, FL_PLAN_NO_CLONE3};
static const char *path_names[] = {"fast/clone3", "full/clone3", "fast/clone", "full/clone"};
#define FOR_EACH_PATH(i) for (int i = 0; i < 4; i++)

static char label[128];
static const char *at(const char *test, int path)
{
    snprintf(label, sizeof label, "%s %s", test, path_names[path]);
    return label;
}

/* ---- the tests ---- */

static void test_exec_each_path(void)
{
    FOR_EACH_PATH(i)
    {
        current = at("exec", i);
        static pb b;
        static outcome o;
        pb_init(&b, paths[i], "argv", "x y", "", NULL);
        const int timed = i % 2 == 0; /* FL_PLAN_TIME_CALL on every other path: call_ns is filled, else 0 */
        if (timed)
            b.plan.flags |= FL_PLAN_TIME_CALL;
        run(&b, &o);
        CHECK(o.rc == 0 && o.res.ok == 1, "rc %d ok %d err %d step %d", o.rc, o.res.ok, o.res.error_errno,
              o.res.error_step);
        CHECK(o.res.pid > 0, "pid %d", o.res.pid);
        char want[8192];
        snprintf(want, sizeof want, "%s\nargv\nx y\n\n", testee);
        CHECK(strcmp(o.out, want) == 0, "output [%s]", o.out);
        CHECK(exited(o.status, 0), "status %#x", o.status);
        CHECK(o.res.used_clone3 == !(paths[i] & FL_PLAN_NO_CLONE3), "used_clone3 %d", o.res.used_clone3);
        CHECK(o.res.clone3_errno == 0, "clone3_errno %d", o.res.clone3_errno);
        CHECK(timed ? o.res.call_ns > 0 && o.res.call_ns < 5000000000LL : o.res.call_ns == 0, "call_ns %lld (timed %d)",
              (long long)o.res.call_ns, timed);
        CHECK(o.res.sync_fd == -1 && o.res.error_fd == -1, "sync_fd %d error_fd %d", o.res.sync_fd,
              o.res.error_fd);
        CHECK(child_gone(o.res.pid), "child %d not reaped", o.res.pid);
    }
}

static void test_env_and_cwd(void)
{
    FOR_EACH_PATH(i)
    {
        current = at("env/cwd", i);
        static pb b;
        static outcome o;
        static const char *env[] = {"A=1", "B=two words", NULL};
        pb_init(&b, paths[i], "env", NULL);
        b.plan.envp = env;
        run(&b, &o);
        CHECK(strcmp(o.out, "A=1\nB=two words\n") == 0, "env [%s]", o.out);

        pb_init(&b, paths[i], "cwd", NULL);
        pb_step(&b, FL_OP_CHDIR, 0, 0, 0, "/usr/lib", NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "/usr/lib\n") == 0, "chdir [%s]", o.out);

        int dir = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        pb_init(&b, paths[i], "cwd", NULL);
        pb_step(&b, FL_OP_FCHDIR, dir, 0, 0, NULL, NULL);
        run(&b, &o);
        close(dir);
        CHECK(strcmp(o.out, "/etc\n") == 0, "fchdir [%s]", o.out);
    }
}

static void test_wait_status_and_rusage(void)
{
    FOR_EACH_PATH(i)
    {
        current = at("wait", i);
        static pb b;
        static outcome o;
        pb_init(&b, paths[i], "exit", "3", NULL);
        run_plain(&b, &o);
        CHECK(exited(o.status, 3), "status %#x", o.status);
        CHECK(o.rusage[4] > 0, "ru_maxrss %lld", (long long)o.rusage[4]);

        pb_init(&b, paths[i], "kill-self", "TERM", NULL);
        run_plain(&b, &o);
        CHECK(killed_by(o.status, SIGTERM), "status %#x", o.status);
    }

    current = "wait WNOHANG";
    static pb b;
    fl_spawn_result res;
    pb_init(&b, FL_PLAN_FAST, "sleep", "10000", NULL);
    CHECK(fl_spawn(&b.plan, &res) == 0, "spawn");
    int32_t status = -1;
    CHECK(fl_pidfd_wait(res.pidfd, WNOHANG, &status, NULL) == 0, "a running child is not collected");
    int32_t info = -1;
    CHECK(fl_pidfd_exit_info(res.pidfd, &info) == 0, "no exit info while it runs");
    CHECK(fl_pidfd_send_signal(res.pidfd, SIGKILL) == 0, "kill");
    CHECK(fl_pidfd_wait(res.pidfd, 0, &status, NULL) == 1 && killed_by(status, SIGKILL), "status %#x", status);
    CHECK(fl_pidfd_send_signal(res.pidfd, SIGTERM) == -ESRCH, "a reaped child gives ESRCH");
    CHECK(fl_pidfd_wait(res.pidfd, 0, &status, NULL) == -ECHILD, "waiting twice gives ECHILD");
    close(res.pidfd);

    current = "exit info after someone else reaped";
    pb_init(&b, FL_PLAN_FAST, "exit", "7", NULL);
    CHECK(fl_spawn(&b.plan, &res) == 0, "spawn");
    int st = 0;
    CHECK(waitpid(res.pid, &st, 0) == res.pid && WEXITSTATUS(st) == 7, "waitpid by pid");
    CHECK(fl_pidfd_wait(res.pidfd, WNOHANG, &status, NULL) == -ECHILD, "already reaped");
    info = -1;
    int r = fl_pidfd_exit_info(res.pidfd, &info);
    CHECK(r == 1 && exited(info, 7), "exit info %d status %#x", r, info);
    close(res.pidfd);

    pb_init(&b, FL_PLAN_FAST, "kill-self", "USR1", NULL);
    CHECK(fl_spawn(&b.plan, &res) == 0, "spawn");
    CHECK(waitpid(res.pid, &st, 0) == res.pid, "waitpid by pid");
    r = fl_pidfd_exit_info(res.pidfd, &info);
    CHECK(r == 1 && killed_by(info, SIGUSR1), "exit info %d status %#x", r, info);
    close(res.pidfd);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        exit(2);
    }
    close(fd);
    chmod(path, mode);
}

static void test_exec_errors(void)
{
    char missing[300], noexec[300], script[300], missing_dir[300], notdir[300];
    snprintf(missing, sizeof missing, "%s/missing", tmpdir);
    snprintf(noexec, sizeof noexec, "%s/noexec", tmpdir);
    snprintf(script, sizeof script, "%s/script", tmpdir);
    snprintf(missing_dir, sizeof missing_dir, "%s/nodir/prog", tmpdir);
    snprintf(notdir, sizeof notdir, "%s/noexec/prog", tmpdir);
    write_file(noexec, "#!/bin/sh\nexit 0\n", 0644);
    write_file(script, "exit 0\n", 0755);

    FOR_EACH_PATH(i)
    {
        static pb b;
        static outcome o;

        current = at("exec ENOENT then success", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_paths(&b, 4, missing, missing_dir, notdir, testee);
        run_plain(&b, &o);
        CHECK(o.rc == 0 && o.res.ok == 1, "rc %d err %d", o.rc, o.res.error_errno);
        CHECK(b.errnos[0] == ENOENT && b.errnos[1] == ENOENT && b.errnos[2] == ENOTDIR && b.errnos[3] == 0,
              "errnos %d %d %d %d", b.errnos[0], b.errnos[1], b.errnos[2], b.errnos[3]);
        CHECK(exited(o.status, 0), "status %#x", o.status);

        current = at("exec ENOENT twice", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_paths(&b, 2, missing, missing_dir);
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.ok == 0, "rc %d", o.rc);
        CHECK(o.res.error_step == FL_STEP_EXEC && o.res.error_errno == ENOENT && o.res.error_detail == 1,
              "step %d errno %d detail %d", o.res.error_step, o.res.error_errno, o.res.error_detail);
        CHECK(b.errnos[0] == ENOENT && b.errnos[1] == ENOENT, "errnos %d %d", b.errnos[0], b.errnos[1]);
        CHECK(o.res.pid > 0 && o.res.pidfd == -1 && child_gone(o.res.pid), "pid %d pidfd %d", o.res.pid,
              o.res.pidfd);

        current = at("exec EACCES remembered", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_paths(&b, 2, noexec, missing);
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == FL_STEP_EXEC && o.res.error_errno == EACCES &&
                  o.res.error_detail == 0,
              "rc %d step %d errno %d detail %d", o.rc, o.res.error_step, o.res.error_errno, o.res.error_detail);
        CHECK(b.errnos[0] == EACCES && b.errnos[1] == ENOENT, "errnos %d %d", b.errnos[0], b.errnos[1]);

        current = at("exec EACCES then success", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_paths(&b, 2, noexec, testee);
        run_plain(&b, &o);
        CHECK(o.rc == 0 && exited(o.status, 0) && b.errnos[0] == EACCES && b.errnos[1] == 0, "rc %d errnos %d %d",
              o.rc, b.errnos[0], b.errnos[1]);

        current = at("exec ENOEXEC stops", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_paths(&b, 2, script, testee);
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == FL_STEP_EXEC && o.res.error_errno == ENOEXEC &&
                  o.res.error_detail == 0,
              "rc %d step %d errno %d detail %d", o.rc, o.res.error_step, o.res.error_errno, o.res.error_detail);
        CHECK(b.errnos[0] == ENOEXEC && b.errnos[1] == 0, "errnos %d %d", b.errnos[0], b.errnos[1]);

        current = at("exec a directory", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_paths(&b, 1, tmpdir);
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == FL_STEP_EXEC && o.res.error_errno == EACCES, "rc %d errno %d",
              o.rc, o.res.error_errno);
    }
}

static void test_failing_steps(void)
{
    FOR_EACH_PATH(i)
    {
        static pb b;
        static outcome o;
        current = at("chdir to a missing dir", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_step(&b, FL_OP_UMASK, 022, 0, 0, NULL, NULL);
        pb_step(&b, FL_OP_CHDIR, 0, 0, 0, "/nonexistent/forklift", NULL);
        pb_step(&b, FL_OP_UMASK, 022, 0, 0, NULL, NULL);
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.ok == 0 && o.res.error_step == 1 && o.res.error_errno == ENOENT,
              "rc %d step %d errno %d", o.rc, o.res.error_step, o.res.error_errno);
        CHECK(o.res.pid > 0 && o.res.pidfd == -1 && child_gone(o.res.pid), "pid %d pidfd %d", o.res.pid,
              o.res.pidfd);
        CHECK(b.errnos[0] == 0, "exec not tried: %d", b.errnos[0]);

        current = at("an empty slot", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_step(&b, FL_OP_DUP2, FL_FD_SLOT(3), 1, 0, NULL, NULL);
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == 0 && o.res.error_errno == EBADF &&
                  o.res.error_detail == FL_FD_SLOT(3),
              "step %d errno %d detail %d", o.res.error_step, o.res.error_errno, o.res.error_detail);

        current = at("SIGKILL cannot be ignored", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_step(&b, FL_OP_SIGNAL_IGNORE, SIGKILL, 0, 0, NULL, NULL);
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == 0 && o.res.error_errno == EINVAL && o.res.error_detail == SIGKILL,
              "step %d errno %d detail %d", o.res.error_step, o.res.error_errno, o.res.error_detail);

        current = at("write a missing file", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_step(&b, FL_OP_WRITE_FILE, 1, 0, 0, "/nonexistent/forklift", "x");
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == 0 && o.res.error_errno == ENOENT, "step %d errno %d",
              o.res.error_step, o.res.error_errno);
    }
}

static void test_fd_steps(void)
{
    FOR_EACH_PATH(i)
    {
        static pb b;
        static outcome o;
        int cloexec_fd = 40, plain_fd = 41, extra = 42;
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        dup3(devnull, cloexec_fd, O_CLOEXEC);
        dup2(devnull, plain_fd);
        dup2(devnull, extra);
        close(devnull);

        current = at("fds inherited", i);
        pb_init(&b, paths[i], "fds", NULL);
        run(&b, &o);
        CHECK(!has_number(o.out, cloexec_fd) && has_number(o.out, plain_fd) && has_number(o.out, extra), "[%s]",
              o.out);

        current = at("dup2 onto itself clears cloexec; close", i);
        pb_init(&b, paths[i], "fds", NULL);
        pb_step(&b, FL_OP_DUP2, cloexec_fd, cloexec_fd, 0, NULL, NULL);
        pb_step(&b, FL_OP_CLOSE, plain_fd, 0, 0, NULL, NULL);
        run(&b, &o);
        CHECK(has_number(o.out, cloexec_fd) && !has_number(o.out, plain_fd) && has_number(o.out, extra), "[%s]",
              o.out);

        current = at("close_range", i);
        pb_init(&b, paths[i], "fds", NULL);
        pb_step(&b, FL_OP_CLOSE_RANGE, 3, 0xffffffffLL, 0, NULL, NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "0 1 2\n") == 0, "[%s]", o.out);

        current = at("close_range cloexec", i);
        pb_init(&b, paths[i], "fds", NULL);
        pb_step(&b, FL_OP_CLOSE_RANGE, 3, 0xffffffffLL, CLOSE_RANGE_CLOEXEC, NULL, NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "0 1 2\n") == 0, "[%s]", o.out);

        current = at("close_range part", i);
        pb_init(&b, paths[i], "fds", NULL);
        pb_step(&b, FL_OP_CLOSE_RANGE, plain_fd, plain_fd, 0, NULL, NULL);
        run(&b, &o);
        CHECK(!has_number(o.out, plain_fd) && has_number(o.out, extra), "[%s]", o.out);
        close(cloexec_fd);
        close(plain_fd);
        close(extra);

        current = at("open", i);
        char path[300];
        snprintf(path, sizeof path, "%s/open-%d", tmpdir, i);
        pb_init(&b, paths[i], "write-out", "100", NULL);
        pb_step(&b, FL_OP_OPEN, 1, O_WRONLY | O_CREAT | O_TRUNC, 0600, path, NULL);
        run_plain(&b, &o);
        CHECK(o.rc == 0 && exited(o.status, 0), "rc %d status %#x", o.rc, o.status);
        char got[256] = {0};
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, got, sizeof got - 1) : -1;
        if (fd >= 0)
            close(fd);
        CHECK(n == 100 && got[0] == 'a' && got[25] == 'z' && got[26] == 'a' && got[99] == 'a' + 99 % 26, "%zd [%s]",
              n, got);
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode %o", sb.st_mode & 0777);

        current = at("open keeps or drops cloexec", i);
        pb_init(&b, paths[i], "fds", NULL);
        pb_step(&b, FL_OP_OPEN, 50, O_RDONLY, 0, "/dev/null", NULL);
        pb_step(&b, FL_OP_OPEN, 51, O_RDONLY | O_CLOEXEC, 0, "/dev/null", NULL);
        run(&b, &o);
        CHECK(has_number(o.out, 50) && !has_number(o.out, 51), "[%s]", o.out);

        current = at("open a missing file", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_step(&b, FL_OP_OPEN, 0, O_RDONLY, 0, "/nonexistent/forklift", NULL);
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == 0 && o.res.error_errno == ENOENT && o.res.error_detail == 0,
              "step %d errno %d detail %d", o.res.error_step, o.res.error_errno, o.res.error_detail);

        /* dup_above: swap two fds through slots; stdout and stderr end up crossed */
        current = at("dup_above swap", i);
        int a[2], c[2];
        pipe2(a, O_CLOEXEC);
        pipe2(c, O_CLOEXEC);
        dup3(a[1], 20, O_CLOEXEC);
        dup3(c[1], 21, O_CLOEXEC);
        close(a[1]);
        close(c[1]);
        pb_init(&b, paths[i], "write-both", "1000", NULL);
        pb_step(&b, FL_OP_DUP_ABOVE, 20, 100, 0, NULL, NULL);
        pb_step(&b, FL_OP_DUP_ABOVE, 21, 100, 1, NULL, NULL);
        pb_step(&b, FL_OP_DUP2, FL_FD_SLOT(1), 20, 0, NULL, NULL);
        pb_step(&b, FL_OP_DUP2, FL_FD_SLOT(0), 21, 0, NULL, NULL);
        pb_step(&b, FL_OP_DUP2, 20, 1, 0, NULL, NULL);
        pb_step(&b, FL_OP_DUP2, 21, 2, 0, NULL, NULL);
        o.rc = fl_spawn(&b.plan, &o.res);
        close(20);
        close(21);
        static char out_a[4096], out_c[4096];
        size_t la = read_all(a[0], out_a, sizeof out_a), lc = read_all(c[0], out_c, sizeof out_c);
        close(a[0]);
        close(c[0]);
        o.status = wait_and_close(&o.res, NULL);
        CHECK(o.rc == 0 && exited(o.status, 0), "rc %d step %d errno %d status %#x", o.rc, o.res.error_step,
              o.res.error_errno, o.status);
        CHECK(la == 1000 && lc == 1000 && out_a[0] == 'A' && out_c[0] == 'a', "a: %zu [%.5s] c: %zu [%.5s]", la,
              out_a, lc, out_c);
    }
}

static void test_process_steps(void)
{
    pid_t me = getpid();
    FOR_EACH_PATH(i)
    {
        static pb b;
        static outcome o;
        char want[256];

        current = at("umask", i);
        pb_init(&b, paths[i], "umask", NULL);
        pb_step(&b, FL_OP_UMASK, 027, 0, 0, NULL, NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "0027\n") == 0, "[%s]", o.out);

        current = at("setsid", i);
        pb_init(&b, paths[i], "pgid-sid", NULL);
        pb_step(&b, FL_OP_SETSID, 0, 0, 0, NULL, NULL);
        run(&b, &o);
        snprintf(want, sizeof want, "pid=%d pgid=%d sid=%d ctty=no\n", o.res.pid, o.res.pid, o.res.pid);
        CHECK(strcmp(o.out, want) == 0, "[%s] want [%s]", o.out, want);

        current = at("setpgid", i);
        pb_init(&b, paths[i], "pgid-sid", NULL);
        pb_step(&b, FL_OP_SETPGID, 0, 0, 0, NULL, NULL);
        run(&b, &o);
        snprintf(want, sizeof want, "pid=%d pgid=%d sid=%d ", o.res.pid, o.res.pid, getsid(0));
        CHECK(strncmp(o.out, want, strlen(want)) == 0, "[%s] want [%s]", o.out, want);

        current = at("controlling tty", i);
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0) {
            const char *pts = ptsname(master);
            pb_init(&b, paths[i], "pgid-sid", NULL);
            pb_step(&b, FL_OP_SETSID, 0, 0, 0, NULL, NULL);
            pb_step(&b, FL_OP_OPEN, 10, O_RDWR | O_NOCTTY, 0, pts, NULL);
            pb_step(&b, FL_OP_SET_CTTY, 10, 0, 0, NULL, NULL);
            pb_step(&b, FL_OP_TCSETPGRP, 10, 0, 0, NULL, NULL);
            run(&b, &o);
            CHECK(o.rc == 0 && strstr(o.out, "ctty=yes"), "rc %d step %d errno %d [%s]", o.rc, o.res.error_step,
                  o.res.error_errno, o.out);
        } else {
            CHECK(0, "no pty: %s", strerror(errno));
        }
        if (master >= 0)
            close(master);

        current = at("pdeathsig", i);
        pb_init(&b, paths[i], "pdeathsig", NULL);
        pb_step(&b, FL_OP_PDEATHSIG, SIGUSR1, me, 0, NULL, NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "10\n") == 0, "[%s]", o.out);

        current = at("pdeathsig, parent already gone", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_step(&b, FL_OP_PDEATHSIG, SIGTERM, 1, 0, NULL, NULL); /* "our parent must be pid 1": it is not */
        run_plain(&b, &o);
        CHECK(killed_by(o.status, SIGTERM), "status %#x", o.status);

        current = at("setrlimit", i);
        pb_init(&b, paths[i], "rlimit", "NOFILE", NULL);
        pb_step(&b, FL_OP_SETRLIMIT, RLIMIT_NOFILE, 100, 200, NULL, NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "100 200\n") == 0, "[%s]", o.out);

        current = at("no_new_privs", i);
        pb_init(&b, paths[i], "nnp", NULL);
        pb_step(&b, FL_OP_NO_NEW_PRIVS, 0, 0, 0, NULL, NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "1\n") == 0, "[%s]", o.out);

        current = at("credentials", i);
        if (geteuid() == 0) {
            static const uint32_t groups[] = {1234, 5678};
            pb_init(&b, paths[i], "ids", NULL);
            pb_step(&b, FL_OP_SETGROUPS, 2, 0, 0, NULL, groups);
            pb_step(&b, FL_OP_SETRESGID, 4321, 0, 0, NULL, NULL);
            pb_step(&b, FL_OP_SETRESUID, 4321, 0, 0, NULL, NULL);
            run(&b, &o);
            CHECK(strcmp(o.out, "uid=4321,4321,4321 gid=4321,4321,4321 groups=1234,5678\n") == 0,
                  "rc %d step %d errno %d [%s]", o.rc, o.res.error_step, o.res.error_errno, o.out);
            CHECK(getuid() == 0 && getgid() == 0, "the parent's ids changed");
        } else {
            printf("skip: credentials (not root)\n");
        }

        current = at("write_file", i);
        char path[300];
        snprintf(path, sizeof path, "%s/write-%d", tmpdir, i);
        write_file(path, "", 0600);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_step(&b, FL_OP_WRITE_FILE, 11, 0, 0, path, "hello world");
        run_plain(&b, &o);
        char got[64] = {0};
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = read(fd, got, sizeof got - 1);
        close(fd);
        CHECK(o.rc == 0 && n == 11 && strcmp(got, "hello world") == 0, "rc %d [%s]", o.rc, got);
    }
}

static volatile sig_atomic_t handler_ran;
static void on_signal(int sig)
{
    (void)sig;
    handler_ran = 1;
}

static void test_signals(void)
{
    struct sigaction handler = {0}, ignore = {0}, old_term, old_usr1, old_usr2;
    handler.sa_handler = on_signal;
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &handler, &old_term);
    sigaction(SIGUSR1, &ignore, &old_usr1);
    sigaction(SIGUSR2, &handler, &old_usr2);
    sigset_t blocked, old_mask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &blocked, &old_mask);

    FOR_EACH_PATH(i)
    {
        static pb b;
        static outcome o;

        /* The child sends itself SIGTERM (pdeathsig race path); it is delivered when the mask is installed, just
           before execve. With our handler still installed the child would survive and exec. */
        current = at("caught signals reset", i);
        pb_init(&b, paths[i], "exit", "0", NULL);
        pb_step(&b, FL_OP_PDEATHSIG, SIGTERM, 1, 0, NULL, NULL);
        run_plain(&b, &o);
        CHECK(killed_by(o.status, SIGTERM), "status %#x", o.status);

        current = at("ignored stay ignored, mask is empty", i);
        pb_init(&b, paths[i], "sigmask", NULL);
        run(&b, &o);
        unsigned long long blk = status_field(o.out, "SigBlk:"), ign = status_field(o.out, "SigIgn:");
        CHECK(blk == 0, "SigBlk %llx", blk);
        CHECK((ign & (1ULL << (SIGUSR1 - 1))) && !(ign & (1ULL << (SIGUSR2 - 1))), "SigIgn %llx", ign);

        current = at("signal steps and the mask", i);
        pb_init(&b, paths[i], "sigmask", NULL);
        b.plan.flags |= FL_PLAN_SET_SIGMASK;
        b.plan.sigmask = 1ULL << (SIGUSR2 - 1);
        pb_step(&b, FL_OP_SIGNAL_DEFAULT, SIGUSR1, 0, 0, NULL, NULL);
        pb_step(&b, FL_OP_SIGNAL_IGNORE, SIGHUP, 0, 0, NULL, NULL);
        run(&b, &o);
        blk = status_field(o.out, "SigBlk:");
        ign = status_field(o.out, "SigIgn:");
        CHECK(blk == 1ULL << (SIGUSR2 - 1), "SigBlk %llx", blk);
        CHECK(!(ign & (1ULL << (SIGUSR1 - 1))) && (ign & (1ULL << (SIGHUP - 1))), "SigIgn %llx", ign);
    }

    /* Control: without FL_PLAN_RESET_SIGNALS the handler does run in the child (full path: its own copy). */
    current = "no reset: the handler runs";
    static pb b;
    static outcome o;
    pb_init(&b, 0, "exit", "0", NULL);
    b.plan.flags &= ~(uint32_t)FL_PLAN_RESET_SIGNALS;
    pb_step(&b, FL_OP_PDEATHSIG, SIGTERM, 1, 0, NULL, NULL);
    run_plain(&b, &o);
    CHECK(exited(o.status, 0), "status %#x", o.status);

    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    CHECK(now.sa_handler == on_signal, "the parent's handler survived");
    CHECK(handler_ran == 0, "the handler never ran in the parent");
    sigset_t mask_now;
    pthread_sigmask(SIG_SETMASK, NULL, &mask_now);
    CHECK(sigismember(&mask_now, SIGHUP) && !sigismember(&mask_now, SIGTERM), "the parent's mask is restored");

    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGUSR2, &old_usr2, NULL);
}

static void test_sync(void)
{
    for (int legacy = 0; legacy < 2; legacy++) {
        uint32_t flags = FL_PLAN_SYNC | (legacy ? FL_PLAN_NO_CLONE3 : 0);
        static pb b;
        fl_spawn_result res;

        current = legacy ? "sync go (clone)" : "sync go (clone3)";
        pb_init(&b, flags, "exit", "5", NULL);
        pb_step(&b, FL_OP_WAIT_PARENT, 0, 0, 0, NULL, NULL);
        int fds_before = count_fds();
        CHECK(fl_spawn(&b.plan, &res) == 0 && res.ok == 1, "spawn");
        CHECK(res.sync_fd >= 0 && res.error_fd >= 0 && res.pidfd >= 0, "fds %d %d %d", res.sync_fd, res.error_fd,
              res.pidfd);
        int32_t status = -1;
        usleep(20000);
        CHECK(fl_pidfd_wait(res.pidfd, WNOHANG, &status, NULL) == 0, "the child waits for the go");
        char exe[64], target[4096] = {0};
        snprintf(exe, sizeof exe, "/proc/%d/exe", res.pid);
        CHECK(readlink(exe, target, sizeof target - 1) > 0 && strcmp(target, self_exe) == 0,
              "not exec'd before the go: %s", target);
        CHECK(fl_spawn_release(&res, &b.plan, 1) == 0 && res.ok == 1, "release: step %d errno %d",
              res.error_step, res.error_errno);
        CHECK(res.sync_fd == -1 && res.error_fd == -1, "release closes both");
        CHECK(fl_pidfd_wait(res.pidfd, 0, &status, NULL) == 1 && exited(status, 5), "status %#x", status);
        close(res.pidfd);
        CHECK(count_fds() == fds_before, "fds %d -> %d", fds_before, count_fds());

        current = legacy ? "sync give up (clone)" : "sync give up (clone3)";
        CHECK(fl_spawn(&b.plan, &res) == 0, "spawn");
        pid_t pid = res.pid;
        CHECK(fl_spawn_release(&res, &b.plan, 0) == -1 && res.ok == 0, "release(0) fails");
        CHECK(res.error_step == FL_STEP_SYNC && res.error_errno == ECANCELED, "step %d errno %d", res.error_step,
              res.error_errno);
        CHECK(res.pidfd == -1 && child_gone(pid), "reaped");
        CHECK(count_fds() == fds_before, "fds %d -> %d", fds_before, count_fds());

        current = legacy ? "sync, a step fails before the wait (clone)" : "sync, a step fails before the wait (clone3)";
        pb_init(&b, flags, "exit", "0", NULL);
        pb_step(&b, FL_OP_CHDIR, 0, 0, 0, "/nonexistent/forklift", NULL);
        pb_step(&b, FL_OP_WAIT_PARENT, 0, 0, 0, NULL, NULL);
        CHECK(fl_spawn(&b.plan, &res) == 0, "spawn returns before the child's steps");
        pid = res.pid;
        CHECK(fl_spawn_release(&res, &b.plan, 1) == -1 && res.error_step == 0 && res.error_errno == ENOENT,
              "step %d errno %d", res.error_step, res.error_errno);
        CHECK(res.pidfd == -1 && child_gone(pid), "reaped");
        CHECK(count_fds() == fds_before, "fds %d -> %d", fds_before, count_fds());
    }
}

static void test_validation(void)
{
    current = "validation";
    static pb b;
    fl_spawn_result res;
    int fds_before = count_fds();
#define REFUSED(what, change, want_step)                                                                       \
    do {                                                                                                       \
        pb_init(&b, FL_PLAN_FAST, "exit", "0", NULL);                                                          \
        change;                                                                                                \
        int rc = fl_spawn(&b.plan, &res);                                                                      \
        CHECK(rc == -1 && res.error_errno == EINVAL && res.error_step == (want_step) && res.pid == 0 &&       \
                  res.pidfd == -1,                                                                             \
              "%s: rc %d errno %d step %d pid %d", what, rc, res.error_errno, res.error_step, res.pid);        \
    } while (0)

    REFUSED("version", b.plan.version = 2, FL_STEP_SETUP);
    REFUSED("unknown flag", b.plan.flags |= 0x400, FL_STEP_SETUP);
    REFUSED("fast and sync", (b.plan.flags |= FL_PLAN_SYNC, pb_step(&b, FL_OP_WAIT_PARENT, 0, 0, 0, 0, 0)),
            FL_STEP_SETUP);
    REFUSED("no exec path", b.plan.exec_path_count = 0, FL_STEP_SETUP);
    REFUSED("too many exec paths", b.plan.exec_path_count = FL_MAX_EXEC_PATHS + 1, FL_STEP_SETUP);
    REFUSED("no argv", b.plan.argv = NULL, FL_STEP_SETUP);
    REFUSED("unknown op", (pb_step(&b, FL_OP_UMASK, 0, 0, 0, 0, 0), pb_step(&b, 99, 0, 0, 0, 0, 0)), 1);
    REFUSED("wait without sync", pb_step(&b, FL_OP_WAIT_PARENT, 0, 0, 0, 0, 0), 0);
    REFUSED("sync without wait", b.plan.flags = FL_PLAN_SYNC, FL_STEP_SETUP);
    REFUSED("two waits", (b.plan.flags = FL_PLAN_SYNC, pb_step(&b, FL_OP_WAIT_PARENT, 0, 0, 0, 0, 0),
                          pb_step(&b, FL_OP_WAIT_PARENT, 0, 0, 0, 0, 0)),
            1);
    REFUSED("slot 64", pb_step(&b, FL_OP_DUP_ABOVE, 0, 10, 64, 0, 0), 0);
    REFUSED("CLONE_FILES", b.plan.clone_flags = CLONE_FILES, FL_STEP_CLONE);
    REFUSED("CLONE_VM", b.plan.clone_flags = CLONE_VM, FL_STEP_CLONE);
    REFUSED("exit signal byte", b.plan.clone_flags = SIGCHLD, FL_STEP_CLONE);
    REFUSED("set_tid on legacy clone", (b.plan.flags |= FL_PLAN_NO_CLONE3, b.plan.set_tid_size = 1), FL_STEP_CLONE);
    REFUSED("unknown high flag on legacy clone",
            (b.plan.flags |= FL_PLAN_NO_CLONE3, b.plan.clone_flags = 1ULL << 40), FL_STEP_CLONE);

    CHECK(fl_spawn(NULL, &res) == -1 && res.error_errno == EINVAL, "NULL plan");
    CHECK(fl_spawn(&b.plan, NULL) == -1, "NULL result");
    CHECK(count_fds() == fds_before, "fds %d -> %d", fds_before, count_fds());
    CHECK(fl_sizeof_spawn_plan() == 112 && fl_sizeof_spawn_step() == 48 && fl_sizeof_spawn_result() == 48,
          "sizes %d %d %d", fl_sizeof_spawn_plan(), fl_sizeof_spawn_step(), fl_sizeof_spawn_result());

    current = "clone3's own errors";
    pb_init(&b, FL_PLAN_FAST, "exit", "0", NULL);
    b.plan.exit_signal = 65;
    CHECK(fl_spawn(&b.plan, &res) == -1 && res.error_step == FL_STEP_CLONE && res.error_errno == EINVAL &&
              res.used_clone3 == 0 && res.clone3_errno == 0,
          "step %d errno %d", res.error_step, res.error_errno);
}

static void test_stack_sizes(void)
{
    current = "stack sizes";
    static pb b;
    static outcome o;
    uint64_t sizes[] = {1, 16384, 100000, 1 << 20, 0};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        pb_init(&b, FL_PLAN_FAST, "exit", "0", NULL);
        b.plan.stack_size = sizes[k];
        pb_step(&b, FL_OP_UMASK, 022, 0, 0, NULL, NULL);
        run_plain(&b, &o);
        CHECK(o.rc == 0 && exited(o.status, 0), "size %llu: rc %d status %#x", (unsigned long long)sizes[k], o.rc,
              o.status);
    }
}

static int cgroup_dir(char *path, size_t cap)
{
    snprintf(path, cap, "/sys/fs/cgroup/unified/forklift-spawn-test-%d", getpid());
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -1;
    return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void test_cgroup(void)
{
    char path[256];
    int fd = geteuid() == 0 ? cgroup_dir(path, sizeof path) : -1;
    if (fd < 0) {
        printf("skip: CLONE_INTO_CGROUP (no writable cgroup2 at /sys/fs/cgroup/unified)\n");
        return;
    }
    char want[300];
    snprintf(want, sizeof want, "0::/forklift-spawn-test-%d\n", getpid());
    FOR_EACH_PATH(i)
    {
        current = at("CLONE_INTO_CGROUP", i);
        static pb b;
        static outcome o;
        pb_init(&b, paths[i], "cgroup", NULL);
        b.plan.clone_flags = CLONE_INTO_CGROUP;
        b.plan.cgroup_fd = (uint64_t)fd;
        run(&b, &o);
        CHECK(o.rc == 0 && strstr(o.out, want), "rc %d step %d errno %d [%s]", o.rc, o.res.error_step,
              o.res.error_errno, o.out);

        current = at("CLONE_INTO_CGROUP, not a cgroup", i);
        int tmp = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        pb_init(&b, paths[i], "exit", "0", NULL);
        b.plan.clone_flags = CLONE_INTO_CGROUP;
        b.plan.cgroup_fd = (uint64_t)tmp;
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == FL_STEP_CLONE, "rc %d step %d errno %d", o.rc, o.res.error_step,
              o.res.error_errno);
        if (paths[i] & FL_PLAN_NO_CLONE3)
            CHECK(o.res.error_detail == tmp && o.res.error_errno == ENOENT && o.res.pid > 0,
                  "emulated: detail %d errno %d pid %d", o.res.error_detail, o.res.error_errno, o.res.pid);
        close(tmp);
    }
    close(fd);
    if (rmdir(path) != 0)
        CHECK(0, "rmdir %s: %s", path, strerror(errno));
}

static void test_set_tid(void)
{
    current = "set_tid";
    if (geteuid() != 0) {
        printf("skip: set_tid (not root)\n");
        return;
    }
    static pb b;
    static outcome o;
    for (int attempt = 0; attempt < 20; attempt++) {
        int32_t tid = 20000 + (int32_t)((getpid() * 7919 + attempt * 104729) % 10000);
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/%d", tid);
        if (access(proc, F_OK) == 0)
            continue;
        pb_init(&b, FL_PLAN_FAST, "exit", "0", NULL);
        b.plan.set_tid = &tid;
        b.plan.set_tid_size = 1;
        run_plain(&b, &o);
        if (o.rc == -1 && o.res.error_errno == EEXIST)
            continue;
        CHECK(o.rc == 0 && o.res.pid == tid && exited(o.status, 0), "rc %d errno %d pid %d want %d", o.rc,
              o.res.error_errno, o.res.pid, tid);
        return;
    }
    CHECK(0, "no free pid found");
}

static void test_namespaces(void)
{
    if (geteuid() != 0) {
        printf("skip: namespaces (not root)\n");
        return;
    }
    FOR_EACH_PATH(i)
    {
        static pb b;
        static outcome o;
        current = at("CLONE_NEWPID passes through", i);
        pb_init(&b, paths[i], "ppid", NULL);
        b.plan.clone_flags = CLONE_NEWPID | CLONE_NEWUTS;
        pb_step(&b, FL_OP_PDEATHSIG, SIGKILL, 0, 0, NULL, NULL); /* b = 0: getppid() is 0 in a new pid ns */
        run(&b, &o);
        CHECK(o.rc == 0 && strcmp(o.out, "0\n") == 0 && exited(o.status, 0), "rc %d step %d errno %d [%s]", o.rc,
              o.res.error_step, o.res.error_errno, o.out);
    }
}

/* ---- leaks, zombies, threads ---- */

static void test_no_leaks(void)
{
    current = "1000 spawns leak nothing";
    int before = count_fds();
    static pb ok_fast, ok_full, exec_fail, step_fail, sync_plan;
    static outcome o;
    pb_init(&ok_fast, FL_PLAN_FAST, "exit", "0", NULL);
    pb_init(&ok_full, FL_PLAN_NO_CLONE3, "exit", "1", NULL);
    pb_init(&exec_fail, FL_PLAN_FAST, "exit", "0", NULL);
    pb_paths(&exec_fail, 2, "/nonexistent/a", "/nonexistent/b");
    pb_init(&step_fail, 0, "exit", "0", NULL);
    pb_step(&step_fail, FL_OP_CLOSE, 1000, 0, 0, NULL, NULL);
    pb_init(&sync_plan, FL_PLAN_SYNC, "exit", "0", NULL);
    pb_step(&sync_plan, FL_OP_WAIT_PARENT, 0, 0, 0, NULL, NULL);
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        switch (i % 6) {
        case 0:
            run_plain(&ok_fast, &o);
            bad += !(o.rc == 0 && exited(o.status, 0));
            break;
        case 1:
            run_plain(&ok_full, &o);
            bad += !(o.rc == 0 && exited(o.status, 1));
            break;
        case 2:
            run_plain(&exec_fail, &o);
            bad += !(o.rc == -1 && o.res.error_errno == ENOENT);
            break;
        case 3:
            run_plain(&step_fail, &o);
            bad += !(o.rc == -1 && o.res.error_errno == EBADF && o.res.error_step == 0);
            break;
        case 4:
            run_plain(&sync_plan, &o);
            bad += !(o.rc == 0 && exited(o.status, 0));
            break;
        case 5:
            o.rc = fl_spawn(&sync_plan.plan, &o.res);
            bad += !(o.rc == 0 && fl_spawn_release(&o.res, &sync_plan.plan, 0) == -1 && o.res.pidfd == -1);
            break;
        }
    }
    CHECK(bad == 0, "%d spawns went wrong", bad);
    CHECK(count_fds() == before, "fds %d -> %d", before, count_fds());
    CHECK(no_children(), "a child is left (zombie or running)");
}

static void *spawn_thread(void *arg)
{
    long id = (long)arg;
    long bad = 0;
    char code[8];
    snprintf(code, sizeof code, "%ld", id);
    pb *b = malloc(sizeof *b);
    pb_init(b, FL_PLAN_FAST, "exit", code, NULL);
    for (int i = 0; i < 150; i++) {
        fl_spawn_result res;
        int32_t status = -1;
        if (fl_spawn(&b->plan, &res) != 0 || fl_pidfd_wait(res.pidfd, 0, &status, NULL) != 1 ||
            !exited(status, (int)id))
            bad++;
        if (res.pidfd >= 0)
            close(res.pidfd);
    }
    free(b);
    return (void *)bad;
}

static void test_threads(void)
{
    current = "4 threads spawn at once";
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, spawn_thread, (void *)(i + 1));
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    CHECK(bad == 0, "%ld spawns went wrong", bad);
}

/* ---- runs of ourselves under seccomp ---- */

static int run_self(const char *errno_name, const char *mode)
{
    static pb b;
    static outcome o;
    if (errno_name)
        pb_init(&b, 0, "seccomp-clone3", errno_name, self_exe, testee, mode, errno_name, NULL);
    else
        pb_init(&b, 0, NULL);
    if (!errno_name) {
        b.paths[0] = self_exe;
        b.argv[0] = self_exe;
        b.argv[1] = testee;
        b.argv[2] = mode;
        b.argv[3] = NULL;
    }
    run_plain(&b, &o);
    return o.rc == 0 && exited(o.status, 0);
}

static void test_under_seccomp(void)
{
    current = "clone3 -> ENOSYS by seccomp";
    CHECK(run_self("ENOSYS", "--under-seccomp"), "the run under seccomp failed (its failures are above)");
    current = "clone3 -> EPERM by seccomp";
    CHECK(run_self("EPERM", "--under-seccomp"), "the run under seccomp failed (its failures are above)");
    current = "close_range -> ENOSYS by seccomp";
    CHECK(run_self(NULL, "--close-range-enosys"), "the run failed (its failures are above)");
}

static void under_seccomp(const char *errno_name)
{
    int err = strcmp(errno_name, "EPERM") == 0 ? EPERM : ENOSYS;
    static pb b;
    static outcome o;
    for (int fast = 0; fast < 2; fast++) {
        current = fast ? "under seccomp, fast" : "under seccomp, full";
        uint32_t flags = fast ? FL_PLAN_FAST : 0;
        pb_init(&b, flags | FL_PLAN_FALLBACK_ON_EPERM, "argv", NULL);
        run(&b, &o);
        CHECK(o.rc == 0 && o.res.used_clone3 == 0 && o.res.clone3_errno == err && exited(o.status, 0),
              "rc %d used_clone3 %d clone3_errno %d step %d errno %d", o.rc, o.res.used_clone3, o.res.clone3_errno,
              o.res.error_step, o.res.error_errno);

        pb_init(&b, flags, "exit", "0", NULL);
        run_plain(&b, &o);
        if (err == EPERM)
            CHECK(o.rc == -1 && o.res.error_step == FL_STEP_CLONE && o.res.error_errno == EPERM && o.res.pid == 0 &&
                      o.res.clone3_errno == 0,
                  "EPERM without fallback: rc %d step %d errno %d", o.rc, o.res.error_step, o.res.error_errno);
        else
            CHECK(o.rc == 0 && o.res.used_clone3 == 0 && o.res.clone3_errno == ENOSYS, "ENOSYS always falls back");

        int32_t tid = 12345;
        pb_init(&b, flags | FL_PLAN_FALLBACK_ON_EPERM, "exit", "0", NULL);
        b.plan.set_tid = &tid;
        b.plan.set_tid_size = 1;
        run_plain(&b, &o);
        CHECK(o.rc == -1 && o.res.error_step == FL_STEP_CLONE && o.res.error_errno == EINVAL && o.res.pid == 0 &&
                  o.res.clone3_errno == err,
              "set_tid after the fallback: rc %d step %d errno %d pid %d", o.rc, o.res.error_step, o.res.error_errno,
              o.res.pid);

        /* the handler reset is the loop's here */
        struct sigaction handler = {0}, old;
        handler.sa_handler = on_signal;
        sigaction(SIGTERM, &handler, &old);
        pb_init(&b, flags | FL_PLAN_FALLBACK_ON_EPERM, "exit", "0", NULL);
        pb_step(&b, FL_OP_PDEATHSIG, SIGTERM, 1, 0, NULL, NULL);
        run_plain(&b, &o);
        CHECK(killed_by(o.status, SIGTERM), "handlers reset by the loop: status %#x", o.status);
        sigaction(SIGTERM, &old, NULL);
    }
    extra_flags = FL_PLAN_FALLBACK_ON_EPERM;
    test_cgroup();
}

static void install_filter(int nr, int err)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("seccomp");
        exit(2);
    }
}

static void close_range_enosys(void)
{
    install_filter(SYS_close_range, ENOSYS);
    CHECK(syscall(SYS_close_range, 1000, 1000, 0) == -1 && errno == ENOSYS, "the filter works");
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 60);
    dup2(devnull, 61);
    for (int fast = 0; fast < 2; fast++) {
        static pb b;
        static outcome o;
        current = fast ? "close_range by loop, fast" : "close_range by loop, full";
        pb_init(&b, fast ? FL_PLAN_FAST : 0, "fds", NULL);
        pb_step(&b, FL_OP_CLOSE_RANGE, 3, 0xffffffffLL, 0, NULL, NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "0 1 2\n") == 0, "[%s]", o.out);
        pb_init(&b, fast ? FL_PLAN_FAST : 0, "fds", NULL);
        pb_step(&b, FL_OP_CLOSE_RANGE, 3, 0xffffffffLL, CLOSE_RANGE_CLOEXEC, NULL, NULL);
        run(&b, &o);
        CHECK(strcmp(o.out, "0 1 2\n") == 0, "[%s]", o.out);
    }
}

/* ---- benchmark ---- */

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_us(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_i64);
    return (n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0) / 1000.0;
}

/* Its own function: vfork's child borrows this frame until execve. */
__attribute__((noinline)) static pid_t vfork_exec(const char *path, char *const argv[])
{
    pid_t pid = vfork();
    if (pid == 0) {
        execve(path, argv, environ);
        _exit(127);
    }
    return pid;
}

static void bench(int rounds)
{
    enum { FL_FAST, FL_FULL, POSIX_SPAWN, VFORK, KINDS };
    static const char *names[] = {"fl_spawn fast (clone3 VM|VFORK) + fl_pidfd_wait",
                                  "fl_spawn full (clone3, no VM) + fl_pidfd_wait", "posix_spawn + waitpid",
                                  "vfork + execve + waitpid"};
    int64_t *total[KINDS], *call[KINDS];
    for (int k = 0; k < KINDS; k++) {
        total[k] = calloc((size_t)rounds, sizeof(int64_t));
        call[k] = calloc((size_t)rounds, sizeof(int64_t));
    }
    int64_t *fl_call_ns[2] = {calloc((size_t)rounds, sizeof(int64_t)), calloc((size_t)rounds, sizeof(int64_t))};
    char *const argv[] = {"/bin/true", NULL};
    static const char *paths[] = {"/bin/true"};
    fl_spawn_plan plan = {.version = FL_SPAWN_VERSION, .flags = FL_PLAN_FAST | FL_PLAN_RESET_SIGNALS,
                          .exit_signal = SIGCHLD, .exec_paths = paths, .exec_path_count = 1,
                          .argv = (const char *const *)argv, .envp = (const char *const *)environ};
    int bad = 0;
    for (int i = 0; i < rounds; i++) {
        for (int j = 0; j < KINDS; j++) {
            int k = (i + j) % KINDS; /* interleaved, rotating order */
            int64_t t0 = now_ns(), t1 = 0;
            int status = -1;
            if (k == FL_FAST || k == FL_FULL) {
                fl_spawn_result res;
                plan.flags = (k == FL_FAST ? FL_PLAN_FAST : 0) | FL_PLAN_RESET_SIGNALS | FL_PLAN_TIME_CALL;
                int rc = fl_spawn(&plan, &res);
                t1 = now_ns();
                int32_t st = -1;
                if (rc != 0 || fl_pidfd_wait(res.pidfd, 0, &st, NULL) != 1)
                    bad++;
                status = st;
                if (res.pidfd >= 0)
                    close(res.pidfd);
                fl_call_ns[k == FL_FULL][i] = res.call_ns;
            } else if (k == POSIX_SPAWN) {
                pid_t pid;
                if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
                    bad++;
                t1 = now_ns();
                waitpid(pid, &status, 0);
            } else {
                pid_t pid = vfork_exec("/bin/true", argv);
                t1 = now_ns();
                waitpid(pid, &status, 0);
            }
            total[k][i] = now_ns() - t0;
            call[k][i] = t1 - t0;
            if (!exited(status, 0))
                bad++;
        }
    }
    printf("%d rounds, interleaved; medians (us):\n", rounds);
    printf("  %-50s %10s %10s\n", "", "spawn+wait", "call");
    for (int k = 0; k < KINDS; k++)
        printf("  %-50s %10.1f %10.1f\n", names[k], median_us(total[k], rounds), median_us(call[k], rounds));
    printf("  (call: until the start call returns; for fl_spawn that is after EOF on the error pipe, i.e. the exec)\n");
    printf("  fl_spawn call_ns (entry to the clone's return in the parent): fast %.1f us, full %.1f us\n",
           median_us(fl_call_ns[0], rounds), median_us(fl_call_ns[1], rounds));
    if (bad)
        printf("  %d runs went wrong\n", bad);
}

/* ---- main ---- */

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: spawn_test TESTEE [--bench [ROUNDS]]\n");
        return 2;
    }
    testee = argv[1];
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0)
        return 2;
    self_exe[n] = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (argc > 2 && strcmp(argv[2], "--bench") == 0) {
        bench(argc > 3 ? atoi(argv[3]) : 2000);
        return 0;
    }

    snprintf(tmpdir, sizeof tmpdir, "/tmp/forklift-spawn-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    chmod(tmpdir, 0755);

    if (argc > 3 && strcmp(argv[2], "--under-seccomp") == 0) {
        run_name = strcmp(argv[3], "EPERM") == 0 ? "  (run with clone3 -> EPERM)" : "  (run with clone3 -> ENOSYS)";
        under_seccomp(argv[3]);
    } else if (argc > 2 && strcmp(argv[2], "--close-range-enosys") == 0) {
        run_name = "  (run with close_range -> ENOSYS)";
        close_range_enosys();
    } else {
        int fds_at_start = count_fds();
        test_exec_each_path();
        test_env_and_cwd();
        test_wait_status_and_rusage();
        test_exec_errors();
        test_failing_steps();
        test_fd_steps();
        test_process_steps();
        test_signals();
        test_sync();
        test_validation();
        test_stack_sizes();
        test_cgroup();
        test_set_tid();
        test_namespaces();
        test_no_leaks();
        test_threads();
        test_under_seccomp();
        current = "the end";
        CHECK(no_children(), "a child is left (zombie or running)");
        CHECK(count_fds() == fds_at_start, "fds %d -> %d over the whole run", fds_at_start, count_fds());
    }

    if (nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    if (failures)
        printf("%s: FAILED: %d of %d checks\n", run_name, failures, checks);
    else
        printf("%s: ok: %d checks\n", run_name, checks);
    return failures ? 1 : 0;
}
