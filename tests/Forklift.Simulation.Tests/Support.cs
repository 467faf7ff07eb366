using Forklift.Simulation.Scenarios;

namespace Forklift.Simulation.Tests;

internal static class Scn
{
    /// <summary>Runs a scenario and fails the test with the full report unless every check held.</summary>
    public static ScenarioResult Pass(string text)
    {
        var r = ScenarioRunner.Run(text);
        Assert.True(r.Passed, r.ToText());
        Assert.True(r.ChecksPassed > 0, "the scenario checks nothing:\n" + r.ToText());
        return r;
    }
}
