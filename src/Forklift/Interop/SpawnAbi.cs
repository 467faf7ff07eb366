using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>Step operations of <c>fl_spawn_step.op</c> (native/include/forklift_spawn.h; fixed forever).</summary>
internal static class SpawnOp
{
    public const int Dup2 = 1;
    public const int Close = 2;
    public const int CloseRange = 3;
    public const int Open = 4;
    public const int Chdir = 5;
    public const int Fchdir = 6;
    public const int Umask = 7;
    public const int Setsid = 8;
    public const int Setpgid = 9;
    public const int SetCtty = 10;
    public const int Tcsetpgrp = 11;
    public const int Pdeathsig = 12;
    public const int SetRlimit = 13;
    public const int SetGroups = 14;
    public const int SetResGid = 15;
    public const int SetResUid = 16;
    public const int NoNewPrivs = 17;
    public const int SignalDefault = 18;
    public const int SignalIgnore = 19;
    public const int WriteFile = 20;
    public const int WaitParent = 21;
    public const int DupAbove = 22;
    public const int Setns = 23;
    public const int Unshare = 24;
    public const int Mount = 25;
    public const int Mkdir = 26;
    public const int SetHostname = 27;
    public const int SetDomainName = 28;
    public const int LoopbackUp = 29;
    public const int OpenTree = 30;
    public const int MoveMount = 31;
    public const int MountSetattr = 32;
    public const int CreateFile = 33;
    public const int Symlink = 34;
    public const int KeepCaps = 35;
    public const int CapBsetDrop = 36;
    public const int Capset = 37;
    public const int Ambient = 38;
    public const int Init = 39;

    /// <summary><c>FL_AT_FDCWD</c>: MOUNT_SETATTR's "a" when the step names a path.</summary>
    public const int AtFdCwd = -100;
    public const int JoinCgroup = 40;

    /// <summary><c>FL_MAX_SLOTS</c>: how many fds <see cref="DupAbove"/> can park.</summary>
    public const int MaxSlots = 64;

    /// <summary><c>FL_FD_SLOT(n)</c>: a step argument naming the fd parked in slot n.</summary>
    public static int Slot(int n) => -1000 - n;

    /// <summary>The C name of an op, for plan dumps.</summary>
    public static string Name(int op) => op switch
    {
        Dup2 => "DUP2", Close => "CLOSE", CloseRange => "CLOSE_RANGE", Open => "OPEN", Chdir => "CHDIR",
        Fchdir => "FCHDIR", Umask => "UMASK", Setsid => "SETSID", Setpgid => "SETPGID", SetCtty => "SET_CTTY",
        Tcsetpgrp => "TCSETPGRP", Pdeathsig => "PDEATHSIG", SetRlimit => "SETRLIMIT", SetGroups => "SETGROUPS",
        SetResGid => "SETRESGID", SetResUid => "SETRESUID", NoNewPrivs => "NO_NEW_PRIVS",
        SignalDefault => "SIGNAL_DEFAULT", SignalIgnore => "SIGNAL_IGNORE", WriteFile => "WRITE_FILE",
        WaitParent => "WAIT_PARENT", DupAbove => "DUP_ABOVE", Setns => "SETNS", Unshare => "UNSHARE", Mount => "MOUNT",
        Mkdir => "MKDIR", SetHostname => "SETHOSTNAME", SetDomainName => "SETDOMAINNAME", LoopbackUp => "LOOPBACK_UP",
        OpenTree => "OPEN_TREE", MoveMount => "MOVE_MOUNT", MountSetattr => "MOUNT_SETATTR", CreateFile => "CREATE_FILE",
        Symlink => "SYMLINK", KeepCaps => "KEEPCAPS", CapBsetDrop => "CAPBSET_DROP", Capset => "CAPSET", Ambient => "AMBIENT",
        Init => "INIT", JoinCgroup => "JOIN_CGROUP",
        _ => "OP_" + op,
    };
}

