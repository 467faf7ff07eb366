using System.Globalization;

namespace Forklift.Isolation;

/// <summary>
/// The limits of a control group, as data: nothing is checked or created until
/// <see cref="ControlGroup.Create(CgroupLimits, CgroupOptions?)"/>, which calls <see cref="Validate"/> first. Every
/// limit is optional (null: none, the kernel's default). Each is written to the hierarchy that serves its controller
/// (<see cref="CgroupLayout.HierarchyFor"/>): cgroup v2 files where the unified hierarchy has the controller, the v1
/// files otherwise.
/// </summary>
public sealed record CgroupLimits
{
    /// <summary>The kernel's default CFS period, 100 ms (Documentation/scheduler/sched-bwc.rst).</summary>
    public static readonly TimeSpan DefaultCpuPeriod = TimeSpan.FromMilliseconds(100);

    /// <summary>No limits: a group for placement, statistics and killing only.</summary>
    public static readonly CgroupLimits None = new();

    /// <summary>
    /// The most memory the group may use, in bytes (v2 <c>memory.max</c>; v1 <c>memory.limit_in_bytes</c>). When
    /// reclaim cannot keep the group under it, the kernel's OOM killer kills a process of the group (SIGKILL).
    /// At least one page (4096).
    /// </summary>
    public ulong? MemoryMax { get; init; }

    /// <summary>
    /// Memory plus swap, in bytes, as docker's <c>--memory-swap</c> and v1's <c>memory.memsw.limit_in_bytes</c>
    /// count it; needs <see cref="MemoryMax"/> and must be at least as large (equal: no swap at all). On v2 it is
    /// written as <c>memory.swap.max</c> = this - <see cref="MemoryMax"/>. Needs swap accounting in the kernel
    /// (v1: <c>swapaccount=1</c>, the default since 5.8 when CONFIG_MEMCG_SWAP is set).
    /// </summary>
    public ulong? MemoryAndSwapMax { get; init; }

    /// <summary>
    /// The most processes and threads the group may hold (<c>pids.max</c>, both versions): a fork or clone past it
    /// fails with EAGAIN. At least 1.
    /// </summary>
    public long? PidsMax { get; init; }

    /// <summary>
    /// CPU bandwidth as a number of CPUs' worth of time (0.5: half of one CPU; 2: two CPUs), enforced per
    /// <see cref="CpuPeriod"/>: v2 <c>cpu.max</c> = "QUOTA PERIOD", v1 <c>cpu.cfs_quota_us</c> and
    /// <c>cpu.cfs_period_us</c>, QUOTA = fraction x period. The quota must come to at least 1 ms (the kernel's
    /// min_cfs_quota_period).
    /// </summary>
    public double? CpuFraction { get; init; }

    /// <summary>The period <see cref="CpuFraction"/> is enforced over: 1 ms .. 1 s. Default: <see cref="DefaultCpuPeriod"/>.</summary>
    public TimeSpan CpuPeriod { get; init; } = DefaultCpuPeriod;

    /// <summary>
    /// The group's CPU share against its siblings on the v2 scale, 1..10000 (default 100): v2 <c>cpu.weight</c>;
    /// v1 <c>cpu.shares</c> = weight x 1024 / 100, the kernel's own conversion (sched_weight_from_cgroup,
    /// kernel/sched/sched.h), so 100 becomes the v1 default 1024.
    /// </summary>
    public int? CpuWeight { get; init; }

    /// <summary>True when no limit is set.</summary>
    public bool IsEmpty => MemoryMax is null && MemoryAndSwapMax is null && PidsMax is null && CpuFraction is null && CpuWeight is null;

    /// <summary>The most pids the kernel allows (PID_MAX_LIMIT on 64-bit, include/linux/threads.h).</summary>
    public const long PidsLimitMax = 4 * 1024 * 1024;

    /// <summary>
    /// The kernel's bounds on a CFS quota and period (kernel/sched/core.c, tg_set_cfs_bandwidth; sched-bwc.rst): quota
    /// and period at least 1 ms, period at most 1 s, quota at most 2^44 - 1 us (max_cfs_runtime).
    /// </summary>
    internal const long MinQuotaMicroseconds = 1000, MaxPeriodMicroseconds = 1_000_000, MaxQuotaMicroseconds = (1L << 44) - 1;

