using System.Collections.Concurrent;
using Forklift.Abi;
using Forklift.Interop;
using Forklift.Spawning;

namespace Forklift.Tests.Spawning;

/// <summary>
/// A recording fake of <see cref="ISystemCalls"/>: logs every call in order (one list), hands out fake fd numbers
/// from 100 up (and tracks which are open), can be told to fail the n-th call of a kind, and plays a kernel whose
/// fl_spawn and waits answer as configured. Its epoll is a queue the test feeds with <see cref="MakeReady"/>.
/// Never a stand-in for a real-kernel test: it checks what Forklift asks for and how it reacts to answers.
/// </summary>
internal sealed unsafe class RecordingSystemCalls : ISystemCalls, IDisposable
{
    public delegate int SpawnHandler(FlSpawnPlan* plan, FlSpawnResult* result);

    private readonly Lock _lock = new();
    private readonly List<string> _calls = [];
    private readonly Dictionary<string, int> _counts = [];
    private readonly Dictionary<int, ulong> _epoll = [];
    private readonly BlockingCollection<EpollEvent> _events = [];
    private (string Call, Errno Errno, int Nth)? _failure;
    private int _nextFd = 100;

    /// <summary>The calls, in order.</summary>
    public IReadOnlyList<string> Calls
    {
        get
        {
            lock (_lock)
                return [.. _calls];
        }
    }

    /// <summary>The fake fds handed out and not closed yet.</summary>
    public HashSet<int> OpenFds { get; } = [];

    /// <summary>The last plan fl_spawn got, decoded from its unmanaged block.</summary>
    public string? LastPlan { get; private set; }

    /// <summary>The managed thread that called fl_spawn last.</summary>
    public int SpawnThreadId { get; private set; }

    /// <summary>fl_spawn's behaviour; default: a child with pid 4242 and a fresh pidfd that exec'd.</summary>
    public SpawnHandler? OnSpawn { get; set; }

    /// <summary>fl_pidfd_wait's answer: (return value, status). Default: (1, exit 0).</summary>
    public (int Rc, int Status) WaitResult { get; set; } = (1, 0);

    /// <summary>fl_pidfd_exit_info's answer. Default: (0, 0): no information.</summary>
    public (int Rc, int Status) ExitInfoResult { get; set; } = (0, 0);

    /// <summary>fl_pidfd_send_signal's answer. Default 0.</summary>
    public int SignalResult { get; set; }

    /// <summary>The n-th call named <paramref name="call"/> (pipe2, fl_spawn, epoll_ctl...) fails with <paramref name="errno"/>.</summary>
    public void Fail(string call, Errno errno, int nth = 1) => _failure = (call, errno, nth);

    /// <summary>Reports the fd as ready to the reactor (as epoll_wait would).</summary>
    public void MakeReady(int fd, uint events = LibcEpoll.In)
    {
        ulong data;
        lock (_lock)
            data = _epoll[fd];
        _events.Add(new EpollEvent { Events = events, Data = data });
    }

    /// <summary>True while <paramref name="fd"/> is registered with the fake epoll.</summary>
    public bool Registered(int fd)
    {
        lock (_lock)
            return _epoll.ContainsKey(fd);
    }

    /// <summary>Ends the reactor thread (its epoll_wait fails with EBADF).</summary>
    public void Dispose() => _events.CompleteAdding();

    private int Record(string call, string text)
    {
        lock (_lock)
        {
            _calls.Add(text);
            _counts[call] = _counts.GetValueOrDefault(call) + 1;
            if (_failure is { } f && f.Call == call && f.Nth == _counts[call])
            {
                _calls[^1] += $" = -{ErrnoInfo.Name(f.Errno)}";
                return -(int)f.Errno;
            }
            return 0;
        }
    }

    private int NewFd()
    {
        lock (_lock)
        {
            int fd = _nextFd++;
            OpenFds.Add(fd);
            return fd;
        }
    }

    public int Pipe2(out int readFd, out int writeFd)
    {
        readFd = writeFd = -1;
        int rc = Record("pipe2", "pipe2()");
        if (rc < 0)
            return rc;
        readFd = NewFd();
        writeFd = NewFd();
        lock (_lock)
            _calls[^1] += $" = [{readFd}, {writeFd}]";
        return 0;
    }

