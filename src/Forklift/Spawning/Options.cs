namespace Forklift.Spawning;

/// <summary>What disposing a still-running child does (<see cref="Command.WithDisposeBehavior"/>).</summary>
public enum ChildDisposal
{
    /// <summary>Send SIGKILL through the pidfd (the default): nothing outlives its handle.</summary>
    Kill,
    /// <summary>Leave it running. Forklift still reaps it when it exits, so it never stays a zombie.</summary>
    Detach,
}

/// <summary>Which system call creates the child (<see cref="Command.WithCloneEntry"/>).</summary>
public enum CloneEntryPolicy
{
    /// <summary><c>clone3</c>, falling back to legacy <c>clone</c> when the kernel lacks it (ENOSYS). The default.</summary>
    Clone3,
    /// <summary>
    /// <c>clone3</c>, falling back to legacy <c>clone</c> on ENOSYS and also on EPERM, which is what seccomp
    /// profiles that block clone3 (some container engines' defaults) return.
    /// </summary>
    Clone3WithFallbackOnEperm,
    /// <summary>Legacy <c>clone</c> only.</summary>
    LegacyClone,
}

/// <summary>The resources of setrlimit(2), with the kernel's numbers (asm-generic/resource.h).</summary>
public enum ResourceLimit
{
    /// <summary><c>RLIMIT_CPU</c>: CPU time in seconds.</summary>
    Cpu = 0,
    /// <summary><c>RLIMIT_FSIZE</c>: largest file the process may create, in bytes.</summary>
    FileSize = 1,
    /// <summary><c>RLIMIT_DATA</c>: data segment size, in bytes.</summary>
    Data = 2,
    /// <summary><c>RLIMIT_STACK</c>: main thread stack size, in bytes.</summary>
    Stack = 3,
    /// <summary><c>RLIMIT_CORE</c>: core file size, in bytes (0: no core dumps).</summary>
    Core = 4,
    /// <summary><c>RLIMIT_RSS</c>: resident set size (no effect on Linux).</summary>
    Rss = 5,
    /// <summary><c>RLIMIT_NPROC</c>: processes of the real user.</summary>
    Nproc = 6,
    /// <summary><c>RLIMIT_NOFILE</c>: one more than the highest fd number.</summary>
    Nofile = 7,
    /// <summary><c>RLIMIT_MEMLOCK</c>: locked memory, in bytes.</summary>
    Memlock = 8,
    /// <summary><c>RLIMIT_AS</c>: address space, in bytes.</summary>
    AddressSpace = 9,
    /// <summary><c>RLIMIT_LOCKS</c>: file locks (no effect since 2.4.25).</summary>
    Locks = 10,
    /// <summary><c>RLIMIT_SIGPENDING</c>: queued signals of the real user.</summary>
    SigPending = 11,
    /// <summary><c>RLIMIT_MSGQUEUE</c>: POSIX message queue bytes.</summary>
    MsgQueue = 12,
    /// <summary><c>RLIMIT_NICE</c>: ceiling of the nice value (20 - limit).</summary>
    Nice = 13,
    /// <summary><c>RLIMIT_RTPRIO</c>: ceiling of the real-time priority.</summary>
    RtPrio = 14,
    /// <summary><c>RLIMIT_RTTIME</c>: real-time CPU time in microseconds.</summary>
    RtTime = 15,
}

/// <summary>A soft and hard limit pair for one <see cref="ResourceLimit"/>.</summary>
/// <param name="Soft">The limit the kernel enforces.</param>
/// <param name="Hard">The ceiling for the soft limit (raising it needs CAP_SYS_RESOURCE).</param>
public readonly record struct ResourceLimitValue(ulong Soft, ulong Hard)
{
    /// <summary><c>RLIM_INFINITY</c>: no limit.</summary>
    public const ulong Infinity = ulong.MaxValue;

    /// <inheritdoc/>
    public override string ToString() => $"{Show(Soft)}/{Show(Hard)}";

    private static string Show(ulong v) => v == Infinity ? "unlimited" : v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Names for <see cref="ResourceLimit"/> as the kernel headers spell them.</summary>
public static class ResourceLimits
{
    /// <summary><c>NOFILE</c> for <see cref="ResourceLimit.Nofile"/>: the RLIMIT_ name without its prefix.</summary>
    public static string Name(ResourceLimit resource) => resource switch
    {
        ResourceLimit.Cpu => "CPU", ResourceLimit.FileSize => "FSIZE", ResourceLimit.Data => "DATA",
        ResourceLimit.Stack => "STACK", ResourceLimit.Core => "CORE", ResourceLimit.Rss => "RSS",
        ResourceLimit.Nproc => "NPROC", ResourceLimit.Nofile => "NOFILE", ResourceLimit.Memlock => "MEMLOCK",
        ResourceLimit.AddressSpace => "AS", ResourceLimit.Locks => "LOCKS", ResourceLimit.SigPending => "SIGPENDING",
        ResourceLimit.MsgQueue => "MSGQUEUE", ResourceLimit.Nice => "NICE", ResourceLimit.RtPrio => "RTPRIO",
        ResourceLimit.RtTime => "RTTIME",
        _ => ((int)resource).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
