using System.Text.Json;
using Forklift.Tests.CliRun;
using Forklift.Tests.Interop;
using Forklift.Tests.Spawning;

namespace Forklift.Tests.Cli;

/// <summary><c>forklift bench spawn</c>, in-process and kept short: what it prints, its JSON, its refusals.</summary>
[Collection(HostResourceCollection.Name)]
public sealed class BenchSpecs
{
    private static readonly string[] Short = ["--rounds", "20", "--warmup", "3", "--alloc-spawns", "20", "--seconds", "0.2"];

    // The guard compares fds before and after; the first Process.Start of the test host makes the runtime's own
    // SIGCHLD pipe, which stays open for good: make it before the guard looks.
    private static readonly Lazy<bool> s_processStarted = new(() =>
    {
        using var p = System.Diagnostics.Process.Start("/bin/true");
        p.WaitForExit();
        return true;
    });

    private static SpawnGuard Guard()
    {
        _ = s_processStarted.Value;
        return SpawnGuard.Start();
    }

    [Fact(Timeout = 120_000)]
    public async Task I_get_every_median_the_issue_names_as_one_JSON_object()
    {
        await using var guard = Guard();

        var outcome = await RunKit.InProcess(["bench", "spawn", .. Short, "--children", "5", "--json"]);

        outcome.Exits(0);
        using var json = JsonDocument.Parse(outcome.Out);
        var root = json.RootElement;
        foreach (var name in new[] { "forklift_rt_us", "process_start_rt_us", "posix_spawn_rt_us", "forklift_call_us", "raw_call_us", "vfork_call_us", "stage_call_us", "forklift_managed_us", "forklift_alloc_bytes_per_spawn", "forklift_rt_us_live_children" })
            Assert.True(root.GetProperty(name).GetDouble() > 0, $"{name} in {outcome.Out}");
        Assert.Equal("/bin/true", root.GetProperty("program").GetString());
        Assert.Equal(20, root.GetProperty("rounds").GetInt32());
        // A start call includes the stage's clone, which includes the raw path's work.
        Assert.True(root.GetProperty("forklift_call_us").GetDouble() >= root.GetProperty("stage_call_us").GetDouble());
    }

    [Fact(Timeout = 120_000)]
    public async Task I_get_medians_and_ratios_as_text()
    {
        await using var guard = Guard();

        var outcome = await RunKit.InProcess(["bench", "spawn", .. Short, "--children", "0"]);

        outcome.Exits(0);
        Assert.Contains("spawn + wait of /bin/true, 20 interleaved rounds, medians", outcome.Out);
        Assert.Matches(@"forklift +\d+\.\d µs +\d+\.\d\dx posix_spawn", outcome.Out);
        Assert.Matches(@"forklift Start +\d+\.\d µs +\d+\.\d\dx raw clone3\+exec, +\d+\.\d\dx raw vfork\+exec", outcome.Out);
        Assert.Contains("allocated per spawn: forklift", outcome.Out);
        Assert.DoesNotContain("live children", outcome.Out); // --children 0 skips that part
    }

    [Theory(Timeout = 30_000)]
    [InlineData("--rounds", "0", "--rounds must be at least 1, not 0")]
    [InlineData("--seconds", "-1", "--seconds must be more than 0")]
    [InlineData("--children", "-2", "--children must be at least 0, not -2")]
    public async Task I_am_told_which_number_is_unusable(string option, string value, string message)
    {
        var outcome = await RunKit.InProcess("bench", "spawn", option, value);

        Assert.Equal(2, outcome.Exit);
        Assert.StartsWith("forklift: " + message, outcome.Err);
        Assert.Empty(outcome.Out);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_program_that_does_not_exit_0_fails_the_benchmark_with_exit_1()
    {
        await using var guard = Guard();

        var outcome = await RunKit.InProcess("bench", "spawn", "--program", "/bin/false", "--rounds", "2", "--warmup", "0");

        Assert.Equal(1, outcome.Exit);
        Assert.Matches(@"^forklift: bench spawn: /bin/false did not exit with 0 when started by \S+", outcome.Err);
    }
}
