namespace Forklift.Isolation;

/// <summary>Something a control group does for its processes: a limit, a statistic, or killing them.</summary>
public enum CgroupFeature
{
    /// <summary><see cref="CgroupLimits.MemoryMax"/>.</summary>
    MemoryLimit,

    /// <summary><see cref="CgroupLimits.MemoryAndSwapMax"/>.</summary>
    SwapLimit,

    /// <summary><see cref="CgroupLimits.PidsMax"/>.</summary>
    PidsLimit,

    /// <summary><see cref="CgroupLimits.CpuFraction"/>.</summary>
    CpuLimit,

    /// <summary><see cref="CgroupLimits.CpuWeight"/>.</summary>
    CpuWeight,

    /// <summary>Memory use, peak, OOM kills.</summary>
    MemoryStatistics,

    /// <summary>CPU time: total, user, system.</summary>
    CpuStatistics,

    /// <summary>Process count, peak, refused forks.</summary>
    PidsStatistics,

    /// <summary>Killing every process in the group.</summary>
    Kill,

    /// <summary>Putting a new child into the group.</summary>
    Placement,
}

/// <summary>
/// Which hierarchy serves one <see cref="CgroupFeature"/> of a group, through which directory and files: the
/// library's answer to "where does this limit live" (<c>forklift run --verbose</c> and <c>--stats</c> print it).
/// </summary>
/// <param name="Feature">What is served.</param>
/// <param name="Hierarchy">The hierarchy serving it.</param>
/// <param name="Directory">The group's directory in that hierarchy.</param>
/// <param name="How">The files or mechanism (<c>memory.limit_in_bytes</c>, <c>cgroup.kill</c>, <c>CLONE_INTO_CGROUP</c>).</param>
public sealed record CgroupRoute(CgroupFeature Feature, CgroupHierarchy Hierarchy, string Directory, string How)
{
    /// <summary>The feature's name as messages print it (<c>memory limit</c>, <c>CPU statistics</c>).</summary>
    public static string Describe(CgroupFeature feature) => feature switch
    {
        CgroupFeature.MemoryLimit => "memory limit",
        CgroupFeature.SwapLimit => "memory+swap limit",
        CgroupFeature.PidsLimit => "pids limit",
        CgroupFeature.CpuLimit => "CPU limit",
        CgroupFeature.CpuWeight => "CPU weight",
        CgroupFeature.MemoryStatistics => "memory statistics",
        CgroupFeature.CpuStatistics => "CPU statistics",
        CgroupFeature.PidsStatistics => "pids statistics",
        CgroupFeature.Kill => "kill",
        CgroupFeature.Placement => "placement",
        _ => feature.ToString(),
    };

    /// <summary><c>memory limit: cgroup v1 memory (/sys/fs/cgroup/memory): /sys/fs/cgroup/memory/forklift/x memory.limit_in_bytes</c>.</summary>
    public override string ToString() => $"{Describe(Feature)}: {Hierarchy}: {Directory} {How}";
}
