using Forklift.Abi;
using Forklift.Processes;
using Forklift.Spawning;

namespace Forklift.Simulation.Launching;

/// <summary>
/// A child started by a <see cref="SimulatedProcessLauncher"/>: the same contract as <see cref="ChildProcess"/>,
/// in virtual time. The host holds a simulated pidfd for it: signals go through <c>pidfd_send_signal</c>, so a
/// signal to a reaped child fails (false) and never reaches a task that got its pid number since. The host reaps
/// it as soon as the driver sees its SIGCHLD, whether or not anybody waits.
/// </summary>
public sealed class SimulatedChildProcess : ChildProcessBase
{
    private readonly SimulatedProcessLauncher _launcher;
    private readonly TaskCompletionSource<ExitStatus> _exit = new();
    private readonly int _pidfd;
    private List<TaskCompletionSource<ExitStatus>>? _waiters;
    private bool _disposed;

    internal SimulatedChildProcess(SimulatedProcessLauncher launcher, Command command, SimulatedStage.Result started,
        SimulatedPipeStream? stdin, SimulatedPipeStream? stdout, SimulatedPipeStream? stderr)
        : base(command, SimKernel.PidIn(started.Child, launcher.Host), stdin, stdout, stderr)
    {
        _launcher = launcher;
        Task = started.Child;
        _pidfd = started.Pidfd;
        SpawnPath = started.Path;
        StartTime = TimeSpan.FromMilliseconds(launcher.Kernel.Now);
    }

    /// <summary>The simulated task (for inspection: its state, namespaces, fds...).</summary>
    public SimTask Task { get; }

    /// <summary>How the child was created: clone3 or clone (and why), always the fast path.</summary>
    public SpawnPath SpawnPath { get; }

    /// <summary>The virtual time the child was started at.</summary>
    public TimeSpan StartTime { get; }

    /// <inheritdoc/>
    protected override Task<ExitStatus> Exit => _exit.Task;

    /// <summary>Stop timeouts run in virtual time.</summary>
    protected override TimeProvider Clock => _launcher.TimeProvider;

    /// <summary>Called by the driver (outside any kernel call) once the host has reaped the child.</summary>
    internal void Exited(ExitStatus status)
    {
        _exit.TrySetResult(status);
        if (_waiters is { } waiters)
        {
            _waiters = null;
            foreach (var w in waiters)
            {
                w.TrySetResult(status);
            }
        }
    }

    // A task of its own for each wait. The runtime runs only the first await continuation of a task inline and
    // sends the others to the thread pool (Task.RunContinuations); a continuation there would escape the
    // driver, which would then let virtual time run on without it. One task per waiter keeps every
    // continuation on the driver's thread.
    /// <inheritdoc/>
    protected override Task<ExitStatus> ExitForWaiter()
    {
        using (_launcher.Enter())
        {
            if (_exit.Task.IsCompleted)
            {
                return _exit.Task;
            }
            var waiter = new TaskCompletionSource<ExitStatus>();
            (_waiters ??= []).Add(waiter);
            return waiter.Task;
        }
    }

    /// <inheritdoc/>
    public override Task<ExitStatus> WaitForExitAsync(CancellationToken forcefulCancellation = default, CancellationToken gracefulCancellation = default) =>
        _launcher.Drive(base.WaitForExitAsync(forcefulCancellation, gracefulCancellation));

    /// <inheritdoc/>
    public override Task<ExitStatus> StopAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        _launcher.Drive(base.StopAsync(timeout, cancellationToken));

    /// <inheritdoc/>
    protected override bool SignalCore(int signal)
    {
        using (_launcher.Enter())
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_exit.Task.IsCompleted)
            {
                return false; // reaped: the pidfd would say ESRCH
            }
            var r = _launcher.Kernel.PidfdSendSignal(_launcher.Host, _pidfd, signal);
            return SignalOutcome(signal, r.Errno); // pidfd_send_signal never blocks: no errno is success
        }
    }

    /// <summary>
    /// Closes the host's pipe ends and the pidfd. A still-running child is killed (SIGKILL) or left running, as
    /// <see cref="Command.DisposeBehavior"/> says; either way the host reaps it when it exits.
    /// </summary>
    public override void Dispose()
    {
        using (_launcher.Enter())
        {
            if (_disposed)
            {
                return;
            }
            if (Command.DisposeBehavior == ChildDisposal.Kill && !_exit.Task.IsCompleted)
            {
                Kill();
            }
            _disposed = true;
            DisposeStreams();
            _launcher.Kernel.Close(_launcher.Host, _pidfd);
        }
    }

    /// <summary>As <see cref="Dispose"/>, and with <see cref="ChildDisposal.Kill"/> also waits until the child is reaped.</summary>
    public override ValueTask DisposeAsync()
    {
        bool kill = Command.DisposeBehavior == ChildDisposal.Kill;
        Dispose();
        return kill && !_exit.Task.IsCompleted ? new ValueTask(_launcher.Drive(ExitForWaiter())) : ValueTask.CompletedTask;
    }
}
