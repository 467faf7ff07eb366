/*
 * agent_proto.h: the wire format between forklift-agent and the differential tests' coordinator
 * (tests/Forklift.Simulation.Tests/Differential/AgentProtocol.cs mirrors it; a test checks the sizes).
 *
 * Every agent talks to the coordinator over its own SOCK_STREAM unix socket, connected to the coordinator's
 * listening socket by the agent itself when it starts (a fresh agent, a clone child, an exec'd agent keeps its
 * socket). Commands and messages have fixed sizes; both sides read and write them whole.
 */
#ifndef FORKLIFT_AGENT_PROTO_H
#define FORKLIFT_AGENT_PROTO_H

#include <stdint.h>

/* Coordinator -> agent: one call to make. */
struct fa_cmd {
    uint32_t op;
    uint32_t seq;       /* echoed in the reply */
    int64_t a[10];      /* arguments, per op (see the op list) */
    char text[104];     /* a path, or set_tid values (int32 each) for FA_CLONE3 */
};

/* Agent -> coordinator. */
struct fa_msg {
    uint32_t kind;      /* FA_MSG_* */
    uint32_t seq;       /* the command's (0 for a hello) */
    int64_t ret;        /* the call's result: >= 0, or -errno */
    int32_t index;      /* the agent's task index (given by the coordinator when it asked for the clone) */
    int32_t nspid;      /* getpid() and gettid() as the agent sees them (hello and exec replies) */
    int32_t nstid;
    int32_t pad;
    int32_t w[8];       /* wait results: status, si_pid, si_code, si_status, si_uid, si_signo; or an observed value */
    char text[64];      /* an observed text (cwd, an fd's target) */
};

_Static_assert(sizeof(struct fa_cmd) == 192, "fa_cmd is 192 bytes");
_Static_assert(sizeof(struct fa_msg) == 128, "fa_msg is 128 bytes");

enum {
    FA_MSG_HELLO = 1,   /* a new agent (clone child or the root) is ready for commands */
    FA_MSG_REPLY = 2,   /* a call returned (at once, or later after FA_MSG_BLOCKED) */
    FA_MSG_BLOCKED = 3, /* the call sleeps (a wait with nothing to report, a vfork parent): the reply comes later */
};

/* Ops. a[] meanings are listed per op; "child" is the index the new task's agent will report. */
enum {
    FA_FORK = 1,        /* a0 child */
    FA_VFORK,           /* a0 child */
    FA_CLONE,           /* a0 child, a1 flags|exit signal (the low byte), a2 parent_tid, a3 child_tid, a4 tls */
    FA_CLONE3,          /* a0 child, a1 flags, a2 exit_signal, a3 pidfd, a4 child_tid, a5 parent_tid, a6 tls,
                           a7 set_tid address, a8 set_tid_size, a9 struct size; text: a8 int32 set_tid values */
    FA_EXECVE,          /* a0 mode: 0 stay an agent, 1 exit at once with a1, 2 pause; 3 exec text (a missing file) */
    FA_EXIT,            /* a0 code */
    FA_EXIT_GROUP,      /* a0 code */
    FA_WAIT4,           /* a0 pid, a1 options */
    FA_WAITID,          /* a0 idtype, a1 id, a2 options */
    FA_KILL,            /* a0 pid, a1 sig */
    FA_TGKILL,          /* a0 tgid, a1 tid, a2 sig */
    FA_PIDFD_SEND_SIGNAL, /* a0 pidfd, a1 sig, a2 flags */
    FA_PIDFD_OPEN,      /* a0 pid, a1 flags */
    FA_GETPID,
    FA_GETTID,
    FA_GETPPID,
    FA_GETPGID,         /* a0 pid */
    FA_GETSID,          /* a0 pid */
    FA_SETSID,
    FA_SETPGID,         /* a0 pid, a1 pgid */
    FA_UNSHARE,         /* a0 flags */
    FA_SETNS,           /* a0 fd, a1 nstype */
    FA_PRCTL,           /* a0 option, a1 arg */
    FA_OPEN,            /* a1 flags; text path */
    FA_CLOSE,           /* a0 fd */
    FA_DUP,             /* a0 fd */
    FA_DUP2,            /* a0 old, a1 new */
    FA_DUP3,            /* a0 old, a1 new, a2 flags */
    FA_FCNTL,           /* a0 fd, a1 cmd, a2 arg */
    FA_SIGACTION,       /* a0 sig, a1 0 default / 1 ignore / 2 handle, a2 SA_NOCLDSTOP|SA_NOCLDWAIT (the kernel's bits) */
    FA_UMASK,           /* a0 mask */
    FA_CHDIR,           /* text path */
    FA_STORE,           /* a0 address, a1 int32 value: a plain store (no system call) */
    FA_OBSERVE,         /* a0 what (FA_OBS_*), a1 argument: the answer in ret, w[0] and text */
    FA_SEMGET,          /* a0 nsems: semget(IPC_PRIVATE, nsems, IPC_CREAT|0600) */
    FA_SEMOP,           /* a0 id, a1 num, a2 delta, a3 SEM_UNDO or 0: one operation, with IPC_NOWAIT */
    FA_SEMCTL_GETVAL,   /* a0 id, a1 num */
};

enum {
    FA_OBS_FD = 1,      /* a1 fd: ret -EBADF when closed, else the fd flags; text: readlink of /proc/self/fd/N */
    FA_OBS_CWD,         /* text: getcwd */
    FA_OBS_UMASK,       /* ret: the umask (read by setting it back) */
    FA_OBS_DISPOSITION, /* a1 sig: ret 0 default, 1 ignore, 2 a handler */
    FA_OBS_MEM,         /* a1 address: ret the int32 there (-EFAULT outside the scratch area) */
    FA_OBS_SUBREAPER,   /* ret PR_GET_CHILD_SUBREAPER */
    FA_OBS_RECEIVED,    /* a1 sig: ret 1 if the agent's handler ran for it since this image started */
    FA_OBS_PDEATHSIG,   /* ret PR_GET_PDEATHSIG */
};

/* The scratch area every agent maps at a fixed address: the scenario's user pointers (pidfd, tid words,
   set_tid arrays, plain stores) live there, as UserPointer.Valid(field) addresses do in the model. */
#define FA_SCRATCH_ADDR 0x7f0000000000UL
#define FA_SCRATCH_SIZE 0x100000UL

/* The command socket of task index i is fd FA_CHANNEL_FD(i), far above what a scenario opens, and distinct per
   task so that tasks sharing an fd table (CLONE_FILES, threads) each keep their own. */
#define FA_MAX_TASKS 64
#define FA_CHANNEL_FD(i) (1023 - (i))

#endif
