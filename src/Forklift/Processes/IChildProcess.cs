using Forklift.Spawning;

namespace Forklift.Processes;

/// <summary>
/// Starts processes. <see cref="ProcessLauncher"/> is the real kernel; a simulated kernel can implement the same
/// surface, so code written against it runs on either.
/// </summary>
public interface IProcessLauncher
{
    /// <summary>
    /// Starts <paramref name="command"/>. Returns once the child has exec'd (a live handle with its pid), or throws:
    /// <see cref="CommandException"/> for a bad command (nothing created), <see cref="SpawnException"/> when a
    /// step failed (the child, if any, already reaped).
    /// </summary>
    IChildProcess Start(Command command);

    /// <summary>
    /// Starts every command of <paramref name="pipeline"/>, each one's standard output connected directly to the
    /// next one's standard input (the parent keeps neither end). If one fails to start, those already started are
    /// killed and reaped before the exception propagates.
    /// </summary>
    IReadOnlyList<IChildProcess> Start(Pipeline pipeline);
}

/// <summary>A started child: its pid, its standard streams, its exit, and signals.</summary>
public interface IChildProcess : IDisposable, IAsyncDisposable
{
    /// <summary>The pid, in the caller's pid namespace. For display only: Forklift never signals or waits by pid.</summary>
    int Pid { get; }

    /// <summary>The command it was started from.</summary>
    Command Command { get; }

    /// <summary>The write end of the child's standard input (<see cref="Stdio.Pipe"/> only; otherwise throws InvalidOperationException).</summary>
    Stream StandardInput { get; }

    /// <summary>The read end of the child's standard output (<see cref="Stdio.Pipe"/> only; otherwise throws InvalidOperationException).</summary>
    Stream StandardOutput { get; }

    /// <summary>The read end of the child's standard error (<see cref="Stdio.Pipe"/> only; otherwise throws InvalidOperationException).</summary>
    Stream StandardError { get; }

    /// <summary>True once the child has exited and been reaped.</summary>
    bool HasExited { get; }

    /// <summary>
    /// Completes with the exit status once the child has exited and been reaped. Cancelling
    /// <paramref name="forcefulCancellation"/> kills the child (SIGKILL); cancelling
    /// <paramref name="gracefulCancellation"/> sends <see cref="Command.StopSignal"/> and SIGKILL after
    /// <see cref="Command.StopTimeout"/>. Either way the task then throws an <see cref="OperationCanceledException"/>
    /// carrying that token, once the child is gone. To stop waiting without touching the child, use
    /// <c>WaitForExitAsync().WaitAsync(token)</c>.
    /// </summary>
    /// <exception cref="ExitStatusUnavailableException">The child exited but its status was collected by someone else and cannot be read back.</exception>
    Task<ExitStatus> WaitForExitAsync(CancellationToken forcefulCancellation = default, CancellationToken gracefulCancellation = default);

    /// <summary>
    /// Sends <paramref name="signal"/> (0 only checks) through the pidfd. Returns false when the child has already
    /// exited (never reaching another process that got its pid).
    /// </summary>
    bool Signal(int signal);

    /// <summary>Sends SIGKILL; false when the child has already exited.</summary>
    bool Kill();

    /// <summary>
    /// Stops the child gracefully: <see cref="Command.StopSignal"/>, then SIGKILL if it is still running after
    /// <paramref name="timeout"/> (default: <see cref="Command.StopTimeout"/>). Completes with the exit status.
    /// </summary>
    Task<ExitStatus> StopAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default);
}
