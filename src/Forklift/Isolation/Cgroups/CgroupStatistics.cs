using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Forklift.Isolation;

/// <summary>
/// A control group's counters, read from whichever hierarchy serves each (<see cref="Sources"/>). A value is null
/// when the group is not in a hierarchy that counts it (no memory limit and no memory accounting asked for, say) or
/// the kernel does not provide it. Counts cover the whole subtree of the group.
/// </summary>
public sealed record CgroupStatistics
{
    /// <summary>Memory in use now, in bytes (v2 <c>memory.current</c>; v1 <c>memory.usage_in_bytes</c>; page cache included).</summary>
    public ulong? MemoryCurrent { get; init; }

    /// <summary>The most memory in use at once, in bytes (v2 <c>memory.peak</c>, 5.19+; v1 <c>memory.max_usage_in_bytes</c>).</summary>
    public ulong? MemoryPeak { get; init; }

    /// <summary>Processes the OOM killer killed in the group (v2 <c>memory.events</c> oom_kill; v1 <c>memory.oom_control</c> oom_kill, 4.13+).</summary>
    public long? OomKills { get; init; }

    /// <summary>
    /// How often the memory limit was hit (v2 <c>memory.events</c> max: reclaim had to run; v1 <c>memory.failcnt</c>
    /// plus <c>memory.memsw.failcnt</c>: a charge failed the memory or the memory+swap limit). Measured on Linux 6.18
    /// v1: a group whose memory+swap limit equals its memory limit counts 0 in both even after an OOM kill (the
    /// charge fails against memsw, which keeps no failure count there): <see cref="OomKills"/> is the reliable sign.
    /// </summary>
    public long? MemoryLimitHits { get; init; }

    /// <summary>CPU time used (v2 <c>cpu.stat</c> usage_usec; v1 <c>cpuacct.usage</c>).</summary>
    public TimeSpan? CpuUsage { get; init; }

    /// <summary>CPU time in user mode (v2 <c>cpu.stat</c> user_usec; v1 <c>cpuacct.usage_user</c>).</summary>
    public TimeSpan? CpuUser { get; init; }

    /// <summary>CPU time in the kernel (v2 <c>cpu.stat</c> system_usec; v1 <c>cpuacct.usage_sys</c>).</summary>
    public TimeSpan? CpuSystem { get; init; }

    /// <summary>Periods in which the CPU limit throttled the group (<c>cpu.stat</c> nr_throttled, both versions).</summary>
    public long? CpuThrottledPeriods { get; init; }

    /// <summary>Processes and threads in the group now (<c>pids.current</c>).</summary>
    public long? PidsCurrent { get; init; }

    /// <summary>The most processes and threads at once (<c>pids.peak</c>, 6.12+).</summary>
    public long? PidsPeak { get; init; }

    /// <summary>Forks refused because the group was at its pids limit (<c>pids.events</c> max).</summary>
    public long? PidsLimitHits { get; init; }

    /// <summary>Where each kind of statistic was read.</summary>
    public ImmutableArray<CgroupRoute> Sources { get; init; } = [];

    /// <summary>One line per kind, with its source: for <c>forklift run --stats</c> and logs.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Line(CgroupFeature.MemoryStatistics, MemoryCurrent is null && MemoryPeak is null && OomKills is null ? null :
            $"memory current {Bytes(MemoryCurrent)}, peak {Bytes(MemoryPeak)}, limit hits {Count(MemoryLimitHits)}, OOM kills {Count(OomKills)}");
        Line(CgroupFeature.CpuStatistics, CpuUsage is null ? null :
            $"cpu usage {Seconds(CpuUsage)}, user {Seconds(CpuUser)}, system {Seconds(CpuSystem)}{(CpuThrottledPeriods is { } t ? string.Create(CultureInfo.InvariantCulture, $", throttled periods {t}") : "")}");
        Line(CgroupFeature.PidsStatistics, PidsCurrent is null ? null :
            $"pids current {Count(PidsCurrent)}, peak {Count(PidsPeak)}, forks refused at the limit {Count(PidsLimitHits)}");
        return sb.ToString().TrimEnd('\n');

        void Line(CgroupFeature feature, string? text)
        {
            if (text is null)
                return;
            var source = Sources.FirstOrDefault(r => r.Feature == feature);
            sb.Append(text);
            if (source is not null)
                sb.Append(CultureInfo.InvariantCulture, $" [{source.Hierarchy}: {source.How}]");
            sb.Append('\n');
        }
    }

    private static string Bytes(ulong? v) => v is { } b
        ? b % 1024 == 0 && b < 1024 * 1024 ? CgroupLimits.Size(b) : string.Create(CultureInfo.InvariantCulture, $"{b / 1048576.0:0.0##} MiB")
        : "n/a";

    private static string Count(long? v) => v is { } n ? n.ToString(CultureInfo.InvariantCulture) : "n/a";

    private static string Seconds(TimeSpan? v) => v is { } t ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.000}s") : "n/a";
}