    public int SetNonBlocking(int fd) => Record("fcntl", $"fcntl({fd}, O_NONBLOCK)");

    public int Close(int fd)
    {
        int rc = Record("close", $"close({fd})");
        lock (_lock)
            OpenFds.Remove(fd);
        return rc;
    }

    public int Read(int fd, Span<byte> buffer) => Record("read", $"read({fd})") is < 0 and var rc ? rc : 0;

    public int Write(int fd, ReadOnlySpan<byte> buffer) => Record("write", $"write({fd})") is < 0 and var rc ? rc : buffer.Length;

    public int Poll(int fd, short events, int timeoutMilliseconds) => Record("poll", $"poll({fd})") is < 0 and var rc ? rc : 1;

    public int EpollCreate()
    {
        int rc = Record("epoll_create1", "epoll_create1()");
        if (rc < 0)
            return rc;
        int fd = NewFd();
        lock (_lock)
            _calls[^1] += $" = {fd}";
        return fd;
    }

    public int EpollCtl(int epollFd, int operation, int fd, uint events, ulong data)
    {
        string op = operation switch { LibcEpoll.CtlAdd => "ADD", LibcEpoll.CtlMod => "MOD", _ => "DEL" };
        int rc = Record("epoll_ctl", operation == LibcEpoll.CtlDel ? $"epoll_ctl(DEL, {fd})" : $"epoll_ctl({op}, {fd}, 0x{events:x})");
        if (rc < 0)
            return rc;
        lock (_lock)
        {
            if (operation == LibcEpoll.CtlDel)
                _epoll.Remove(fd);
            else
                _epoll[fd] = data;
        }
        return 0;
    }

    public int EpollWait(int epollFd, Span<EpollEvent> events, int timeoutMilliseconds)
    {
        try
        {
            events[0] = _events.Take();
            return 1;
        }
        catch (InvalidOperationException)
        {
            return -(int)Errno.EBADF; // disposed: the reactor stops
        }
    }

    public int Spawn(FlSpawnPlan* plan, FlSpawnResult* result)
    {
        SpawnThreadId = Environment.CurrentManagedThreadId;
        LastPlan = SpawnPlan.Describe(plan);
        int rc = Record("fl_spawn", "fl_spawn");
        if (rc < 0)
        {
            *result = FlSpawnResult.Empty;
            result->ErrorErrno = -rc;
            result->ErrorStep = SpawnStepCode.Setup;
            return -1;
        }
        if (OnSpawn is { } handler)
            return handler(plan, result);
        *result = FlSpawnResult.Empty;
        result->Pid = 4242;
        result->Pidfd = NewFd();
        result->Ok = 1;
        result->UsedClone3 = 1;
        if ((plan->Flags & SpawnPlanFlags.Sync) != 0)
        {
            result->SyncFd = NewFd();
            result->ErrorFd = NewFd();
        }
        return 0;
    }

    public int SpawnRelease(FlSpawnResult* result, FlSpawnPlan* plan, bool go)
    {
        Record("fl_spawn_release", $"fl_spawn_release(go={(go ? 1 : 0)})");
        lock (_lock)
        {
            OpenFds.Remove(result->SyncFd);
            OpenFds.Remove(result->ErrorFd);
        }
        result->SyncFd = result->ErrorFd = -1;
        if (go)
            return 0;
        lock (_lock)
            OpenFds.Remove(result->Pidfd); // the stage reaps a child that gave up and closes its pidfd
        result->Pidfd = -1;
        result->Ok = 0;
        result->ErrorErrno = (int)Errno.ECANCELED;
        result->ErrorStep = SpawnStepCode.Sync;
        return -1;
    }

    public int PidfdWait(int pidfd, int options, out int status, Span<long> rusage)
    {
        Record("waitid", $"waitid(pidfd {pidfd})");
        status = WaitResult.Status;
        return WaitResult.Rc;
    }

    public int PidfdExitInfo(int pidfd, out int status)
    {
        Record("pidfd_exit_info", $"pidfd_exit_info({pidfd})");
        status = ExitInfoResult.Status;
        return ExitInfoResult.Rc;
    }

    public int PidfdSendSignal(int pidfd, int signal)
    {
        Record("pidfd_send_signal", $"pidfd_send_signal({pidfd}, {signal})");
        return SignalResult;
    }

    public int GetParentPid() => 1;
}
