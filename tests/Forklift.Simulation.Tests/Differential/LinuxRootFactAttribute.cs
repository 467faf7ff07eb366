namespace Forklift.Simulation.Tests.Differential;

/// <summary>
/// A fact that runs scenarios on the real kernel: each scenario gets a fresh pid and mount namespace, which needs
/// root (CAP_SYS_ADMIN). Skipped with the reason otherwise.
/// </summary>
public sealed class LinuxRootFactAttribute : FactAttribute
{
    public LinuxRootFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.Equals(System.Runtime.InteropServices.Architecture.X64))
        {
            Skip = "needs Linux on x86-64 (the agent is x86-64 code)";
        }
        else if (!Environment.IsPrivilegedProcess)
        {
            Skip = "needs root: every scenario runs in a new pid and mount namespace";
        }
    }
}