/// <summary>Plan flags of <c>fl_spawn_plan.flags</c>.</summary>
[Flags]
internal enum SpawnPlanFlags : uint
{
    None = 0,
    /// <summary><c>FL_PLAN_FAST</c>: CLONE_VM|CLONE_VFORK on a stage-owned stack.</summary>
    Fast = 0x1,
    /// <summary><c>FL_PLAN_NO_CLONE3</c>: legacy clone only.</summary>
    NoClone3 = 0x2,
    /// <summary><c>FL_PLAN_FALLBACK_ON_EPERM</c>: fall back to clone on EPERM from clone3 too.</summary>
    FallbackOnEperm = 0x4,
    /// <summary><c>FL_PLAN_SYNC</c>: the child waits at <c>FL_OP_WAIT_PARENT</c> for <c>fl_spawn_release</c>.</summary>
    Sync = 0x8,
    /// <summary><c>FL_PLAN_RESET_SIGNALS</c>: every caught signal back to SIG_DFL in the child.</summary>
    ResetSignals = 0x10,
    /// <summary><c>FL_PLAN_SET_SIGMASK</c>: install <c>sigmask</c> before execve.</summary>
    SetSigmask = 0x20,
    /// <summary><c>FL_PLAN_TIME_CALL</c>: fill <c>call_ns</c> (two clock reads as raw system calls; the launcher times the call itself).</summary>
    TimeCall = 0x40,
}

/// <summary>The negative step values of <c>fl_spawn_record.step</c> / <c>fl_spawn_result.error_step</c>.</summary>
internal static class SpawnStepCode
{
    public const int Clone = -1;
    public const int Exec = -2;
    public const int Setup = -3;
    public const int Signals = -4;
    public const int Sync = -5;
}

/// <summary>Mirror of <c>fl_spawn_step</c> (48 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FlSpawnStep
{
    public int Op;
    public int Reserved;
    public long A;
    public long B;
    public long C;
    public byte* Str;
    public void* Ptr;
}

/// <summary>Mirror of <c>fl_spawn_plan</c> (112 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FlSpawnPlan
{
    /// <summary><c>FL_SPAWN_VERSION</c>.</summary>
    public const uint CurrentVersion = 1;

    public uint Version;
    public SpawnPlanFlags Flags;
    public ulong CloneFlags;
    public ulong ExitSignal;
    public ulong CgroupFd;
    public int* SetTid;
    public ulong SetTidSize;
    public ulong StackSize;
    public byte** ExecPaths;
    public uint ExecPathCount;
    public uint StepCount;
    public byte** Argv;
    public byte** Envp;
    public FlSpawnStep* Steps;
    public ulong Sigmask;
    public int* ExecErrnos;
}

/// <summary>Mirror of <c>fl_spawn_result</c> (48 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlSpawnResult
{
    public int Pid;
    public int Pidfd;
    public int Ok;
    public int UsedClone3;
    public int Clone3Errno;
    public int ErrorErrno;
    public int ErrorStep;
    public int ErrorDetail;
    public int SyncFd;
    public int ErrorFd;
    public long CallNanoseconds;

    /// <summary>A result before the call: no pid, every fd -1.</summary>
    public static FlSpawnResult Empty => new() { Pidfd = -1, SyncFd = -1, ErrorFd = -1 };

    /// <inheritdoc/>
    public override readonly string ToString() =>
        $"pid={Pid} pidfd={Pidfd} ok={Ok} clone3={UsedClone3} clone3_errno={Clone3Errno} errno={ErrorErrno} " +
        $"step={ErrorStep} detail={ErrorDetail} sync_fd={SyncFd} error_fd={ErrorFd} call_ns={CallNanoseconds}";
}

/// <summary>x86-64 <c>struct epoll_event</c>: packed, 12 bytes (events, then 64-bit data).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct EpollEvent
{
    public uint Events;
    public ulong Data;
}
