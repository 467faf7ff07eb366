using Forklift.Abi;
using Forklift.Spawning;

namespace Forklift.Processes;

/// <summary>
/// The part of an <see cref="IChildProcess"/> that is the same on every kernel: the standard streams, the wait
/// and its two cancellation intents, the graceful stop (<see cref="Command.StopSignal"/>, then SIGKILL after a
/// bound), and signal validation. A kernel supplies the primitives: the exit task (<see cref="Exit"/>), one
/// signal through its handle on the child (<see cref="SignalCore"/>), and disposal. <see cref="ChildProcess"/>
/// is the real kernel's (pidfd and reactor); derive from this class to run children on another kernel, so that
/// code written against <see cref="IChildProcess"/> sees the same rules there.
/// </summary>
public abstract class ChildProcessBase : IChildProcess
{
    private const int SIGKILL = 9;

    private readonly Stream? _stdin;
    private readonly Stream? _stdout;
    private readonly Stream? _stderr;

    /// <inheritdoc/>
    public int Pid { get; }

    /// <inheritdoc/>
    public Command Command { get; }

    /// <summary>A started child.</summary>
    /// <param name="command">The command it was started from.</param>
    /// <param name="pid">Its pid, in the caller's pid namespace.</param>
    /// <param name="standardInput">The write end of its standard input when that is <see cref="Stdio.Pipe"/>; otherwise null.</param>
    /// <param name="standardOutput">The read end of its standard output when that is <see cref="Stdio.Pipe"/>; otherwise null.</param>
    /// <param name="standardError">The read end of its standard error when that is <see cref="Stdio.Pipe"/>; otherwise null.</param>
    protected ChildProcessBase(Command command, int pid, Stream? standardInput, Stream? standardOutput, Stream? standardError)
    {
        Command = command ?? throw new ArgumentNullException(nameof(command));
        Pid = pid;
        _stdin = standardInput;
        _stdout = standardOutput;
        _stderr = standardError;
    }

    /// <inheritdoc/>
    public Stream StandardInput => _stdin ?? throw NotPiped("StandardInput", Command.StandardInput);

    /// <inheritdoc/>
    public Stream StandardOutput => _stdout ?? throw NotPiped("StandardOutput", Command.StandardOutput);

    /// <inheritdoc/>
    public Stream StandardError => _stderr ?? throw NotPiped("StandardError", Command.StandardError);

    /// <inheritdoc/>
    public bool HasExited => Exit.IsCompleted;

    /// <summary>The exit status once the child has been reaped; null before (or when it is unavailable).</summary>
    public ExitStatus? ExitStatus
    {
        get
        {
            var exit = Exit;
            return exit.IsCompletedSuccessfully ? exit.Result : null;
        }
    }

    /// <summary>
    /// Completes with the exit status once the child has exited and been reaped, whether or not anybody waits;
    /// faults (<see cref="ExitStatusUnavailableException"/>, say) when the status is lost.
    /// </summary>
    protected abstract Task<ExitStatus> Exit { get; }

    /// <summary>
    /// The task one wait (<see cref="WaitForExitAsync"/>, <see cref="StopAsync"/>) awaits: <see cref="Exit"/>
    /// unless the kernel needs each waiter's continuation on a task of its own (a simulation that must run them
    /// all on its own thread: the runtime runs only the first continuation of a task inline).
    /// </summary>
    protected virtual Task<ExitStatus> ExitForWaiter() => Exit;

    /// <summary>The clock <see cref="StopAsync"/> measures its timeout on (default: the system's).</summary>
    protected virtual TimeProvider Clock => TimeProvider.System;

    /// <summary>
    /// Sends <paramref name="signal"/> (already validated; 0 only checks) through the kernel's handle on the
    /// child. Returns false once the child has been reaped, never reaching a process that got its pid since;
    /// throws a <see cref="ForkliftException"/> for any other failure (see <see cref="SignalOutcome"/>).
    /// </summary>
    protected abstract bool SignalCore(int signal);

    /// <summary>
    /// What <c>pidfd_send_signal</c>'s <paramref name="errno"/> means for <see cref="Signal"/>: true for success
    /// (<see cref="Errno.None"/>), false for ESRCH (the child is gone), an exception for anything else.
    /// </summary>
    /// <exception cref="ForkliftException">Any errno but ESRCH.</exception>
    protected bool SignalOutcome(int signal, Errno errno)
    {
        if (errno == Errno.None)
            return true;
        if (errno == Errno.ESRCH)
            return false;
        throw new ForkliftException($"pidfd_send_signal({Signals.Name(signal)}) to process {Pid} failed: {ErrnoInfo.Name(errno)} ({ErrnoInfo.Message(errno)}).");
    }

    /// <inheritdoc/>
    public virtual async Task<ExitStatus> WaitForExitAsync(CancellationToken forcefulCancellation = default, CancellationToken gracefulCancellation = default)
    {
        var exit = ExitForWaiter();
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
    public virtual async Task<ExitStatus> StopAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var exit = ExitForWaiter();
        if (exit.IsCompleted)
            return await exit.ConfigureAwait(false);
        TimeSpan bound = timeout ?? Command.StopTimeout;
        if (SignalCore(Command.StopSignal) && bound != TimeSpan.Zero)
        {
            try
            {
                await exit.WaitAsync(bound, Clock, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Disposes the parent's ends of the standard-stream pipes (the child sees EOF on its stdin, EPIPE on its output).</summary>
    protected void DisposeStreams()
    {
        _stdin?.Dispose();
        _stdout?.Dispose();
        _stderr?.Dispose();
    }

    /// <summary>
    /// Closes the parent's pipe ends and the handle on the child. A still-running child is killed (SIGKILL) or
    /// left running, as <see cref="Command.DisposeBehavior"/> says; either way it is reaped when it exits.
    /// </summary>
    public abstract void Dispose();

    /// <summary>As <see cref="Dispose"/>, and with <see cref="ChildDisposal.Kill"/> also waits until the child is reaped.</summary>
    public abstract ValueTask DisposeAsync();

    /// <inheritdoc/>
    public override string ToString() => $"pid {Pid} ({Command.Program}){(HasExited ? ", " + ExitStatus : "")}";

    private static InvalidOperationException NotPiped(string option, Stdio stdio) =>
        new($"{option} is {stdio}, not a pipe: use With{option}(Stdio.Pipe) to get a stream.");
}
