/*
 * spawn_internal.h: what the spawn stage's parent side (spawn.c) and child side (spawn_child.c) share.
 * Nothing here is exported.
 *
 * The child side runs after a clone of the multithreaded .NET host, on the fast path even inside the host's
 * address space (CLONE_VM) on a stage-owned stack, with the host thread's TLS. So it may call no libc function,
 * read or write no errno, take no lock, allocate nothing. How that is ensured:
 *  - spawn_child.c includes only this header, fl_sys.h and spawn_sys.h: freestanding headers and kernel uapi
 *    headers, every system call an inline `syscall` instruction; it declares no external function;
 *  - the library is built with -fno-stack-protector (no canary read through %fs) and the child keeps no state
 *    in static storage or TLS: everything lives in its stack frame or in the plan;
 *  - tests/Forklift.Tests/NativeSpawn/NativeSpawnSpecs.cs compiles spawn_child.c alone with the library's flags
 *    and fails if the object has any undefined symbol (a memset the optimizer invented would be one), and
 *    NativeSymbolsSpecs checks that the whole library imports nothing beyond native/allowed-symbols.txt.
 */
#ifndef FL_SPAWN_INTERNAL_H
#define FL_SPAWN_INTERNAL_H

#include "forklift_spawn.h"
#include "fl_sys.h"
#include "spawn_sys.h"

/*
 * A record that is not a failure: the exec candidate `detail` failed with `err` and the search went on. The
 * parent files it in plan.exec_errnos and keeps reading. (Needed because a candidate after it may succeed,
 * and EOF alone must keep meaning "exec'd".) Private to the stage: it never reaches fl_spawn_result, and its
 * value stays far from the public FL_STEP_* range so that range can grow.
 */
#define FL_STEP_EXEC_TRIED (-100)

/* What the parent hands the child routine (in the parent's frame: shared on the fast path, copied on the full). */
typedef struct fl_child_ctx {
    const fl_spawn_plan *plan;
    int32_t error_fd;       /* the error pipe's write end (O_CLOEXEC); -1 on the fast path (the mailbox) */
    int32_t sync_fd;        /* the sync pipe's read end (O_CLOEXEC), or -1 */
    int32_t parent_fds[2];  /* the parent's ends (error read, sync write; -1: none): the child closes its copies
                               first, or it would never see EOF on the sync pipe if the parent gave up or died */
    int32_t fd_floor;       /* the highest fd number the steps name as a target (-1: none): the two fds above are
                               moved above it first, so no dup2/open/close step can hit them */
    int32_t reset_handlers; /* 1: reset caught signals to SIG_DFL by a loop (clone3 did not clear them) */
    int32_t join_cgroup;    /* 1: emulate CLONE_INTO_CGROUP (legacy clone): write "0" to cgroup_fd/cgroup.procs */
    int32_t cgroup_fd;
    /* Fast path (CLONE_VM|CLONE_VFORK): the child shares the parent's memory, so it reports here instead of through
       the pipe, and fills plan->exec_errnos directly. The vfork parent resumes when the child's exec releases the
       old memory or when it exits, so it can read the answer at once: it need not wait for the close-on-exec of the
       pipe, which comes later in the exec (posix_spawn reports the same way). NULL on the full path. */
    fl_spawn_record *mailbox;
} fl_child_ctx;

/*
 * The child routine: runs the plan and execs, or writes a record and exits 127. Entered from the clone's asm
 * (spawn.c) on the child's stack with a 16-byte aligned frame; never returns. Hidden: called only from there.
 */
__attribute__((visibility("hidden"))) _Noreturn void fl_spawn_child(const fl_child_ctx *ctx);

#endif
