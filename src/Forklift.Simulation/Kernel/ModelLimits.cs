namespace Forklift.Simulation;

/// <summary>
/// Where the model knowingly differs from Linux. A call that would depend on one of these returns ENOSYS with
/// the text (<see cref="SysResult.NotModelled"/>) rather than guessing; the others are simplifications whose
/// effect is stated here. Keep this list in step with the code.
/// </summary>
public static class ModelLimits
{
    /// <summary>CLONE_THREAD with CLONE_INTO_CGROUP (threaded cgroups, R-E29) is not modelled.</summary>
    public const string ThreadedCgroups = "CLONE_INTO_CGROUP for a thread (threaded cgroup domains) is not modelled";
    /// <summary>pidfd_send_signal with a siginfo.</summary>
    public const string SigInfo = "pidfd_send_signal with a siginfo argument is not modelled";
    /// <summary>setns with a pidfd.</summary>
    public const string SetnsPidfd = "setns with a pidfd (several namespaces at once) is not modelled";
    /// <summary>/proc beyond /proc/PID/ns/TYPE.</summary>
    public const string Procfs = "only /proc/PID/ns/TYPE exists in the model's /proc";
    /// <summary>Which pid namespace /proc/PID reads PID in.</summary>
    public const string ProcfsNamespace = "/proc/PID takes PID in the caller's pid namespace, as if every namespace had its own /proc mounted (a container's view); Linux takes it in the namespace of the task that mounted that /proc";
    /// <summary>rlimits other than NPROC and NOFILE.</summary>
    public const string Rlimits = "only RLIMIT_NPROC and RLIMIT_NOFILE are modelled";
    /// <summary>fcntl commands other than F_GETFD/F_SETFD.</summary>
    public const string Fcntl = "only F_GETFD and F_SETFD are modelled";

    /// <summary>Every difference, with its effect: the ENOSYS cases above and the simplifications below.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        ThreadedCgroups,
        SigInfo,
        SetnsPidfd,
        Procfs,
        ProcfsNamespace,
        Rlimits,
        Fcntl,
        "ptrace is not modelled: parent always equals real parent; CLONE_PTRACE and CLONE_UNTRACED have no effect",
        "signal masks (sigprocmask) are not modelled: every signal is deliverable at once; real-time signals do not queue more than one instance",
        "a thread-directed signal (tgkill, PIDFD_SIGNAL_THREAD, a thread pidfd) waits on its thread's own queue, which that thread alone takes; the shared queue is taken by the thread complete_signal wakes (the target thread when it wants the signal, else the first that does), where Linux goes on round-robin from signal->curr_target rather than from the first thread",
        "no core dumps are written: a core-dumping signal ends the process with the signal and without the 0x80 (WCOREDUMP) bit, as with RLIMIT_CORE=0 and a file core_pattern",
        "SA_RESTART is not modelled: a handled signal interrupts a blocked wait or sleep with EINTR",
        "memory is a map of 32-bit cells keyed by address: overlapping or unaligned writes are not merged",
        "a user namespace is never freed, so it stays charged to max_user_namespaces; other namespaces are freed when their last nsproxy, pid or open file goes",
        "a pid namespace is released when its last pid number is freed, even if a pidfd still holds the struct pid",
        "RLIMIT_NPROC counts tasks per (user namespace, real uid) at that level only",
        "capabilities: execve gives every capability to uid 0 of the user namespace and none to others (no file capabilities, no ambient set); gids are not modelled",
        "cgroups: a flat set of cgroup2 domain directories; controllers (pids.max), threaded and invalid domains are not modelled",
        "the fd table's free-fd test for CLONE_PIDFD counts open fds against RLIMIT_NOFILE",
        "wait4/waitid with P_ALL or P_PGID scan the caller's children as Linux does (O(children)); P_PID and P_PIDFD are O(1)",
        "clone: CloneEffects.ExitSignal reports args.exit_signal for CLONE_PARENT; the model applies copy_process's rule (the caller's leader's exit signal)",
        "no controlling terminals: a session leader's exit sends no SIGHUP to a foreground group (orphaned-group SIGHUP/SIGCONT is modelled)",
        "the file system is flat: open(O_CREAT) creates any regular path, chdir and chroot accept any path, only /proc/PID/ns/* and /sys/fs/cgroup/* are special",
        "signals and exits take effect within the call that caused them (deferred in FIFO order to its end), not at the target's next scheduling",
        "the global init's exit is a kernel panic: the simulation stops with an error",
        "uid_map is written through SimKernel.WriteUidMap (one extent, once); gid maps and setgroups are not modelled",
        "System V semaphores: IPC_PRIVATE sets, semop of one operation that never sleeps (IPC_NOWAIT), semctl GETVAL; no permissions, no IPC_RMID, no other IPC",
        "the model is deterministic where Linux races between CPUs: processes killed by one call die in list order (which matters when a parent reaps its children itself or sleeps in a wait for them), a vfork parent released by its child's exit takes its pending signals after the exit's SIGCHLD, and of a dying multi-threaded pid-namespace init the last thread in list order runs the namespace's zap; the differential generator leaves such statements out",
        "wait4/waitid for any child report the first ready one in the children list; Linux does too, but children that died or stopped by one call (a group kill, a namespace's death) join that list in the order they ran, which the model cannot know",
    ];
}
