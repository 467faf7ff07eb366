using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Forklift.Simulation.Tests.Differential;

/// <summary>
/// The simulated kernel against Linux: hand-written scenarios for each rule the model claims (Scenarios/Linux),
/// run on both machines in lockstep; every call result, completion, check and machine snapshot must agree, and
/// the scenario's own expectations must hold on the model.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class DifferentialSpecs(ITestOutputHelper output)
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Scenarios", "Linux"), "*.scn").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }
        return data;
    }

    [LinuxRootTheory]
    [MemberData(nameof(Files))]
    public void The_model_and_Linux_agree_on(string file)
    {
        var sw = Stopwatch.StartNew();
        var o = DifferentialRun.Run(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Scenarios", "Linux", file)));
        output.WriteLine($"{file}: {o.Statements} statements, {o.CallsCompared} calls, {o.ChecksCompared} checks, {o.SnapshotsCompared} snapshots compared in {sw.ElapsedMilliseconds} ms");

        Assert.True(o.Agreed, o.Report);
        Assert.Null(o.Unsupported);
        Assert.Null(o.ScenarioError);
        Assert.Empty(o.ModelFailures);
        Assert.True(o.ChecksCompared + o.CallsCompared >= 10, "the scenario compares too little");
    }

    /// <summary>Generated scenarios per run (the issue asks for at least 100).</summary>
    private const int GeneratedCount = 120;

    /// <summary>
    /// The seed, always printed: FORKLIFT_SEED when it is a number (to replay a run), else a fresh one, so every run
    /// explores scenarios no run has tried before.
    /// </summary>
    private static int Seed()
    {
        string? text = Environment.GetEnvironmentVariable("FORKLIFT_SEED");
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : Random.Shared.Next();
    }

    /// <summary>How often a scenario that disagrees is run again on Linux before it counts as a disagreement.</summary>
    private const int Reruns = 3;

    /// <summary>
    /// At least 100 generated scenarios (<see cref="GeneratedCount"/>) on the model and on Linux; the seed is printed.
    /// The model is deterministic, Linux is not: where two CPUs race (which of two dying processes exits first), Linux
    /// has more than one right answer and the model gives one of them. The generator leaves out the races it knows;
    /// a scenario that still disagrees is run again on Linux up to <see cref="Reruns"/> times, and fails only if Linux
    /// never gives the model's answer. One that agrees on a rerun is printed as a race (with its scenario, for the
    /// generator's list) and does not fail: the model's answer is one Linux gives.
    /// </summary>
    [GeneratedDifferentialFact]
    public void The_model_and_Linux_agree_on_generated_scenarios()
    {
        int seed = Seed();
        var gen = new ScenarioGenerator(seed);
        var sw = Stopwatch.StartNew();
        int statements = 0, calls = 0, checks = 0, snapshots = 0, stopped = 0, races = 0;
        var failures = new StringBuilder();
        int disagreements = 0;
        string? log = Environment.GetEnvironmentVariable("FORKLIFT_DIFF_LOG") is { Length: > 0 } l ? l : null;
        // FORKLIFT_SCENARIO=N runs only scenario N of the seed, with its text and its whole report.
        int only = int.TryParse(Environment.GetEnvironmentVariable("FORKLIFT_SCENARIO"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : -1;
        for (int i = only < 0 ? 0 : only; i < (only < 0 ? GeneratedCount : only + 1); i++)
        {
            string text = gen.Generate(i);
            if (only >= 0)
            {
                output.WriteLine(text);
            }
            var o = DifferentialRun.Run(text);
            statements += o.Statements;
            calls += o.CallsCompared;
            checks += o.ChecksCompared;
            snapshots += o.SnapshotsCompared;
            if (o.Unsupported is not null)
            {
                stopped++;
            }
            if (Clean(o))
            {
                continue;
            }
            string first = o.Report.Split('\n').Skip(1).FirstOrDefault() ?? "";
            int agreedOn = o.ScenarioError is null && o.Unsupported is null && o.ModelFailures.Count == 0
                ? Enumerable.Range(1, Reruns).FirstOrDefault(_ => Clean(DifferentialRun.Run(text)))
                : 0;
            if (agreedOn > 0)
            {
                races++;
                output.WriteLine($"scenario {i}: a race on Linux (it agreed on rerun {agreedOn}): {first}");
                if (log is not null)
                {
                    File.AppendAllText(log, $"=== seed {seed}, scenario {i}: a race (agreed on rerun {agreedOn}) ===\n{o.Report}\n");
                }
                continue;
            }
            disagreements++;
            output.WriteLine($"scenario {i}: {first}");
            if (log is not null)
            {
                File.AppendAllText(log, $"=== seed {seed}, scenario {i} ===\n{o.Report}\n");
            }
            if (disagreements <= 3 || only >= 0)
            {
                failures.AppendLine(CultureInfo.InvariantCulture, $"=== seed {seed}, scenario {i} (disagreed {1 + Reruns} times out of {1 + Reruns}) ===").AppendLine(o.Report);
            }
        }
        int count = only < 0 ? GeneratedCount : 1;
        string summary = $"seed {seed} (FORKLIFT_SEED={seed} replays): {count} scenarios, {statements} statements, {calls} calls, {checks} checks, "
            + $"{snapshots} snapshots compared in {sw.ElapsedMilliseconds} ms; {gen.Dropped} racy statement(s) left out by the generator, "
            + $"{races} race(s) found on Linux, {disagreements} disagreement(s)";
        output.WriteLine(summary);
        // The test runner shows a passing test's output only when asked; CI (.ci/run) names a file to print it from.
        if (Environment.GetEnvironmentVariable("FORKLIFT_DIFF_SUMMARY") is { Length: > 0 } summaryFile)
        {
            File.AppendAllText(summaryFile, "generated differential run: " + summary + "\n");
        }
        Assert.True(disagreements == 0, $"seed {seed}: {disagreements} of {count} scenarios disagree (FORKLIFT_SEED={seed} replays)\n{failures}");
        Assert.Equal(0, stopped);
        Assert.True(only >= 0 || calls > 1000, $"only {calls} calls compared");
    }

    private static bool Clean(DifferentialOutcome o) =>
        o.Agreed && o.Unsupported is null && o.ScenarioError is null && o.ModelFailures.Count == 0;

    // The comparison can fail: a known difference (ModelLimits.ProcfsNamespace) is reported with the call, both
    // answers, both traces and the scenario to replay.
    [LinuxRootFact]
    public void A_disagreement_is_reported_with_both_traces_and_the_scenario()
    {
        const string Text = """
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> a
            a: fork -> b
            # b is pid 2 in a's namespace and 3 in init's, where the scenario's /proc was mounted.
            b: open /proc/3/ns/pid
            b: getpid
            """;
        var o = DifferentialRun.Run(Text);
        output.WriteLine(o.Report);
        Assert.False(o.Agreed);
        Assert.Contains("line 4: b: open: the model says = -1 ENOENT, Linux says = 3", o.Report, StringComparison.Ordinal);
        Assert.Contains("   4!!b: open /proc/3/ns/pid", o.Report, StringComparison.Ordinal);
        Assert.Contains("a: fork -> b", o.Report, StringComparison.Ordinal);
        Assert.Equal(3, o.Statements);
        Assert.DoesNotContain("b: getpid", o.Report.Split("scenario (replay")[0], StringComparison.Ordinal);
    }

    // A check the model gets wrong is a disagreement too (here the scenario's value is wrong on both machines, so
    // they agree; a value right on one machine only is what the generated scenarios would catch).
    [LinuxRootFact]
    public void Checks_are_evaluated_on_both_machines()
    {
        var o = DifferentialRun.Run("""
            init: fork -> a
            check a ppid = 1
            check a state = zombie
            a: exit 2
            check a state = zombie
            """);
        Assert.True(o.Agreed, o.Report);
        Assert.Equal(3, o.ChecksCompared);
        Assert.Single(o.ModelFailures);
        Assert.Contains("line 3: a state = zombie", o.ModelFailures[0], StringComparison.Ordinal);
    }
}
