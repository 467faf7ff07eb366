using Forklift.Abi;
using Forklift.Interop;

namespace Forklift.Processes;

/// <summary>
/// Watches one child's pidfd in the reactor and completes its exit task. Holds a reference on the pidfd until
/// the child has been reaped, so disposing the public handle (or detaching) never stops the reaping.
/// </summary>
internal sealed class ChildExitWatch : IReactorTarget
{
    /// <summary>waitid WNOHANG.</summary>
    public const int WNoHang = 1;

    /// <summary>waitid __WALL: whatever the child's exit signal (a non-SIGCHLD one needs __WCLONE otherwise).</summary>
    public const int WAll = 0x40000000;

    private readonly ISystemCalls _system;
    private readonly Reactor _reactor;
    private readonly SafePidfdHandle _pidfd;
    private readonly int _fd;
    private readonly TaskCompletionSource<ExitStatus> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ulong _key;
    private int _done;

    private ChildExitWatch(ISystemCalls system, Reactor reactor, SafePidfdHandle pidfd, int pid)
    {
        _system = system;
        _reactor = reactor;
        _pidfd = pidfd;
        _fd = (int)pidfd.DangerousGetHandle();
        Pid = pid;
    }

    public int Pid { get; }

    /// <summary>Completes when the child has been reaped (or its status read back); faults when the status is lost.</summary>
    public Task<ExitStatus> Exit => _exit.Task;

    /// <summary>Starts watching. The pidfd is level-triggered readable from the exit on, so a child that exits before this call is seen at once.</summary>
    public static ChildExitWatch Start(ISystemCalls system, Reactor reactor, SafePidfdHandle pidfd, int pid)
    {
        var watch = new ChildExitWatch(system, reactor, pidfd, pid);
        bool added = false;
        pidfd.DangerousAddRef(ref added);
        try
        {
            watch._key = reactor.Add(watch._fd, LibcEpoll.In | LibcEpoll.OneShot, watch);
        }
        catch
        {
            pidfd.DangerousRelease();
            throw;
        }
        return watch;
    }

    public void OnEvents(uint events)
    {
        Span<long> rusage = stackalloc long[18];
        int rc = _system.PidfdWait(_fd, WNoHang | WAll, out int status, rusage);
        if (rc == 0)
        {
            _reactor.Modify(_key, _fd, LibcEpoll.In | LibcEpoll.OneShot); // still running: a spurious wake-up
            return;
        }
        if (rc == 1)
        {
            Finish(new ExitStatus(status, ExitStatusSource.Waited, ResourceUsage.FromRusage(rusage)), null);
        }
        else if (rc == -(int)Errno.ECHILD)
        {
            // Someone else collected it (a SIGCHLD handler reaping every child, as .NET does when it runs as
            // PID 1), or it is a sibling: read the status back through the pidfd (Linux 6.15+).
            int info = _system.PidfdExitInfo(_fd, out int exitStatus);
            if (info == 1)
                Finish(new ExitStatus(exitStatus, ExitStatusSource.PidfdExitInfo), null);
            else
                Finish(null, new ExitStatusUnavailableException(Pid, Errno.ECHILD, info));
        }
        else
        {
            var errno = (Errno)(-rc);
            Finish(null, new ForkliftException($"waitid on the pidfd of process {Pid} failed: {ErrnoInfo.Name(errno)} ({ErrnoInfo.Message(errno)})."));
        }
    }

    public void OnReactorFailed(Exception error) => Finish(null, error);

    private void Finish(ExitStatus? status, Exception? error)
    {
        if (Interlocked.Exchange(ref _done, 1) != 0)
            return;
        _reactor.Remove(_key, _fd);
        _pidfd.DangerousRelease();
        if (status is not null)
            _exit.TrySetResult(status);
        else
            _exit.TrySetException(error!);
    }
}
