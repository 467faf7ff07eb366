using System.Text.Json;

namespace Forklift.Tests.Cli;

public class SimulateSpecs
{
    private static (int Code, string Out, string Err) Simulate(string scenario, params string[] extra)
    {
        string file = Path.Combine(Path.GetTempPath(), $"forklift-sim-{Guid.NewGuid():N}.scn");
        File.WriteAllText(file, scenario);
        try
        {
            var output = new StringWriter();
            var error = new StringWriter();
            int code = Forklift.Cli.Program.Run(["simulate", file, .. extra], output, error);
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    private const string Orphan = """
        init: fork -> a expect 2
        a: fork -> b expect 3
        a: exit 0
        check b ppid = 1
        init: wait4 -1 0 expect 2
        tree
        """;

    [Fact]
    public void Simulate_prints_the_trace_and_the_tree_and_exits_0_when_every_check_holds()
    {
        var (code, output, _) = Simulate(Orphan);
        Assert.Equal(0, code);
        Assert.Contains("fork() = 2", output, StringComparison.Ordinal);
        Assert.Contains("ok   b ppid = 1", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Simulate_exits_1_when_a_check_fails()
    {
        var (code, output, _) = Simulate(Orphan.Replace("check b ppid = 1", "check b ppid = 2", StringComparison.Ordinal));
        Assert.Equal(1, code);
        Assert.Contains("b ppid", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Simulate_prints_json_that_parses()
    {
        var (code, output, _) = Simulate(Orphan, "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
    }

    [Fact]
    public void Simulate_draws_the_tree_as_an_svg_picture()
    {
        string svg = Path.Combine(Path.GetTempPath(), $"forklift-sim-{Guid.NewGuid():N}.svg");
        try
        {
            var (code, _, _) = Simulate(Orphan, "--svg", svg);
            Assert.Equal(0, code);
            var doc = System.Xml.Linq.XDocument.Load(svg);
            Assert.Equal("svg", doc.Root!.Name.LocalName);
            string text = File.ReadAllText(svg);
            Assert.Contains("pid [3]", text, StringComparison.Ordinal); // b, reparented to init, is drawn
        }
        finally
        {
            File.Delete(svg);
        }
    }

    [Fact]
    public void Simulate_exits_2_for_a_missing_file_or_a_scenario_it_cannot_parse()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(2, Forklift.Cli.Program.Run(["simulate", "/no/such/scenario.scn"], output, error));
        Assert.Contains("cannot read", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, Simulate("init: frobnicate 1 2 3").Code);
    }
}
