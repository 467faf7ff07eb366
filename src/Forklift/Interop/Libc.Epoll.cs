using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>epoll(7), for the reactor that watches pidfds and pipe ends.</summary>
internal static unsafe partial class LibcEpoll
{
    /// <summary>EPOLL_CLOEXEC.</summary>
    public const int Cloexec = 0x80000;

    /// <summary>EPOLL_CTL_ADD.</summary>
    public const int CtlAdd = 1;

    /// <summary>EPOLL_CTL_DEL.</summary>
    public const int CtlDel = 2;

    /// <summary>EPOLL_CTL_MOD.</summary>
    public const int CtlMod = 3;

    /// <summary>EPOLLIN: readable (a pidfd: the process has exited).</summary>
    public const uint In = 0x001;

    /// <summary>EPOLLOUT: writable.</summary>
    public const uint Out = 0x004;

    /// <summary>EPOLLERR.</summary>
    public const uint Err = 0x008;

    /// <summary>EPOLLHUP (a pidfd: the process has been reaped).</summary>
    public const uint Hup = 0x010;

    /// <summary>EPOLLRDHUP.</summary>
    public const uint RdHup = 0x2000;

    /// <summary>EPOLLONESHOT: disarm after one event; EPOLL_CTL_MOD re-arms (and reports a ready fd at once).</summary>
    public const uint OneShot = 1u << 30;

    /// <summary>epoll_create1(2).</summary>
    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int Create1(int flags);

    /// <summary>epoll_ctl(2).</summary>
    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int Ctl(int epfd, int op, int fd, EpollEvent* @event);

    /// <summary>epoll_wait(2).</summary>
    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int Wait(int epfd, EpollEvent* events, int maxEvents, int timeoutMilliseconds);
}
