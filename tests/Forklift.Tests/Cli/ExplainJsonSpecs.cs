using System.Text.Json;
using Xunit;
using static Forklift.Tests.Cli.CliKit;

namespace Forklift.Tests.Cli;

/// <summary>The JSON that <c>explain --json</c> writes: valid, one line, and strings readable as they are.</summary>
public sealed class ExplainJsonSpecs
{
    [Theory]
    [InlineData("")]
    [InlineData("--flags SIGHAND")]
    [InlineData("--call clone --raw-flags 0x100000811")]
    [InlineData("--exit-signal RTMIN+2 --flags THREAD|SIGHAND|VM")]
    [InlineData("--flags INTO_CGROUP --cgroup-fd-kind threaded")]
    [InlineData("--call vfork")]
    public void Explain_json_is_one_valid_object_on_one_line(string options)
    {
        var outcome = Explain("--json " + options);

        Assert.Equal(0, outcome.Exit);
        Assert.Single(outcome.Out.TrimEnd('\n').Split('\n'));
        var json = outcome.Json();
        Assert.Equal(JsonValueKind.Object, json.ValueKind);
        foreach (var key in new[] { "allowed", "errno", "rule", "reason", "effects", "call", "flags", "exit_signal", "kernel_version", "caller", "notes" })
        {
            Assert.True(json.TryGetProperty(key, out _), "missing key " + key);
        }
    }

    [Fact]
    public void Explain_json_keeps_conditions_and_signal_names_readable()
    {
        var outcome = Explain("--json --flags SIGHAND --exit-signal RTMIN+2");

        Assert.Contains("\"condition\":\"CLONE_SIGHAND && !CLONE_VM\"", outcome.Out);
        Assert.Contains("\"exit_signal\":\"SIGRTMIN+2\"", outcome.Out);
    }

    [Fact]
    public void Explain_json_escapes_what_json_requires_in_a_cgroup_path()
    {
        string dir = Directory.CreateTempSubdirectory("forklift \"quoted\" \\ dir-").FullName;
        try
        {
            var outcome = Run(["explain", "--json", "--flags", "INTO_CGROUP", "--cgroup", dir]);

            Assert.Equal(0, outcome.Exit);
            var json = outcome.Json();
            Assert.Equal(dir, json.GetProperty("cgroup_target").GetString());
            Assert.Equal("EBADF", json.GetProperty("errno").GetString()); // a temporary directory is no cgroup
        }
        finally
        {
            Directory.Delete(dir);
        }
    }
}
