using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// Every system call the spawner makes from the parent: pipes, fd I/O for the pipe streams, epoll for the
/// reactor, and the native stage's exports. Each returns a value &gt;= 0 on success and -errno on failure (the
/// layer above throws). Injected through constructors (<see cref="Processes.ProcessLauncher"/>), never picked by
/// ambient state: <see cref="LinuxSystemCalls.Instance"/> in production, a recording fake in unit tests.
/// </summary>
internal unsafe interface ISystemCalls
{
    /// <summary>pipe2(O_CLOEXEC): 0 and both ends, or -errno.</summary>
    int Pipe2(out int readFd, out int writeFd);

    /// <summary>fcntl(F_SETFL, flags | O_NONBLOCK) on one end (the open file description of that end only).</summary>
    int SetNonBlocking(int fd);

    /// <summary>close(2).</summary>
    int Close(int fd);

    /// <summary>read(2): bytes read (0: EOF) or -errno.</summary>
    int Read(int fd, Span<byte> buffer);

    /// <summary>write(2): bytes written or -errno.</summary>
    int Write(int fd, ReadOnlySpan<byte> buffer);

    /// <summary>poll(2) on one fd: &gt; 0 ready, 0 timed out, -errno.</summary>
    int Poll(int fd, short events, int timeoutMilliseconds);

    /// <summary>epoll_create1(EPOLL_CLOEXEC): the epoll fd or -errno.</summary>
    int EpollCreate();

    /// <summary>epoll_ctl(2) with one event word and 64 bits of data.</summary>
    int EpollCtl(int epollFd, int operation, int fd, uint events, ulong data);

    /// <summary>epoll_wait(2): the number of events, or -errno (EINTR included: the caller retries).</summary>
    int EpollWait(int epollFd, Span<EpollEvent> events, int timeoutMilliseconds);

    /// <summary><c>fl_spawn</c>: 0 or -1 (the result says why).</summary>
    int Spawn(FlSpawnPlan* plan, FlSpawnResult* result);

    /// <summary><c>fl_spawn_release</c>: 0 or -1.</summary>
    int SpawnRelease(FlSpawnResult* result, FlSpawnPlan* plan, bool go);

    /// <summary><c>fl_pidfd_wait</c>: 1 collected, 0 still running (WNOHANG), -errno. <paramref name="rusage"/>: 18 longs.</summary>
    int PidfdWait(int pidfd, int options, out int status, Span<long> rusage);

    /// <summary><c>fl_pidfd_exit_info</c>: 1 read back, 0 no information, -errno.</summary>
    int PidfdExitInfo(int pidfd, out int status);

    /// <summary><c>fl_pidfd_send_signal</c>: 0 or -errno.</summary>
    int PidfdSendSignal(int pidfd, int signal);

    /// <summary>getppid(2).</summary>
    int GetParentPid();
}

/// <summary>The real <see cref="ISystemCalls"/>: libc and the native stage.</summary>
internal sealed unsafe class LinuxSystemCalls : ISystemCalls
{
    /// <summary>The one instance (the class has no state).</summary>
    public static LinuxSystemCalls Instance { get; } = new();

    private LinuxSystemCalls()
    {
    }

    private static int Errno() => -Marshal.GetLastPInvokeError();

    public int Pipe2(out int readFd, out int writeFd)
    {
        int* fds = stackalloc int[2];
        if (LibcPipe.Pipe2(fds, LibcPipe.OCloexec) != 0)
        {
            readFd = writeFd = -1;
            return Errno();
        }
        readFd = fds[0];
        writeFd = fds[1];
        return 0;
    }

    public int SetNonBlocking(int fd)
    {
        int flags = LibcFd.Fcntl(fd, LibcFd.FGetFl, 0);
        if (flags < 0)
            return Errno();
        return LibcFd.Fcntl(fd, LibcFd.FSetFl, flags | LibcFd.ONonBlock) < 0 ? Errno() : 0;
    }

    public int Close(int fd) => LibcFd.Close(fd) < 0 ? Errno() : 0;

    public int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            nint n = LibcFd.Read(fd, p, (nuint)buffer.Length);
            return n < 0 ? Errno() : (int)n;
        }
    }

    public int Write(int fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            nint n = LibcFd.Write(fd, p, (nuint)buffer.Length);
            return n < 0 ? Errno() : (int)n;
        }
    }

    public int Poll(int fd, short events, int timeoutMilliseconds)
    {
        var pfd = new LibcFd.PollFd { Fd = fd, Events = events };
        int n = LibcFd.Poll(&pfd, 1, timeoutMilliseconds);
        return n < 0 ? Errno() : n;
    }

    public int EpollCreate()
    {
        int fd = LibcEpoll.Create1(LibcEpoll.Cloexec);
        return fd < 0 ? Errno() : fd;
    }

    public int EpollCtl(int epollFd, int operation, int fd, uint events, ulong data)
    {
        var ev = new EpollEvent { Events = events, Data = data };
        return LibcEpoll.Ctl(epollFd, operation, fd, &ev) < 0 ? Errno() : 0;
    }

    public int EpollWait(int epollFd, Span<EpollEvent> events, int timeoutMilliseconds)
    {
        fixed (EpollEvent* p = events)
        {
            int n = LibcEpoll.Wait(epollFd, p, events.Length, timeoutMilliseconds);
            return n < 0 ? Errno() : n;
        }
    }

    public int Spawn(FlSpawnPlan* plan, FlSpawnResult* result) => SpawnNative.Spawn(plan, result);

    public int SpawnRelease(FlSpawnResult* result, FlSpawnPlan* plan, bool go) =>
        SpawnNative.SpawnRelease(result, plan, go ? 1 : 0);

    public int PidfdWait(int pidfd, int options, out int status, Span<long> rusage)
    {
        int s = 0;
        int rc;
        fixed (long* r = rusage)
            rc = SpawnNative.PidfdWait(pidfd, options, &s, rusage.Length >= 18 ? r : null);
        status = s;
        return rc;
    }

    public int PidfdExitInfo(int pidfd, out int status)
    {
        int s = 0;
        int rc = SpawnNative.PidfdExitInfo(pidfd, &s);
        status = s;
        return rc;
    }

    public int PidfdSendSignal(int pidfd, int signal) => SpawnNative.PidfdSendSignal(pidfd, signal);

    public int GetParentPid() => LibcFd.GetParentPid();
}
