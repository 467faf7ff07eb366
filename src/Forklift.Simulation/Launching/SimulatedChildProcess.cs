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
public sealed class SimulatedChildProcess : IChildProcess
{
    private const int SIGKILL = 9;

    private readonly SimulatedProcessLauncher _launcher;
    private readonly TaskCompletionSource<ExitStatus> _exit = new();
    private readonly SimulatedPipeStream? _stdin;
    private readonly SimulatedPipeStream? _stdout;
    private readonly SimulatedPipeStream? _stderr;
    private readonly int _pidfd;
    private List<TaskCompletionSource<ExitStatus>>? _waiters;
    private bool _disposed;

    internal SimulatedChildProcess(SimulatedProcessLauncher launcher, Command command, SimulatedStage.Result started,
        SimulatedPipeStream? stdin, SimulatedPipeStream? stdout, SimulatedPipeStream? stderr)
    {
        _launcher = launcher;
        Command = command;
        Task = started.Child;
        Pid = SimKernel.PidIn(started.Child, launcher.Host);
        _pidfd = started.Pidfd;
        SpawnPath = started.Path;
        StartTime = TimeSpan.FromMilliseconds(launcher.Kernel.Now);
        _stdin = stdin;
        _stdout = stdout;
        _stderr = stderr;
    }

    /// <inheritdoc/>
    public int Pid { get; }

    /// <summary>The simulated task (for inspection: its state, namespaces, fds...).</summary>
    public SimTask Task { get; }

    /// <inheritdoc/>
    public Command Command { get; }

    /// <summary>How the child was created: clone3 or clone (and why), always the fast path.</summary>
    public SpawnPath SpawnPath { get; }

    /// <summary>The virtual time the child was started at.</summary>
    public TimeSpan StartTime { get; }

    /// <inheritdoc/>
    public Stream StandardInput => _stdin ?? throw NotPiped("StandardInput", Command.StandardInput);

    /// <inheritdoc/>
    public Stream StandardOutput => _stdout ?? throw NotPiped("StandardOutput", Command.StandardOutput);

    /// <inheritdoc/>
    public Stream StandardError => _stderr ?? throw NotPiped("StandardError", Command.StandardError);

    /// <inheritdoc/>
    public bool HasExited => _exit.Task.IsCompleted;

    /// <summary>The exit status once the child has been reaped; null before.</summary>
    public ExitStatus? ExitStatus => _exit.Task.IsCompletedSuccessfully ? _exit.Task.Result : null;

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
    private Task<ExitStatus> ExitTask()
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
    public Task<ExitStatus> WaitForExitAsync(CancellationToken forcefulCancellation = default, CancellationToken gracefulCancellation = default) =>
        _launcher.Drive(WaitCore(forcefulCancellation, gracefulCancellation));

    // As ChildProcess.WaitForExitAsync: the first cancellation wins; either way the task ends once the child is gone.
    private async Task<ExitStatus> WaitCore(CancellationToken forcefulCancellation, CancellationToken gracefulCancellation)
    {
        var exit = ExitTask();
        if (exit.IsCompleted || (!forcefulCancellation.CanBeCanceled && !gracefulCancellation.CanBeCanceled))
        {
            return await exit.ConfigureAwait(false);
        }
        int cancelledBy = 0; // 1: forceful, 2: graceful
        using (forcefulCancellation.UnsafeRegister(_ =>
               {
                   if (Interlocked.CompareExchange(ref cancelledBy, 1, 0) == 0)
                   {
                       Kill();
                   }
               }, null))
        using (gracefulCancellation.UnsafeRegister(_ =>
               {
                   if (Interlocked.CompareExchange(ref cancelledBy, 2, 0) == 0)
                   {
                       _ = StopAsync();
                   }
               }, null))
        {
            await exit.ConfigureAwait(false);
        }
        return Volatile.Read(ref cancelledBy) switch
        {
            1 => throw new OperationCanceledException($"Process {Pid} was killed because the wait was cancelled.", forcefulCancellation),
            2 => throw new OperationCanceledException($"Process {Pid} was stopped because the wait was cancelled.", gracefulCancellation),
            _ => await exit.ConfigureAwait(false),
        };
    }

    /// <inheritdoc/>
    public bool Signal(int signal)
    {
        if (signal != 0 && !Signals.IsValid(signal))
        {
            throw new ArgumentOutOfRangeException(nameof(signal), signal, $"Unknown signal {signal} (valid: 0..{Signals.Max}).");
        }
        return SignalCore(signal);
    }

    /// <inheritdoc/>
    public bool Kill() => SignalCore(SIGKILL);

    /// <inheritdoc/>
    public Task<ExitStatus> StopAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        _launcher.Drive(StopCore(timeout, cancellationToken));

    // As ChildProcess.StopAsync, with the bound in virtual time.
    private async Task<ExitStatus> StopCore(TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var exit = ExitTask();
        if (exit.IsCompleted)
        {
            return await exit.ConfigureAwait(false);
        }
        TimeSpan bound = timeout ?? Command.StopTimeout;
        if (SignalCore(Command.StopSignal) && bound != TimeSpan.Zero)
        {
            try
            {
                await exit.WaitAsync(bound, _launcher.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
            }
        }
        if (!exit.IsCompleted)
        {
            Kill();
        }
        return await exit.ConfigureAwait(false);
    }

    private bool SignalCore(int signal)
    {
        using (_launcher.Enter())
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_exit.Task.IsCompleted)
            {
                return false; // reaped: the pidfd would say ESRCH
            }
            var r = _launcher.Kernel.PidfdSendSignal(_launcher.Host, _pidfd, signal);
            if (r.Ok)
            {
                return true;
            }
            if (r.Errno == Errno.ESRCH)
            {
                return false;
            }
            throw new ForkliftException($"pidfd_send_signal({Signals.Name(signal)}) to process {Pid} failed: {ErrnoInfo.Name(r.Errno)} ({ErrnoInfo.Message(r.Errno)}).");
        }
    }

    /// <summary>
    /// Closes the host's pipe ends and the pidfd. A still-running child is killed (SIGKILL) or left running, as
    /// <see cref="Command.DisposeBehavior"/> says; either way the host reaps it when it exits.
    /// </summary>
    public void Dispose()
    {
        using (_launcher.Enter())
        {
            if (_disposed)
            {
                return;
            }
            if (Command.DisposeBehavior == ChildDisposal.Kill && !_exit.Task.IsCompleted)
            {
                SignalCore(SIGKILL);
            }
            _disposed = true;
            _stdin?.Dispose();
            _stdout?.Dispose();
            _stderr?.Dispose();
            _launcher.Kernel.Close(_launcher.Host, _pidfd);
        }
    }

    /// <summary>As <see cref="Dispose"/>, and with <see cref="ChildDisposal.Kill"/> also waits until the child is reaped.</summary>
    public ValueTask DisposeAsync()
    {
        bool kill = Command.DisposeBehavior == ChildDisposal.Kill;
        Dispose();
        return kill && !_exit.Task.IsCompleted ? new ValueTask(_launcher.Drive(ExitTask())) : ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public override string ToString() => $"pid {Pid} ({Command.Program}){(HasExited ? ", " + ExitStatus : "")}";

    private static InvalidOperationException NotPiped(string option, Stdio stdio) =>
        new($"{option} is {stdio}, not a pipe: use With{option}(Stdio.Pipe) to get a stream.");
}
