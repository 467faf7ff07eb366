using Forklift.Abi;
using Forklift.Interop;
using Forklift.Spawning;

namespace Forklift.Processes;

/// <summary>
/// A child started on the real kernel: its pid and pidfd, its standard streams, its exit task. The exit is
/// observed by the launcher's reactor, which reaps the child as soon as it exits, whether or not anybody waits,
/// and even after this handle is disposed. Signals go through the pidfd only.
/// </summary>
public sealed class ChildProcess : IChildProcess
{
    private const int SIGKILL = 9;

    private readonly ISystemCalls _system;
    private readonly ChildExitWatch _watch;
    private readonly ChildPipeStream? _stdin;
    private readonly ChildPipeStream? _stdout;
    private readonly ChildPipeStream? _stderr;
    private int _disposed;

    internal ChildProcess(ISystemCalls system, Command command, int pid, SafePidfdHandle pidfd, SpawnPath path,
        TimeSpan cloneCallDuration, ChildExitWatch watch, ChildPipeStream? stdin, ChildPipeStream? stdout, ChildPipeStream? stderr)
    {
        _system = system;
        Command = command;
        Pid = pid;
        Pidfd = pidfd;
        SpawnPath = path;
        CloneCallDuration = cloneCallDuration;
        _watch = watch;
        _stdin = stdin;
        _stdout = stdout;
        _stderr = stderr;
    }

    /// <inheritdoc/>
    public int Pid { get; }

    /// <summary>
    /// The child's pidfd, open until this handle is disposed (and, for the reactor, until the child is reaped).
    /// Use it to poll or signal the child from your own code; leave disposing it to <see cref="Dispose"/>.
    /// </summary>
    public SafePidfdHandle Pidfd { get; }

    /// <inheritdoc/>
    public Command Command { get; }

    /// <summary>How the child was created: clone3 or clone (and why), fast or full path.</summary>
    public SpawnPath SpawnPath { get; }

    /// <summary>
    /// The time of the native stage's call (<c>fl_spawn</c>: from its entry to the clone's return in the parent,
    /// plus the call's own transition), measured around it.
    /// </summary>
    public TimeSpan CloneCallDuration { get; }

    /// <inheritdoc/>
    public Stream StandardInput => _stdin ?? throw NotPiped("StandardInput", Command.StandardInput);

    /// <inheritdoc/>
    public Stream StandardOutput => _stdout ?? throw NotPiped("StandardOutput", Command.StandardOutput);

    /// <inheritdoc/>
    public Stream StandardError => _stderr ?? throw NotPiped("StandardError", Command.StandardError);

    /// <inheritdoc/>
    public bool HasExited => _watch.Exit.IsCompleted;

    /// <summary>The exit status once the child has been reaped; null before (or when it is unavailable).</summary>
    public ExitStatus? ExitStatus => _watch.Exit.IsCompletedSuccessfully ? _watch.Exit.Result : null;

    /// <inheritdoc/>
    public async Task<ExitStatus> WaitForExitAsync(CancellationToken forcefulCancellation = default, CancellationToken gracefulCancellation = default)
    {
        var exit = _watch.Exit;
        if (exit.IsCompleted || (!forcefulCancellation.CanBeCanceled && !gracefulCancellation.CanBeCanceled))
            return await exit.ConfigureAwait(false);

        int cancelledBy = 0; // 1: forceful, 2: graceful (the first one wins)
        using (forcefulCancellation.UnsafeRegister(_ =>
               {
                   if (Interlocked.CompareExchange(ref cancelledBy, 1, 0) == 0)
                       Kill();
               }, null))
        using (gracefulCancellation.UnsafeRegister(_ =>
               {
                   if (Interlocked.CompareExchange(ref cancelledBy, 2, 0) == 0)
                       _ = StopAsync();
               }, null))
        {
            try
            {
                await exit.ConfigureAwait(false);
            }
            catch (Exception) when (Volatile.Read(ref cancelledBy) != 0)
            {
                // the status is lost (ECHILD), but the caller asked for cancellation: that is what they get
            }
        }
        switch (Volatile.Read(ref cancelledBy))
        {
            case 1:
                throw new OperationCanceledException($"Process {Pid} was killed because the wait was cancelled.", forcefulCancellation);
            case 2:
                throw new OperationCanceledException($"Process {Pid} was stopped because the wait was cancelled.", gracefulCancellation);
            default:
                return await exit.ConfigureAwait(false);
        }
    }

