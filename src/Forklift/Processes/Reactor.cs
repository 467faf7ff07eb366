using System.Collections.Concurrent;
using Forklift.Abi;
using Forklift.Interop;

namespace Forklift.Processes;

/// <summary>Something the reactor watches: a child's pidfd, or a parent-side pipe end.</summary>
internal interface IReactorTarget
{
    /// <summary>
    /// Runs on the reactor thread when the fd reports <paramref name="events"/>. Must be short and must not
    /// block; it completes tasks whose continuations run on the thread pool.
    /// </summary>
    void OnEvents(uint events);

    /// <summary>The reactor stopped (epoll_wait failed for good): fail whatever is pending.</summary>
    void OnReactorFailed(Exception error);
}

/// <summary>
/// One background thread in epoll_wait over every live pidfd and every pipe end with a pending operation (the
/// shape of .NET's SocketAsyncEngine). A pidfd becomes readable when its process exits; the reactor then reaps
/// it at once (so neither a zombie nor .NET's SIGCHLD handling ever sees it) and completes the exit task, whose
/// continuations run on the thread pool. No thread per child, no polling, no SIGCHLD handler of ours. Targets
/// are found by a 64-bit key in the event's data, never by fd number (fd numbers are reused).
/// </summary>
internal sealed class Reactor
{
    private const int EINTR = (int)Errno.EINTR;

    private readonly ISystemCalls _system;
    private readonly ConcurrentDictionary<ulong, IReactorTarget> _targets = new();
    private readonly Lock _startLock = new();
    private long _nextKey;
    private volatile int _epollFd = -1;
    private volatile Exception? _failure;

    public Reactor(ISystemCalls system) => _system = system;

    /// <summary>How many targets are registered (for tests and diagnostics).</summary>
    public int Count => _targets.Count;

    /// <summary>Registers <paramref name="fd"/>; returns the key that later calls name it by.</summary>
    /// <exception cref="ForkliftException">epoll could not be created or the fd could not be added.</exception>
    public ulong Add(int fd, uint events, IReactorTarget target)
    {
        int epollFd = EnsureStarted();
        ulong key = (ulong)Interlocked.Increment(ref _nextKey);
        _targets[key] = target;
        int rc = _system.EpollCtl(epollFd, LibcEpoll.CtlAdd, fd, events, key);
        if (rc < 0)
        {
            _targets.TryRemove(key, out _);
            throw new ForkliftException($"epoll_ctl(ADD, fd {fd}) failed: {ErrnoInfo.Name((Errno)(-rc))} ({ErrnoInfo.Message((Errno)(-rc))}).");
        }
        return key;
    }

    /// <summary>Re-arms a one-shot registration (EPOLL_CTL_MOD reports an fd that is already ready at once).</summary>
    public void Modify(ulong key, int fd, uint events)
    {
        int rc = _system.EpollCtl(_epollFd, LibcEpoll.CtlMod, fd, events, key);
        if (rc < 0)
            throw new ForkliftException($"epoll_ctl(MOD, fd {fd}) failed: {ErrnoInfo.Name((Errno)(-rc))}.");
    }

    /// <summary>Unregisters; call before the fd is closed.</summary>
    public void Remove(ulong key, int fd)
    {
        if (_targets.TryRemove(key, out _))
            _system.EpollCtl(_epollFd, LibcEpoll.CtlDel, fd, 0, 0);
    }

    private int EnsureStarted()
    {
        if (_failure is { } failure)
            throw new ForkliftException("The pidfd reactor has stopped.", failure);
        int fd = _epollFd;
        if (fd >= 0)
            return fd;
        lock (_startLock)
        {
            if (_epollFd >= 0)
                return _epollFd;
            fd = _system.EpollCreate();
            if (fd < 0)
                throw new ForkliftException($"epoll_create1 failed: {ErrnoInfo.Name((Errno)(-fd))} ({ErrnoInfo.Message((Errno)(-fd))}).");
            var thread = new Thread(Loop) { IsBackground = true, Name = "Forklift pidfd reactor" };
            _epollFd = fd;
            thread.UnsafeStart();
            return fd;
        }
    }

    private void Loop()
    {
        var events = new EpollEvent[64];
        int epollFd = _epollFd;
        while (true)
        {
            int n = _system.EpollWait(epollFd, events, -1);
            if (n == -EINTR)
                continue; // SIGCHLD (ours or .NET's handler) interrupts epoll_wait even with SA_RESTART
            if (n < 0)
            {
                var error = new ForkliftException($"epoll_wait failed: {ErrnoInfo.Name((Errno)(-n))}; the pidfd reactor stops.");
                _failure = error;
                foreach (var key in _targets.Keys)
                {
                    if (_targets.TryRemove(key, out var t))
                        t.OnReactorFailed(error);
                }
                return;
            }
            for (int i = 0; i < n; i++)
            {
                if (_targets.TryGetValue(events[i].Data, out var target))
                {
                    try
                    {
                        target.OnEvents(events[i].Events);
                    }
                    catch (Exception e)
                    {
                        target.OnReactorFailed(e); // a target's bug must not stop the others
                    }
                }
            }
        }
    }
}
