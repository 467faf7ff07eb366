namespace Forklift.Simulation;

/// <summary>A task's state, as <c>ps</c> would show it.</summary>
public enum TaskState
{
    /// <summary>Running or runnable (R, or S when <see cref="SimTask.Sleeping"/>).</summary>
    Running,
    /// <summary>A vfork parent waiting for its child to exec or exit (D).</summary>
    VforkWait,
    /// <summary>Stopped by a stop signal (T).</summary>
    Stopped,
    /// <summary>Exiting but not yet a zombie: a pid-namespace init waiting for the namespace to empty.</summary>
    Exiting,
    /// <summary>Exited, waiting to be reaped (Z, <c>EXIT_ZOMBIE</c>).</summary>
    Zombie,
    /// <summary>Reaped (<c>EXIT_DEAD</c> and released): its pid numbers are free.</summary>
    Reaped,
}

/// <summary>
/// A task (<c>task_struct</c>): a thread of a <see cref="ThreadGroup"/>, with its pid, its parent and real parent,
/// its children (an intrusive list, so adding, removing and reparenting are O(1)), and the resources it shares
/// or owns. The first thread of a group is its leader; <c>getpid</c> is the leader's pid.
/// </summary>
public sealed class SimTask
{
    internal SimTask(long serial) => Serial = serial;

    /// <summary>Creation order, unique for the kernel's lifetime.</summary>
    public long Serial { get; }
    /// <summary>The thread's pid (<c>PIDTYPE_PID</c>).</summary>
    public SimPid Pid { get; internal set; } = null!;
    /// <summary>The thread group (process).</summary>
    public ThreadGroup Group { get; internal set; } = null!;
    /// <summary>The parent that receives the exit signal (equal to <see cref="RealParent"/>: ptrace is not modelled).</summary>
    public SimTask? Parent { get; internal set; }
    /// <summary>The real parent (the creator, or the reaper it was reparented to).</summary>
    public SimTask? RealParent { get; internal set; }
    /// <summary>The state.</summary>
    public TaskState State { get; internal set; }
    /// <summary>
    /// Signals queued for this thread alone (<c>tgkill</c>, a thread pidfd: the kernel's <c>task->pending</c>): only
    /// this thread dequeues them, before the process's shared ones (<see cref="ThreadGroup.Pending"/>).
    /// </summary>
    public ulong Pending { get; internal set; }
    /// <summary>The signal sent to the parent at exit (-1 for a thread; 0 for none).</summary>
    public int ExitSignal { get; internal set; }
    /// <summary>The exit code in wait4 status form (exit(n): n &lt;&lt; 8; a signal death: the signal).</summary>
    public int ExitCode { get; internal set; }
    /// <summary><c>PR_SET_PDEATHSIG</c>: the signal sent to this task when its parent thread exits.</summary>
    public int PdeathSignal { get; internal set; }
    /// <summary><c>CLONE_CHILD_CLEARTID</c> address (0 = none).</summary>
    public ulong ClearChildTid { get; internal set; }
    /// <summary>The thread pointer (<c>CLONE_SETTLS</c>).</summary>
    public ulong Tls { get; internal set; }
    /// <summary>The stack pointer given at clone (0: the caller's).</summary>
    public ulong StackPointer { get; internal set; }
    /// <summary><c>PF_FORKNOEXEC</c>: forked and not yet exec'd.</summary>
    public bool ForkNoExec { get; internal set; }
    /// <summary>The program it runs (the path given to execve), null before any exec.</summary>
    public string? ProgramPath { get; internal set; }
    /// <summary>Blocked in a wait or a sleep (S).</summary>
    public bool Sleeping => Block is not null;
    /// <summary>Virtual time the task was created.</summary>
    public long StartTime { get; internal set; }

    /// <summary>The address space.</summary>
    public AddressSpace Mm { get; internal set; } = null!;
    /// <summary>The fd table.</summary>
    public FdTable Files { get; internal set; } = null!;
    /// <summary>Root, cwd, umask.</summary>
    public FsInfo Fs { get; internal set; } = null!;
    /// <summary>Signal handlers.</summary>
    public SignalHandlers Sighand { get; internal set; } = null!;
    /// <summary>The System V semaphore undo list, null when the task has none of its own.</summary>
    public SysvSemUndo? SemUndo { get; internal set; }
    /// <summary>Namespaces other than user.</summary>
    public NsProxy Ns { get; internal set; } = null!;
    /// <summary>Credentials (and the user namespace).</summary>
    public Creds Cred { get; internal set; } = null!;
    /// <summary>The cgroup.</summary>
    public SimCgroup Cgroup { get; internal set; } = null!;

    /// <summary>True for the thread-group leader.</summary>
    public bool IsLeader => Group.Leader == this;
    /// <summary>True until the task is a zombie or reaped.</summary>
    public bool Alive => State is TaskState.Running or TaskState.VforkWait or TaskState.Stopped;
    /// <summary><c>task_active_pid_ns</c>: the namespace of its pid.</summary>
    public PidNamespace ActivePidNs => Pid.Ns;