    /// <summary>Checks every value and the combinations; the first problem throws, naming the property.</summary>
    /// <exception cref="CgroupLimitsException">A value is out of range or values contradict each other.</exception>
    public void Validate()
    {
        if (MemoryMax is < 4096)
            throw new CgroupLimitsException(nameof(MemoryMax), $"{MemoryMax} bytes is less than one page (4096)");
        if (MemoryMax > long.MaxValue)
            throw new CgroupLimitsException(nameof(MemoryMax), $"{MemoryMax} bytes is beyond what the kernel counts (2^63 - 1)");
        if (MemoryAndSwapMax is { } both)
        {
            if (MemoryMax is not { } memory)
                throw new CgroupLimitsException(nameof(MemoryAndSwapMax), "needs MemoryMax (memory plus swap is counted on top of a memory limit, as docker's --memory-swap needs --memory)");
            if (both < memory)
                throw new CgroupLimitsException(nameof(MemoryAndSwapMax), $"{both} bytes is less than MemoryMax ({memory}): memory plus swap cannot be below memory alone (equal means no swap)");
            if (both > long.MaxValue)
                throw new CgroupLimitsException(nameof(MemoryAndSwapMax), $"{both} bytes is beyond what the kernel counts (2^63 - 1)");
        }
        if (PidsMax is < 1 or > PidsLimitMax)
            throw new CgroupLimitsException(nameof(PidsMax), $"{PidsMax} is out of range (1..{PidsLimitMax}, PID_MAX_LIMIT)");
        if (CpuPeriod < TimeSpan.FromMilliseconds(1) || CpuPeriod > TimeSpan.FromSeconds(1))
            throw new CgroupLimitsException(nameof(CpuPeriod), $"{CpuPeriod.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms is out of range (1 ms .. 1 s, the kernel's bounds on cfs_period_us)");
        if (CpuFraction is { } fraction)
        {
            if (double.IsNaN(fraction) || double.IsInfinity(fraction) || fraction <= 0)
                throw new CgroupLimitsException(nameof(CpuFraction), $"{fraction.ToString(CultureInfo.InvariantCulture)} is not a positive number of CPUs (0.5 is half of one CPU)");
            double quota = fraction * PeriodMicroseconds;
            if (quota < MinQuotaMicroseconds)
                throw new CgroupLimitsException(nameof(CpuFraction),
                    $"{fraction.ToString(CultureInfo.InvariantCulture)} of a {PeriodMicroseconds / 1000} ms period is a quota under 1 ms, the kernel's minimum (use at least {(MinQuotaMicroseconds / (double)PeriodMicroseconds).ToString(CultureInfo.InvariantCulture)}, or a longer CpuPeriod)");
            if (quota > MaxQuotaMicroseconds)
                throw new CgroupLimitsException(nameof(CpuFraction), $"{fraction.ToString(CultureInfo.InvariantCulture)} CPUs is a quota beyond the kernel's maximum");
        }
        if (CpuWeight is < 1 or > 10000)
            throw new CgroupLimitsException(nameof(CpuWeight), $"{CpuWeight} is out of range (1..10000; 100 is the default)");
    }

    /// <summary>The period in microseconds.</summary>
    internal long PeriodMicroseconds => (long)Math.Round(CpuPeriod.TotalMicroseconds);

    /// <summary>The quota in microseconds (with <see cref="CpuFraction"/> set).</summary>
    internal long QuotaMicroseconds => (long)Math.Round(CpuFraction!.Value * PeriodMicroseconds);

    /// <summary>v1 <c>cpu.shares</c> for <see cref="CpuWeight"/>: DIV_ROUND_CLOSEST(weight * 1024, 100), as sched_weight_from_cgroup.</summary>
    internal static long SharesFromWeight(int weight) => (weight * 1024L + 50) / 100;

    /// <summary>The limits, as <c>memory 64 MiB, pids 16</c>.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (MemoryMax is { } m)
            parts.Add($"memory {Size(m)}");
        if (MemoryAndSwapMax is { } s)
            parts.Add($"memory+swap {Size(s)}");
        if (PidsMax is { } p)
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"pids {p}"));
        if (CpuFraction is { } f)
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"cpu {f} per {CpuPeriod.TotalMilliseconds} ms"));
        if (CpuWeight is { } w)
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"cpu weight {w}"));
        return parts.Count == 0 ? "no limits" : string.Join(", ", parts);
    }

    /// <summary>A byte count as the largest exact binary unit: <c>64 MiB</c>, <c>4097 bytes</c>.</summary>
    internal static string Size(ulong bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        int u = 0;
        ulong v = bytes;
        while (u < units.Length - 1 && v >= 1024 && v % 1024 == 0)
        {
            v /= 1024;
            u++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{v} {units[u]}");
    }
}

