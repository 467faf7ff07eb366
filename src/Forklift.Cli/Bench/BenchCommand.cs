using System.CommandLine;
using Forklift.Benchmarks;

namespace Forklift.Cli.Bench;

/// <summary>
/// <c>forklift bench spawn</c>: spawn + wait of a program with Forklift, <c>Process.Start</c>, libc
/// <c>posix_spawn</c> and vfork, all called from this process and interleaved in rounds; prints medians and ratios
/// (round trips against posix_spawn, start calls against the raw clone3 and vfork paths), allocations per spawn, two-thread
/// throughput against C, and one more spawn with many live children; <c>--json</c> prints one object instead.
/// The measurement is <see cref="SpawnBenchmark"/>, the same code as <c>bench/Forklift.Bench spawn</c>. Exit 0,
/// 2 for unusable arguments, 1 when a contender failed (its program did not exit 0, the C peers are missing).
/// </summary>
internal static class BenchCommand
{
    /// <summary>The <c>bench</c> command and its <c>spawn</c> subcommand.</summary>
    public static Command Create(CliEnvironment env)
    {
        var defaults = new SpawnBenchmarkOptions();
        var program = new Option<string>("--program") { Description = $"The program to start, without arguments; it must exit 0 (default {defaults.Program})." };
        var rounds = new Option<int?>("--rounds") { Description = $"Interleaved rounds, each starting every contender once (default {defaults.Rounds})." };
        var warmup = new Option<int?>("--warmup") { Description = $"Spawns per contender before measuring (default {defaults.Warmup})." };
        var allocations = new Option<int?>("--alloc-spawns") { Description = $"Spawns per contender for the allocation figures (default {defaults.AllocationSpawns})." };
        var seconds = new Option<double?>("--seconds") { Description = $"Duration of each two-thread throughput run, in seconds (default {defaults.ThreadDuration.TotalSeconds})." };
        var children = new Option<int?>("--children") { Description = $"Live children while one more is started and waited for; 0 skips that part (default {defaults.LiveChildren})." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (forklift_rt_us, process_start_rt_us, posix_spawn_rt_us, forklift_call_us, raw_call_us, forklift_alloc_bytes_per_spawn, ...)." };
        var spawn = new Command("spawn", "Spawn + wait of a program: Forklift, Process.Start, posix_spawn and vfork side by side, medians and ratios.")
        {
            program,
            rounds,
            warmup,
            allocations,
            seconds,
            children,
            json,
        };
        spawn.SetAction(parse =>
        {
            var options = new SpawnBenchmarkOptions
            {
                Program = parse.GetValue(program) ?? defaults.Program,
                Rounds = AtLeast("--rounds", parse.GetValue(rounds) ?? defaults.Rounds, 1),
                Warmup = AtLeast("--warmup", parse.GetValue(warmup) ?? defaults.Warmup, 0),
                AllocationSpawns = AtLeast("--alloc-spawns", parse.GetValue(allocations) ?? defaults.AllocationSpawns, 1),
                ThreadDuration = Seconds(parse.GetValue(seconds) ?? defaults.ThreadDuration.TotalSeconds),
                LiveChildren = AtLeast("--children", parse.GetValue(children) ?? defaults.LiveChildren, 0),
            };
            return Run(options, parse.GetValue(json), env);
        });
        return new Command("bench", "Benchmarks run side by side in this process, with ratios.") { spawn };
    }

    /// <summary>Runs the spawn benchmark and prints it.</summary>
    internal static int Run(SpawnBenchmarkOptions options, bool json, CliEnvironment env)
    {
        SpawnBenchmarkResult result;
        try
        {
            result = SpawnBenchmark.Run(options);
        }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or ForkliftException
                                      or System.ComponentModel.Win32Exception)
        {
            env.Error.WriteLine($"forklift: bench spawn: {e.Message}");
            return Program.FailureExit;
        }
        if (json)
            env.Output.WriteLine(result.ToJson());
        else
            result.WriteText(env.Output);
        return 0;
    }

    private static int AtLeast(string option, int value, int minimum) =>
        value >= minimum ? value : throw new UsageException($"{option} must be at least {minimum}, not {value}");

    private static TimeSpan Seconds(double value) =>
        value > 0 && value <= 3600 ? TimeSpan.FromSeconds(value) : throw new UsageException($"--seconds must be more than 0 and at most 3600, not {value}");
}