    /// <summary>The children (leaders of the processes it created or adopted), in list order (allocates).</summary>
    public IReadOnlyList<SimTask> Children
    {
        get
        {
            var l = new List<SimTask>();
            for (var c = FirstChild; c is not null; c = c.NextSibling)
            {
                l.Add(c);
            }
            return l;
        }
    }

    // Children list (children/sibling in task_struct).
    internal SimTask? FirstChild, LastChild, NextSibling, PrevSibling;
    // Thread list (thread_node in signal_struct->thread_head).
    internal SimTask? NextThread, PrevThread;
    // Process group and session lists (pid->tasks[PIDTYPE_PGID/SID]), leaders only.
    internal SimTask? PgrpNext, PgrpPrev, SessionNext, SessionPrev;
    internal SimTask? VforkParent;   // vfork_done: the parent waiting for this child
    internal long SelfExecId, ParentExecId;
    internal bool Exiting;           // PF_EXITING
    internal BlockedCall? Block;
    internal Programs.ProgramRun? Program;
    internal int Generation;         // bumped at exec and exit: stale program events are dropped
    internal Forklift.Rules.CallerContext? CachedContext;

    /// <summary>Thread id as seen in its own pid namespace (<c>gettid</c>).</summary>
    public int Tid => Pid.Nr;
    /// <summary>Process id as seen in its own pid namespace (<c>getpid</c>).</summary>
    public int Tgid => Group.Leader.Pid.NrIn(Pid.Ns);

    /// <inheritdoc/>
    public override string ToString() => $"task {Pid.NrAtLevel(0)} ({State})";
}

/// <summary>
/// A thread group (<c>signal_struct</c>): the process. Holds the leader, the thread list, the process group and
/// session, the group-exit and group-stop state, pending signals, the subreaper flags and the rlimits.
/// </summary>
public sealed class ThreadGroup
{
    internal ThreadGroup(SimTask leader) => Leader = leader;

    /// <summary>The leader (its pid is the process id).</summary>
    public SimTask Leader { get; internal set; }
    /// <summary>Threads in the list (live ones and a zombie leader).</summary>
    public int ThreadCount { get; internal set; }
    /// <summary>Threads that have not started exiting (<c>signal-&gt;live</c>).</summary>
    public int Live { get; internal set; }
    /// <summary>The process group.</summary>
    public SimPid Pgrp { get; internal set; } = null!;
    /// <summary>The session.</summary>
    public SimPid Session { get; internal set; } = null!;
    /// <summary>The session leader flag (<c>signal-&gt;leader</c>).</summary>
    public bool SessionLeader { get; internal set; }
    /// <summary><c>PR_SET_CHILD_SUBREAPER</c>.</summary>
    public bool IsChildSubreaper { get; internal set; }
    /// <summary>Some ancestor is a subreaper (<c>has_child_subreaper</c>).</summary>
    public bool HasChildSubreaper { get; internal set; }
    /// <summary><c>SIGNAL_UNKILLABLE</c>: a pid-namespace init.</summary>
    public bool Unkillable { get; internal set; }
    /// <summary><c>SIGNAL_GROUP_EXIT</c>: exit_group or a fatal signal; <see cref="GroupExitCode"/> is the status.</summary>
    public bool GroupExit { get; internal set; }
    /// <summary>The group exit status, or the stop signal while stopped.</summary>
    public int GroupExitCode { get; internal set; }
    /// <summary><c>SIGNAL_STOP_STOPPED</c>.</summary>
    public bool StopStopped { get; internal set; }
    /// <summary><c>SIGNAL_STOP_CONTINUED</c>: continued, not yet reported to a WCONTINUED waiter.</summary>
    public bool StopContinued { get; internal set; }
    /// <summary>Pending (not yet delivered) signals, bit n-1 for signal n.</summary>
    public ulong Pending { get; internal set; }
    /// <summary>RLIMIT_NPROC.</summary>
    public ulong RlimitNproc { get; internal set; } = ulong.MaxValue;
    /// <summary>RLIMIT_NOFILE.</summary>
    public int RlimitNofile { get; internal set; } = 1024;
    /// <summary>Signals delivered to a handler, in order (null until one is).</summary>
    public List<int>? Delivered { get; internal set; }

    internal SimTask? FirstThread, LastThread;
    internal int Waiters;          // tasks of this group blocked in a wait (wait_chldexit)
    internal int NotifyStop;       // CLD_STOPPED / CLD_CONTINUED owed to the parent (SIGNAL_CLD_MASK)
    internal SimTask? SharedTaker; // the thread complete_signal woke for the shared queue (null: the first live one)

    /// <summary>The threads in list order (allocates).</summary>
    public IReadOnlyList<SimTask> Threads
    {
        get
        {
            var l = new List<SimTask>();
            for (var t = FirstThread; t is not null; t = t.NextThread)
            {
                l.Add(t);
            }
            return l;
        }
    }
}

/// <summary>What a sleeping task waits for.</summary>
internal enum BlockKind
{
    Wait,
    Sleep,
    Pause,
}

/// <summary>A blocked call: the kind and its arguments, retried when the task is woken.</summary>
internal sealed class BlockedCall
{
    public BlockKind Kind;
    public int IdType;
    public SimPid? WaitPid;
    public int Options;
    public bool Waitid;
    public bool PidfdNonblock;
    public long WakeAt;
}
