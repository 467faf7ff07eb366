using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Forklift.Abi;
using Forklift.Processes;

namespace Forklift.Cli.Run;

/// <summary>
/// Forwards the signals <c>forklift run</c> receives to its child, through the child's pidfd, and cancels their
/// default handling here (for SIGTERM, SIGINT, SIGQUIT and SIGHUP the runtime would otherwise shut the process
/// down; for SIGUSR1 and SIGUSR2 the kernel would kill it). Installed before the child is started: a signal that
/// arrives before the child exists is kept and delivered as soon as it does.
/// </summary>
/// <remarks>
/// <see cref="PosixSignal"/> names SIGHUP, SIGINT, SIGQUIT and SIGTERM; SIGUSR1 and SIGUSR2 are registered by their
/// raw numbers, which <see cref="PosixSignalRegistration.Create"/> accepts on Unix. A signal ignored when forklift
/// started (SIGINT and SIGQUIT of a background job of a non-interactive shell) stays ignored: the runtime does not
/// catch it, and the child inherits the ignored disposition, as it would from a shell.
/// </remarks>
internal sealed partial class SignalForwarder : IDisposable
{
    /// <summary>The forwarded signals: SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM.</summary>
    public static readonly ImmutableArray<int> Forwarded = [1, 2, 3, 10, 12, 15];

    private readonly Lock _lock = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private readonly List<int> _pending = [];
    private readonly Action<string>? _log;
    private IChildProcess? _child;
    private bool _childSharesGroup;

    private SignalForwarder(Action<string>? log) => _log = log;

    /// <summary>Starts catching the forwarded signals.</summary>
    /// <param name="log">Told about every signal forwarded (for <c>--verbose</c>), or null.</param>
    public static SignalForwarder Install(Action<string>? log)
    {
        var forwarder = new SignalForwarder(log);
        try
        {
            foreach (int signal in Forwarded)
                forwarder._registrations.Add(PosixSignalRegistration.Create(ToPosixSignal(signal), forwarder.OnSignal));
        }
        catch
        {
            forwarder.Dispose();
            throw;
        }
        return forwarder;
    }

    /// <summary>From now on, signals go to <paramref name="child"/>; any that arrived before are sent now, in order.</summary>
    /// <param name="child">The child.</param>
    /// <param name="childSharesGroup">
    /// The child stays in forklift's process group (no new session or group). Then a SIGINT or SIGQUIT typed at the
    /// terminal, while that group is the terminal's foreground group, has already reached the child from the
    /// terminal driver (it signals the whole foreground group); it is not sent a second time.
    /// </param>
    public void Attach(IChildProcess child, bool childSharesGroup)
    {
        lock (_lock)
        {
            _child = child;
            _childSharesGroup = childSharesGroup;
            foreach (int signal in _pending)
                Forward(child, signal);
            _pending.Clear();
        }
    }

    /// <summary>Stops catching: the default handling applies again.</summary>
    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
        _registrations.Clear();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        int signal = FromPosixSignal(context.Signal);
        lock (_lock)
        {
            if (_child is { } child)
                Forward(child, signal);
            else
                _pending.Add(signal);
        }
    }

    private void Forward(IChildProcess child, int signal)
    {
        if (signal is 2 or 3 && _childSharesGroup && InForegroundGroup())
        {
            _log?.Invoke($"received {Signals.Name(signal)} as the terminal's foreground group: pid {child.Pid} got it from the terminal too; not sent twice");
            return;
        }
        try
        {
            bool sent = child.Signal(signal);
            _log?.Invoke(sent
                ? $"forwarded {Signals.Name(signal)} to pid {child.Pid}"
                : $"received {Signals.Name(signal)}; pid {child.Pid} has already exited");
        }
        catch (ForkliftException e)
        {
            _log?.Invoke($"could not forward {Signals.Name(signal)}: {e.Message}");
        }
    }

    // tcgetpgrp(3) on the standard streams: true when forklift's own group is the terminal's foreground group.
    private static bool InForegroundGroup()
    {
        int own = GetPgrp();
        for (int fd = 0; fd <= 2; fd++)
        {
            int foreground = TcGetPgrp(fd);
            if (foreground > 0)
                return foreground == own;
        }
        return false;
    }

    [LibraryImport("libc", EntryPoint = "tcgetpgrp")]
    private static partial int TcGetPgrp(int fd);

    [LibraryImport("libc", EntryPoint = "getpgrp")]
    private static partial int GetPgrp();

    private static PosixSignal ToPosixSignal(int signal) => signal switch
    {
        1 => PosixSignal.SIGHUP,
        2 => PosixSignal.SIGINT,
        3 => PosixSignal.SIGQUIT,
        15 => PosixSignal.SIGTERM,
        _ => (PosixSignal)signal,
    };

    private static int FromPosixSignal(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGHUP => 1,
        PosixSignal.SIGINT => 2,
        PosixSignal.SIGQUIT => 3,
        PosixSignal.SIGTERM => 15,
        _ => (int)signal,
    };
}
