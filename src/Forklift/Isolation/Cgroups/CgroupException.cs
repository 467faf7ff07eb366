using System.Globalization;
using System.Text;
using Forklift.Abi;

namespace Forklift.Isolation;

/// <summary>
/// A cgroup operation failed on the kernel: <see cref="Step"/> says which (<c>CreateGroup</c>,
/// <c>WriteLimit(memory.limit_in_bytes)</c>, <c>EnableController(memory)</c>, <c>Kill</c>, <c>RemoveGroup</c>...),
/// <see cref="Path"/> the file or directory, <see cref="Errno"/> what the kernel said, and <see cref="Advice"/> the
/// usual cause when there is one. When creation fails, everything made up to then has been removed before this is
/// thrown.
/// </summary>
public sealed class CgroupException : ForkliftException
{
    internal CgroupException(string step, Errno errno, string? path, string? advice, Exception? innerException = null)
        : base(Format(step, errno, path, advice), innerException)
    {
        Step = step;
        Errno = errno;
        Path = path;
        Advice = advice;
    }

    /// <summary>The failing step.</summary>
    public string Step { get; }

    /// <summary>The kernel's errno (<see cref="Errno.None"/> when no system call failed: a layout problem, a timeout).</summary>
    public Errno Errno { get; }

    /// <summary>The file or directory concerned, or null.</summary>
    public string? Path { get; }

    /// <summary>What usually causes this and what to do about it, or null.</summary>
    public string? Advice { get; }

    private static string Format(string step, Errno errno, string? path, string? advice)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"cgroup: {step} failed");
        if (path is not null)
            sb.Append(CultureInfo.InvariantCulture, $" ({path})");
        if (errno != Errno.None)
            sb.Append(CultureInfo.InvariantCulture, $": {ErrnoInfo.Name(errno)} ({ErrnoInfo.Message(errno)})");
        sb.Append('.');
        if (advice is not null)
            sb.Append(' ').Append(advice.TrimEnd('.')).Append('.');
        return sb.ToString();
    }
}
