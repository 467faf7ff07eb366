using System.Diagnostics;
using System.Globalization;
using Forklift.Isolation;
using Forklift.Processes;
using Forklift.Spawning;

namespace Forklift.Bench;

/// <summary>
/// What placing a child into a control group costs per spawn, by the hierarchies the group has: none, the unified
/// one only (CLONE_INTO_CGROUP), and v1 ones (each a write of the child's own cgroup.procs before exec), spawned back
/// to back and after idleness; and what making and removing each group costs.
/// <c>dotnet run -c Release --project bench/Forklift.Bench -- cgroup [--rounds N] [--program PATH]</c>
/// </summary>
public static class CgroupBench
{
    private sealed record Config(string Name, CgroupLimits? Limits, CgroupOptions? Options);

    public static int Run(string[] args)
    {
        int rounds = IntArg(args, "--rounds", 300);
        string program = args.SkipWhile(a => a != "--program").Skip(1).FirstOrDefault() ?? "/bin/true";
        var layout = CgroupLayout.Current;
        Console.WriteLine($"cgroup layout:\n{layout}");
        var configs = new List<Config> { new("no cgroup", null, null) };
        if (layout.Unified is not null)
            configs.Add(new("v2 only (CLONE_INTO_CGROUP)", CgroupLimits.None, new CgroupOptions()));
        if (layout.HierarchyFor("pids") is { Version: CgroupVersion.V1 })
        {
            configs.Add(new("v2 + v1 pids (1 cgroup.procs write)", new CgroupLimits { PidsMax = 1000 }, new CgroupOptions()));
            configs.Add(new("v1 freezer + pids, no v2 (2 writes)", new CgroupLimits { PidsMax = 1000 }, new CgroupOptions { UseUnifiedHierarchy = false }));
        }
        if (layout.HierarchyFor("memory") is { Version: CgroupVersion.V1 } && layout.HierarchyFor("cpu") is { Version: CgroupVersion.V1 })
            configs.Add(new("v2 + v1 memory, pids, cpu (3 writes)", new CgroupLimits { MemoryMax = 1UL << 30, PidsMax = 1000, CpuFraction = 2 }, new CgroupOptions()));

        var groups = configs.Select(c => c.Limits is null ? null : ControlGroup.Create(c.Limits, c.Options)).ToList();
        try
        {
            var commands = groups.Select(g => new Command(program).WithCgroup(g)).ToList();
            for (int w = 0; w < 30; w++)
            {
                foreach (var c in commands)
                    c.Start().WaitForExit();
            }
            // Two regimes, because a cgroup.procs write is cheap right after another one and pays an RCU grace
            // period after an idle moment (cgroup_threadgroup_rwsem): back-to-back spawns of one configuration, and
            // spawns each after 20 ms of idleness. Blocks of each configuration alternate, so all see the same machine.
            int block = Math.Max(10, rounds / 8);
            var backToBack = configs.Select(_ => (Rt: new List<double>(), Call: new List<double>())).ToList();
            var afterIdle = configs.Select(_ => (Rt: new List<double>(), Call: new List<double>())).ToList();
            for (int pass = 0; pass * block < rounds; pass++)
            {
                for (int i = 0; i < commands.Count; i++)
                {
                    for (int k = 0; k < block; k++)
                        Measure(commands[i], backToBack[i]);
                    for (int k = 0; k < block / 2; k++)
                    {
                        Thread.Sleep(20);
                        Measure(commands[i], afterIdle[i]);
                    }
                }
            }

            Console.WriteLine($"\nspawn + wait of {program} (medians, us; p90 in brackets):");
            Console.WriteLine($"{"configuration",-40} {"back to back: round trip",26} {"start call",16} {"after 20 ms idle: start call",30}");
            double baseCall = Median(backToBack[0].Call), baseIdle = Median(afterIdle[0].Call);
            for (int i = 0; i < configs.Count; i++)
            {
                var (rt, call) = backToBack[i];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{configs[i].Name,-40} {Median(rt),16:0} [{P90(rt),6:0}] {Median(call),7:0} [{P90(call),6:0}] {Median(afterIdle[i].Call),12:0} [{P90(afterIdle[i].Call),6:0}] {Median(afterIdle[i].Call) - baseIdle,+8:+0;-0}"));
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"(last column: added to the start call after idleness, against no cgroup; back to back the no-cgroup start call is {baseCall:0} us)"));
        }
        finally
        {
            foreach (var g in groups)
                g?.Dispose();
        }

        Console.WriteLine("\nmake + remove a group (medians of 50, µs):");
        foreach (var c in configs.Where(c => c.Limits is not null))
        {
            var times = new List<double>();
            for (int i = 0; i < 50; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                ControlGroup.Create(c.Limits!, c.Options).Dispose();
                times.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{c.Name,-40} {Median(times),8:0}"));
        }
        return 0;
    }

    private static void Measure(Command command, (List<double> Rt, List<double> Call) into)
    {
        long t0 = Stopwatch.GetTimestamp();
        using var child = command.Start();
        long t1 = Stopwatch.GetTimestamp();
        child.WaitForExit();
        long t2 = Stopwatch.GetTimestamp();
        into.Call.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds);
        into.Rt.Add(Stopwatch.GetElapsedTime(t0, t2).TotalMicroseconds);
    }

    private static double Median(List<double> v) => Percentile(v, 0.5);

    private static double P90(List<double> v) => Percentile(v, 0.9);

    private static double Percentile(List<double> v, double p)
    {
        var sorted = v.Order().ToList();
        return sorted[(int)Math.Min(sorted.Count - 1, Math.Round(p * (sorted.Count - 1)))];
    }

    private static int IntArg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : fallback;
    }
}
