using Forklift.Simulation.Scenarios;

namespace Forklift.Simulation.Tests;

// The example scenarios under Scenarios/ (the files a `forklift simulate FILE` will read).
public class ScenarioFileSpecs
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Scenarios"), "*.scn").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void The_example_scenario_passes(string file)
    {
        var r = ScenarioRunner.Run(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Scenarios", file)));
        Assert.True(r.Passed, r.ToText());
        Assert.Equal(0, r.ExitCode);
        Assert.True(r.ChecksPassed >= 5, r.ToText());
    }
}
