using Forklift.Abi;
using Forklift.Interop;
using Forklift.Spawning;

namespace Forklift.Processes;

/// <summary>
/// A child started on the real kernel: its pid and pidfd, its standard streams, its exit task. The exit is
/// observed by the launcher's reactor, which reaps the child as soon as it exits, whether or not anybody waits,
/// and even after this handle is disposed. Signals go through the pidfd only.
/// </summary>
public sealed class ChildProcess : ChildProcessBase
{
    private readonly ISystemCalls _system;
    private readonly ChildExitWatch _watch;
    private int _disposed;

    internal ChildProcess(ISystemCalls system, Command command, int pid, SafePidfdHandle pidfd, SpawnPath path,
        TimeSpan cloneCallDuration, ChildExitWatch watch, ChildPipeStream? stdin, ChildPipeStream? stdout, ChildPipeStream? stderr)
        : base(command, pid, stdin, stdout, stderr)
    {
        _system = system;
        Pidfd = pidfd;
        SpawnPath = path;
        CloneCallDuration = cloneCallDuration;
        _watch = watch;
    }

    /// <summary>
    /// The child's pidfd, open until this handle is disposed (and, for the reactor, until the child is reaped).
    /// Use it to poll or signal the child from your own code; leave disposing it to <see cref="Dispose"/>.
    /// </summary>
    public SafePidfdHandle Pidfd { get; }

    /// <summary>How the child was created: clone3 or clone (and why), fast or full path.</summary>
    public SpawnPath SpawnPath { get; }

    /// <summary>
    /// The time of the native stage's call (<c>fl_spawn</c>: from its entry to the clone's return in the parent,
    /// plus the call's own transition), measured around it.
    /// </summary>
    public TimeSpan CloneCallDuration { get; }

    /// <inheritdoc/>
    protected override Task<ExitStatus> Exit => _watch.Exit;

    /// <summary>Blocks until the child has been reaped; see <see cref="ChildProcessBase.WaitForExitAsync"/>.</summary>
    public ExitStatus WaitForExit() => _watch.Exit.GetAwaiter().GetResult();

    /// <inheritdoc/>
    protected override bool SignalCore(int signal)
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
        return SignalOutcome(signal, (Errno)(-rc));
    }

    /// <summary>
    /// Closes the parent's pipe ends and the pidfd handle. A still-running child is killed (SIGKILL) or left
    /// running, as <see cref="Command.DisposeBehavior"/> says; either way the reactor reaps it when it exits.
    /// </summary>
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (Command.DisposeBehavior == ChildDisposal.Kill && !_watch.Exit.IsCompleted)
        {
            try
            {
                Kill();
            }
            catch (ObjectDisposedException)
            {
                // the caller disposed Pidfd already: this handle can no longer reach the child (the reactor still reaps it)
            }
        }
        DisposeStreams();
        Pidfd.Dispose();
    }

    /// <summary>As <see cref="Dispose"/>, and with <see cref="ChildDisposal.Kill"/> also waits until the child is reaped.</summary>
    public override async ValueTask DisposeAsync()
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
}
