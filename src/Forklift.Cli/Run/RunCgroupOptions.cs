using System.CommandLine;
using System.Globalization;
using Forklift.Isolation;
using static Forklift.Cli.Run.RunOptions;

namespace Forklift.Cli.Run;

/// <summary>
/// The cgroup options of <c>forklift run</c> (the spellings are the contract): <c>--memory SIZE</c>,
/// <c>--memory-swap SIZE</c>, <c>--pids N</c>, <c>--cpu FRACTION</c>, <c>--cgroup PATH</c>, <c>--stats</c>.
/// </summary>
internal sealed class RunCgroupOptions
{
    public readonly Option<string?> Memory = Text("--memory", "SIZE",
        "Run the program in a new cgroup with this memory limit (bytes, or with a K, M, G or T suffix: 64M). Past it the kernel's " +
        "OOM killer kills a process of the group (SIGKILL: exit status 137).");
    public readonly Option<string?> MemorySwap = Text("--memory-swap", "SIZE",
        "Memory plus swap, as docker's --memory-swap (needs --memory; equal to it: no swap).");
    public readonly Option<string?> Pids = Text("--pids", "N", "At most N processes and threads in the program's cgroup: a fork past it fails with EAGAIN.");
    public readonly Option<string?> Cpu = Text("--cpu", "FRACTION", "CPU time as a number of CPUs (0.5: half of one CPU; 2: two), enforced per 100 ms.");
    public readonly Option<string?> Cgroup = Text("--cgroup", "PATH",
        "With a limit: make the new cgroup under PATH (a cgroup directory, or a path relative to each hierarchy's root) instead of " +
        "'forklift' at each root. Without limits: start the program in the existing cgroup PATH (left in place).");
    public readonly Option<bool> Stats = new("--stats")
    {
        Description = "When the program exits, print its cgroup's statistics to stderr (memory current and peak, OOM kills, CPU time, " +
                      "pids current and peak, forks refused) and which cgroup hierarchy served each. Without a limit or --cgroup, a new " +
                      "cgroup is made just to count.",
    };

    /// <summary>The options, in help order.</summary>
    public IEnumerable<Option> All => [Memory, MemorySwap, Pids, Cpu, Cgroup, Stats];

    /// <summary>The request, or null when no cgroup option was given.</summary>
    /// <exception cref="UsageException">A value is malformed, or the limits contradict each other.</exception>
    public RunCgroupRequest? Parse(ParseResult r)
    {
        string? memory = r.GetValue(Memory), swap = r.GetValue(MemorySwap), pids = r.GetValue(Pids), cpu = r.GetValue(Cpu);
        string? path = r.GetValue(Cgroup);
        bool stats = r.GetValue(Stats);
        if (memory is null && swap is null && pids is null && cpu is null && path is null && !stats)
            return null;

        var limits = new CgroupLimits
        {
            MemoryMax = memory is null ? null : Size("--memory", memory),
            MemoryAndSwapMax = swap is null ? null : Size("--memory-swap", swap),
            PidsMax = pids is null ? null : Count("--pids", pids),
            CpuFraction = cpu is null ? null : Fraction("--cpu", cpu),
        };
        if (path is { Length: 0 })
            throw new UsageException("--cgroup: expected a path, got an empty string");
        var options = new CgroupOptions { Parent = limits.IsEmpty ? null : path, Accounting = stats ? CgroupAccounting.All : CgroupAccounting.None };
        try
        {
            limits.Validate();
            options.Validate();
        }
        catch (CgroupLimitsException e)
        {
            throw new UsageException($"{OptionName(e.Option)}: {e.Reason.Replace("MemoryMax", "--memory", StringComparison.Ordinal)}");
        }
        return new RunCgroupRequest(limits, options, limits.IsEmpty ? path : null, stats);
    }

    /// <summary>The CLI option for a property of <see cref="CgroupLimits"/> or <see cref="CgroupOptions"/>.</summary>
    internal static string OptionName(string property) => property switch
    {
        "MemoryMax" => "--memory",
        "MemoryAndSwapMax" => "--memory-swap",
        "PidsMax" => "--pids",
        "CpuFraction" or "CpuPeriod" => "--cpu",
        "Parent" => "--cgroup",
        _ => property,
    };

    /// <summary>Bytes: digits with an optional binary suffix K, M, G or T (any case, an optional B or iB after it).</summary>
    internal static ulong Size(string option, string text)
    {
        string t = text.Trim();
        ulong unit = 1;
        string digits = t;
        string lower = t.ToLowerInvariant();
        foreach (var (suffix, value) in new (string, ulong)[] { ("k", 1UL << 10), ("m", 1UL << 20), ("g", 1UL << 30), ("t", 1UL << 40) })
        {
            foreach (var spelled in new[] { suffix, suffix + "b", suffix + "ib" })
            {
                if (lower.EndsWith(spelled, StringComparison.Ordinal) && lower.Length > spelled.Length)
                {
                    unit = value;
                    digits = t[..^spelled.Length];
                    break;
                }
            }
            if (unit != 1)
                break;
        }
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit) || !ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n))
            throw new UsageException($"{option} '{text}': expected a size such as 512M, 2G or 1048576 (bytes)");
        if (n > ulong.MaxValue / unit)
            throw new UsageException($"{option} '{text}': too large");
        return n * unit;
    }

    private static long Count(string option, string text) =>
        long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0
            ? n
            : throw new UsageException($"{option} '{text}': expected a positive whole number");

    private static double Fraction(string option, string text) =>
        double.TryParse(text.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v)
            ? v
            : throw new UsageException($"{option} '{text}': expected a positive number of CPUs, such as 0.5 or 2");
}

/// <summary>What the cgroup options ask for.</summary>
/// <param name="Limits">The limits (empty: none).</param>
/// <param name="Options">Where to make a new group, and what to count.</param>
/// <param name="ExistingGroup">Without limits: the existing group to start the program in, or null.</param>
/// <param name="Stats"><c>--stats</c>.</param>
internal sealed record RunCgroupRequest(CgroupLimits Limits, CgroupOptions Options, string? ExistingGroup, bool Stats)
{
    /// <summary>Makes the new group, or opens the existing one.</summary>
    public ControlGroup Acquire() => ExistingGroup is { } path ? ControlGroup.Open(path) : ControlGroup.Create(Limits, Options);
}
