using Forklift.Processes;

namespace Forklift.Cli.Run;

/// <summary>
/// What <c>run</c> starts processes with. <see cref="Live"/> is the real kernel through
/// <see cref="ProcessLauncher.Default"/>; tests give a launcher over system calls that answer differently (a clone3
/// that says EPERM, for instance) while everything else stays real.
/// </summary>
/// <param name="Launcher">Returns the launcher (called once per run, after the arguments are known to be usable).</param>
internal sealed record RunServices(Func<ProcessLauncher> Launcher)
{
    /// <summary>The real kernel.</summary>
    public static RunServices Live { get; } = new(() => ProcessLauncher.Default);
}
