using System.Diagnostics;
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
}
