using System.Globalization;
using Forklift.Abi;

namespace Forklift.Processes;

/// <summary>Where an <see cref="ExitStatus"/> came from.</summary>
public enum ExitStatusSource
{
    /// <summary>Collected by Forklift's reactor with waitid on the pidfd (with resource usage).</summary>
    Waited,
    /// <summary>
    /// Read back through the pidfd (PIDFD_GET_INFO with PIDFD_INFO_EXIT, Linux 6.15+) because something else
    /// reaped the child first, or because it is a sibling whose parent reaped it. No resource usage.
    /// </summary>
    PidfdExitInfo,
    /// <summary>Made up by a simulated kernel or a test double.</summary>
    Simulated,
}

/// <summary>How a child ended: an exit code, or a signal (with the core-dump flag), plus its resource usage.</summary>
public sealed record ExitStatus
{
    /// <summary>A status from a wait(2)-style status word.</summary>
    /// <param name="rawStatus">The status word (WIFEXITED, WEXITSTATUS, WTERMSIG, WCOREDUMP decode it).</param>
    /// <param name="source">Where it came from.</param>
    /// <param name="resourceUsage">The child's resource usage, when known.</param>
    public ExitStatus(int rawStatus, ExitStatusSource source, ResourceUsage? resourceUsage = null)
    {
        RawStatus = rawStatus;
        Source = source;
        ResourceUsage = resourceUsage;
    }

    /// <summary>An exit with <paramref name="exitCode"/> (0..255).</summary>
    public static ExitStatus Exited(int exitCode, ExitStatusSource source = ExitStatusSource.Simulated) => new((exitCode & 0xff) << 8, source);

    /// <summary>A death by <paramref name="signal"/>.</summary>
    public static ExitStatus Killed(int signal, bool coreDumped = false, ExitStatusSource source = ExitStatusSource.Simulated) =>
        new((signal & 0x7f) | (coreDumped ? 0x80 : 0), source);

    /// <summary>The wait(2) status word.</summary>
    public int RawStatus { get; }

    /// <summary>Where the status came from.</summary>
    public ExitStatusSource Source { get; }

    /// <summary>The child's resource usage (getrusage of the reaped child), or null when read back through the pidfd.</summary>
    public ResourceUsage? ResourceUsage { get; }

    /// <summary>The exit code (0..255) when the child exited; null when a signal killed it.</summary>
    public int? ExitCode => (RawStatus & 0x7f) == 0 ? (RawStatus >> 8) & 0xff : null;

    /// <summary>The signal that killed the child; null when it exited.</summary>
    public int? Signal => (RawStatus & 0x7f) is not 0 and not 0x7f ? RawStatus & 0x7f : null;

    /// <summary>True when the killing signal produced a core dump.</summary>
    public bool CoreDumped => Signal is not null && (RawStatus & 0x80) != 0;

    /// <summary>True for exit code 0.</summary>
    public bool Succeeded => ExitCode == 0;

    /// <inheritdoc/>
    public override string ToString() => ExitCode is { } code
        ? $"exited with code {code.ToString(CultureInfo.InvariantCulture)}"
        : $"killed by {Signals.Name(Signal ?? 0)}{(CoreDumped ? " (core dumped)" : "")}";
}

/// <summary>A reaped child's resource usage (struct rusage, from waitid).</summary>
public sealed record ResourceUsage
{
    /// <summary>CPU time in user mode.</summary>
    public TimeSpan UserTime { get; init; }

    /// <summary>CPU time in kernel mode.</summary>
    public TimeSpan SystemTime { get; init; }

    /// <summary>Peak resident set size, in KiB.</summary>
    public long MaxResidentSetKiB { get; init; }

    /// <summary>Page faults served without I/O.</summary>
    public long MinorFaults { get; init; }

    /// <summary>Page faults that needed I/O.</summary>
    public long MajorFaults { get; init; }

    /// <summary>Block input operations.</summary>
    public long BlockInputs { get; init; }

    /// <summary>Block output operations.</summary>
    public long BlockOutputs { get; init; }

    /// <summary>Voluntary context switches.</summary>
    public long VoluntaryContextSwitches { get; init; }

    /// <summary>Involuntary context switches.</summary>
    public long InvoluntaryContextSwitches { get; init; }

    /// <summary>Decodes the 18 longs of struct rusage (two timevals, then 14 longs).</summary>
    internal static ResourceUsage FromRusage(ReadOnlySpan<long> r) => new()
    {
        UserTime = TimeSpan.FromSeconds(r[0]) + TimeSpan.FromMicroseconds(r[1]),
        SystemTime = TimeSpan.FromSeconds(r[2]) + TimeSpan.FromMicroseconds(r[3]),
        MaxResidentSetKiB = r[4],
        MinorFaults = r[8],
        MajorFaults = r[9],
        BlockInputs = r[11],
        BlockOutputs = r[12],
        VoluntaryContextSwitches = r[16],
        InvoluntaryContextSwitches = r[17],
    };
}

/// <summary>How the child was created: by clone3 or by legacy clone, and why clone3 was not used.</summary>
/// <param name="UsedClone3">True when clone3 created the child.</param>
/// <param name="Clone3Errno">Why clone3 was not used (ENOSYS, EPERM), or <see cref="Errno.None"/>.</param>
/// <param name="FastPath">True for the vfork-style fast path (CLONE_VM|CLONE_VFORK); false for the full path.</param>
public readonly record struct SpawnPath(bool UsedClone3, Errno Clone3Errno, bool FastPath)
{
    /// <inheritdoc/>
    public override string ToString() =>
        (UsedClone3 ? "clone3" : Clone3Errno == Errno.None ? "clone" : $"clone (clone3 said {ErrnoInfo.Name(Clone3Errno)})")
        + (FastPath ? ", fast path" : ", full path");
}
