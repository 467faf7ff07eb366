namespace Forklift.Simulation.Tests.Differential;

/// <summary>
/// A fact that runs scenarios on the real kernel: each scenario gets a fresh pid and mount namespace, which needs
/// root (CAP_SYS_ADMIN). Skipped with the reason otherwise.
/// </summary>
public sealed class LinuxRootFactAttribute : FactAttribute
{
    public LinuxRootFactAttribute() => Skip = LinuxRoot.SkipReason;
}

/// <summary>The same for theories.</summary>
public sealed class LinuxRootTheoryAttribute : TheoryAttribute
{
    public LinuxRootTheoryAttribute() => Skip = LinuxRoot.SkipReason;
}

internal static class LinuxRoot
{
    public static string? SkipReason
    {
        get
        {
            if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
            {
                return "needs Linux on x86-64 (the agent is x86-64 code)";
            }
            return Environment.IsPrivilegedProcess ? null : "needs root: every scenario runs in a new pid and mount namespace";
        }
    }
}

/// <summary>
/// The generated differential run: opt-in with FORKLIFT_DIFFERENTIAL=1 (and root on Linux). Not in the default run
/// yet: the real-kernel harness still races with agents that die before the coordinator has identified them
/// (their /proc entry is gone), and fresh seeds still find scenarios whose outcome depends on the kernel's
/// scheduling (which of two fatal signals lands first). The hand-written scenarios run by default.
/// </summary>
public sealed class GeneratedDifferentialFactAttribute : FactAttribute
{
    public GeneratedDifferentialFactAttribute() =>
        Skip = LinuxRoot.SkipReason ?? (Environment.GetEnvironmentVariable("FORKLIFT_DIFFERENTIAL") == "1" ? null
            : "opt-in: set FORKLIFT_DIFFERENTIAL=1 (the harness still has a race with agents that exit before they are identified)");
}