/// <summary>Statistics to collect even without a limit on them: the group then joins that hierarchy too.</summary>
[Flags]
public enum CgroupAccounting
{
    /// <summary>Only what the limits need.</summary>
    None = 0,

    /// <summary>Memory use, peak and OOM kills (the memory controller).</summary>
    Memory = 1,

    /// <summary>CPU time (cgroup v2's own cpu.stat, or the v1 cpuacct controller).</summary>
    Cpu = 2,

    /// <summary>Process count, peak and refused forks (the pids controller).</summary>
    Pids = 4,

    /// <summary>All three.</summary>
    All = Memory | Cpu | Pids,
}

/// <summary>How and where <see cref="ControlGroup.Create(CgroupLimits, CgroupOptions?)"/> makes a group.</summary>
public sealed record CgroupOptions
{
    /// <summary>The default parent: a group named <c>forklift</c> at the root of each hierarchy (made on first use and left in place).</summary>
    public const string DefaultParent = "forklift";

    /// <summary>
    /// The group under which the new one is made, in every hierarchy it needs: a path relative to each hierarchy's
    /// root (<c>ci/jobs</c>), or a directory inside a cgroup mount (<c>/sys/fs/cgroup/memory/ci/jobs</c>), whose path
    /// in its hierarchy (<c>/ci/jobs</c>) is then used in the others too. Missing directories are made, and those
    /// made for this group are removed with it (unless another group uses them then). Default (null):
    /// <see cref="DefaultParent"/>.
    /// </summary>
    public string? Parent { get; init; }

    /// <summary>Statistics to collect without a limit on them. Default: none.</summary>
    public CgroupAccounting Accounting { get; init; }

    /// <summary>
    /// True (the default) to make the group in the unified (cgroup2) hierarchy too whenever one is mounted, even
    /// when no limit needs it there: the child then enters it atomically at creation (<c>CLONE_INTO_CGROUP</c>),
    /// one <c>cgroup.kill</c> write kills every process it ever made, and v2's own <c>cpu.stat</c> counts CPU time
    /// without any controller. False: only the hierarchies the limits and <see cref="Accounting"/> need.
    /// </summary>
    public bool UseUnifiedHierarchy { get; init; } = true;

    /// <summary>How long killing (and so removing) the group waits for its processes to die. Default 10 s.</summary>
    public TimeSpan KillTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Checks the options.</summary>
    /// <exception cref="CgroupLimitsException">An option is unusable.</exception>
    public void Validate()
    {
        if (Parent is not null)
        {
            if (Parent.Length == 0)
                throw new CgroupLimitsException(nameof(Parent), "cannot be empty (null: the default parent)");
            if (Parent.Contains('\0'))
                throw new CgroupLimitsException(nameof(Parent), "contains a NUL character");
            if (Parent.Split('/').Any(p => p is "." or ".."))
                throw new CgroupLimitsException(nameof(Parent), $"'{Parent}': '.' and '..' are not allowed in a cgroup path");
        }
        if ((Accounting & ~CgroupAccounting.All) != 0)
            throw new CgroupLimitsException(nameof(Accounting), $"unknown value {(int)Accounting}");
        if (KillTimeout <= TimeSpan.Zero && KillTimeout != Timeout.InfiniteTimeSpan)
            throw new CgroupLimitsException(nameof(KillTimeout), "must be positive");
    }
}

/// <summary>
/// Limits or options were refused before anything was created: <see cref="Option"/> names the property
/// (<c>MemoryMax</c>, <c>CpuFraction</c>, <c>Parent</c>).
/// </summary>
public sealed class CgroupLimitsException : ForkliftException
{
    /// <summary>An exception about one property.</summary>
    public CgroupLimitsException(string option, string reason)
        : base($"{option}: {reason}")
    {
        Option = option;
        Reason = reason;
    }

    /// <summary>The property, as <see cref="CgroupLimits"/> or <see cref="CgroupOptions"/> spells it.</summary>
    public string Option { get; }

    /// <summary>The message without the property's name.</summary>
    public string Reason { get; }
}
