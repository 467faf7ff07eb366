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
/// The generated differential run: in the default run (root on Linux), with a fresh seed each time. FORKLIFT_DIFFERENTIAL=0
/// leaves it out (a quicker local run); the hand-written scenarios always run.
/// </summary>
public sealed class GeneratedDifferentialFactAttribute : FactAttribute
{
    public GeneratedDifferentialFactAttribute() =>
        Skip = LinuxRoot.SkipReason ?? (Environment.GetEnvironmentVariable("FORKLIFT_DIFFERENTIAL") == "0"
            ? "left out by FORKLIFT_DIFFERENTIAL=0" : null);
}