    /// <summary>Blocks until the child has been reaped; see <see cref="WaitForExitAsync"/>.</summary>
    public ExitStatus WaitForExit() => _watch.Exit.GetAwaiter().GetResult();

    /// <inheritdoc/>
    public bool Signal(int signal)
    {
        if (signal != 0 && !Signals.IsValid(signal))
            throw new ArgumentOutOfRangeException(nameof(signal), signal, $"Unknown signal {signal} (valid: 0..{Signals.Max}).");
        return SignalCore(signal);
    }

    /// <inheritdoc/>
    public bool Kill() => SignalCore(SIGKILL);

    /// <inheritdoc/>
    public async Task<ExitStatus> StopAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var exit = _watch.Exit;
        if (exit.IsCompleted)
            return await exit.ConfigureAwait(false);
        TimeSpan bound = timeout ?? Command.StopTimeout;
        if (SignalCore(Command.StopSignal) && bound != TimeSpan.Zero)
        {
            try
            {
                await exit.WaitAsync(bound, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
            }
        }
        if (!exit.IsCompleted)
            Kill();
        return await exit.ConfigureAwait(false);
    }

    private bool SignalCore(int signal)
    {
        if (_watch.Exit.IsCompleted)
            return false; // reaped: the pidfd would say ESRCH
        bool added = false;
        int rc;
        try
        {
            Pidfd.DangerousAddRef(ref added);
            rc = _system.PidfdSendSignal((int)Pidfd.DangerousGetHandle(), signal);
        }
        finally
        {
            if (added)
                Pidfd.DangerousRelease();
        }
        if (rc == 0)
            return true;
        if (rc == -(int)Errno.ESRCH)
            return false;
        var errno = (Errno)(-rc);
        throw new ForkliftException($"pidfd_send_signal({Signals.Name(signal)}) to process {Pid} failed: {ErrnoInfo.Name(errno)} ({ErrnoInfo.Message(errno)}).");
    }

    /// <summary>
    /// Closes the parent's pipe ends and the pidfd handle. A still-running child is killed (SIGKILL) or left
    /// running, as <see cref="Command.DisposeBehavior"/> says; either way the reactor reaps it when it exits.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (Command.DisposeBehavior == ChildDisposal.Kill && !_watch.Exit.IsCompleted)
        {
            try
            {
                SignalCore(SIGKILL);
            }
            catch (ObjectDisposedException)
            {
                // the caller disposed Pidfd already: this handle can no longer reach the child (the reactor still reaps it)
            }
        }
        _stdin?.Dispose();
        _stdout?.Dispose();
        _stderr?.Dispose();
        Pidfd.Dispose();
    }

    /// <summary>As <see cref="Dispose"/>, and with <see cref="ChildDisposal.Kill"/> also waits until the child is reaped.</summary>
    public async ValueTask DisposeAsync()
    {
        bool kill = Command.DisposeBehavior == ChildDisposal.Kill;
        Dispose();
        if (kill)
        {
            try
            {
                await _watch.Exit.ConfigureAwait(false);
            }
            catch (ForkliftException)
            {
                // the status is lost; the child is gone all the same
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"pid {Pid} ({Command.Program}){(HasExited ? ", " + ExitStatus : "")}";

    private static InvalidOperationException NotPiped(string option, Stdio stdio) =>
        new($"{option} is {stdio}, not a pipe: use With{option}(Stdio.Pipe) to get a stream.");
}
