using System.Diagnostics;
using Forklift.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Forklift.Tests.Cli;

/// <summary>
/// <c>explain</c> is meant to be called in a loop: measures 200 in-process calls (after one warm-up) and
/// reports the cost per call. The bound is loose on purpose; the number printed is the point.
/// </summary>
public sealed class ExplainTimingSpecs(ITestOutputHelper log)
{
    private const int Calls = 200;

    [Fact]
    public void Explain_costs_little_per_call_in_process_with_the_live_context()
    {
        string[] args = ["explain", "--json", "--flags", "VM|VFORK|PIDFD", "--exit-signal", "CHLD"];
        double perCall = Measure(() => Program.Run(args, TextWriter.Null, TextWriter.Null));

        log.WriteLine($"explain in-process, live context: {perCall:F3} ms per call over {Calls} calls");
        Assert.True(perCall < 50, $"{perCall:F3} ms per call");
    }

    [Fact]
    public void Explain_costs_little_per_call_in_process_with_a_pinned_context()
    {
        var env = CliEnvironment.ForWriters(TextWriter.Null, TextWriter.Null) with { LiveContext = () => CliKit.PinnedRoot };
        string[] args = ["explain", "--flags", "VM|VFORK|PIDFD", "--exit-signal", "CHLD"];
        double perCall = Measure(() => Program.Run(args, env));

        log.WriteLine($"explain in-process, pinned context, text output: {perCall:F3} ms per call over {Calls} calls");
        Assert.True(perCall < 20, $"{perCall:F3} ms per call");
    }

    private static double Measure(Func<int> call)
    {
        Assert.Equal(0, call()); // warm-up: JIT and first reads
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < Calls; i++)
        {
            call();
        }
        return watch.Elapsed.TotalMilliseconds / Calls;
    }
}
