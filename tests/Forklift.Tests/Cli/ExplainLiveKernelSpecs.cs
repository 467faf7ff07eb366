using Xunit;
using static Forklift.Tests.Cli.CliKit;

namespace Forklift.Tests.Cli;

/// <summary>A fact that makes real clone calls through the probe: Linux and root only.</summary>
public sealed class LiveKernelFactAttribute : FactAttribute
{
    public LiveKernelFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
            Skip = "--verify needs Linux.";
        else if (!Environment.IsPrivilegedProcess)
            Skip = "--verify needs root: the probe switches uids, creates namespaces and chroots.";
    }
}

/// <summary><c>explain --verify</c> against the live kernel, through the probe, with the live caller.</summary>
public sealed class ExplainLiveKernelSpecs
{
    [LiveKernelFact]
    public void Explain_verify_agrees_with_the_live_kernel_on_SIGHAND_without_VM()
    {
        var outcome = RunLive("explain", "--json", "--verify", "--flags", "SIGHAND");

        Assert.Equal(0, outcome.Exit);
        var json = outcome.Json();
        Assert.Equal("EINVAL", json.GetProperty("kernel").GetString());
        Assert.True(json.GetProperty("agree").GetBoolean());
        Assert.Equal("", outcome.Err);
    }

    [LiveKernelFact]
    public void Explain_verify_agrees_with_the_live_kernel_on_a_vfork_style_clone3()
    {
        var outcome = RunLive("explain", "--verify", "--flags", "VM|VFORK|PIDFD", "--exit-signal", "CHLD");

        Assert.Equal(0, outcome.Exit);
        Assert.Contains("verdict: allowed", outcome.Out);
        Assert.Contains("kernel:  ok, as the model says", outcome.Out);
    }

    [LiveKernelFact]
    public void Explain_verify_makes_an_unprivileged_caller_real()
    {
        var json = RunLive("explain", "--json", "--verify", "--uid", "1000", "--flags", "NEWNET").Json();

        Assert.Equal("EPERM", json.GetProperty("errno").GetString());
        Assert.Equal("EPERM", json.GetProperty("kernel").GetString());
        Assert.Equal("uid 1000", json.GetProperty("verified_caller").GetString());
    }
}
