using System.Globalization;
using Forklift.Benchmarks;

namespace Forklift.Bench;

/// <summary>
/// The spawn benchmark (Forklift, Process.Start, posix_spawn, vfork side by side; see <see cref="SpawnBenchmark"/>,
/// shared with <c>forklift bench spawn</c>).
/// <c>forklift-bench spawn [--json] [--rounds N] [--seconds S] [--program PATH] [--children N]</c>
/// </summary>
public static class SpawnBench
{
    public static int Run(string[] args)
    {
        var defaults = new SpawnBenchmarkOptions();
        var options = new SpawnBenchmarkOptions
        {
            Rounds = IntArg(args, "--rounds", defaults.Rounds),
            ThreadDuration = TimeSpan.FromSeconds(IntArg(args, "--seconds", (int)defaults.ThreadDuration.TotalSeconds)),
            Program = StringArg(args, "--program", defaults.Program),
            LiveChildren = IntArg(args, "--children", defaults.LiveChildren),
        };
        var result = SpawnBenchmark.Run(options);
        if (args.Contains("--json"))
            Console.WriteLine(result.ToJson());
        else
            result.WriteText(Console.Out);
        return 0;
    }

    private static int IntArg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string StringArg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
