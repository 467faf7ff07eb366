using System.Runtime.InteropServices;
using Forklift.Interop;

namespace Forklift.Processes;

/// <summary>
/// A pidfd: a file descriptor that refers to one process for as long as it is open, whatever happens to its pid.
/// Forklift signals and waits only through it, so nothing ever reaches a recycled pid. Disposing it while the
/// reactor still watches the process only drops this reference: the fd closes once the child has been reaped.
/// </summary>
public sealed class SafePidfdHandle : SafeHandle
{
    private readonly ISystemCalls _system;

    /// <summary>Wraps an existing pidfd (closed with close(2) when <paramref name="ownsHandle"/>).</summary>
    public SafePidfdHandle(nint preexistingHandle, bool ownsHandle)
        : base(-1, ownsHandle)
    {
        _system = LinuxSystemCalls.Instance;
        SetHandle(preexistingHandle);
    }

    internal SafePidfdHandle(int fd, ISystemCalls system)
        : base(-1, ownsHandle: true)
    {
        _system = system;
        SetHandle(fd);
    }

    /// <summary>True for a negative fd.</summary>
    public override bool IsInvalid => handle < 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => _system.Close((int)handle) == 0;
}

/// <summary>A parent-side fd (a pipe end) closed through the injected <see cref="ISystemCalls"/>.</summary>
internal sealed class FdHandle : SafeHandle
{
    private readonly ISystemCalls _system;

    internal FdHandle(int fd, ISystemCalls system)
        : base(-1, ownsHandle: true)
    {
        _system = system;
        SetHandle(fd);
    }

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => _system.Close((int)handle) == 0;
}
