using System.Runtime.InteropServices;

namespace Forklift.Isolation;

/// <summary>
/// An existing namespace for the child to enter with setns(2) before anything else it does: by a path
/// (<c>/proc/PID/ns/net</c>, a bind-mounted namespace file), by an open namespace fd, or by a pidfd (all of the
/// given types of that process at once, Linux 5.8+). The kernel's order is kept: the user namespace first.
/// </summary>
public sealed record NamespaceJoin
{
    private NamespaceJoin(Namespaces kinds, string? path, SafeHandle? handle, bool isPidfd)
    {
        Kinds = kinds;
        Path = path;
        Handle = handle;
        IsProcess = isPidfd;
    }

    /// <summary>The types entered (one for a path or namespace fd; one or more for a pidfd).</summary>
    public Namespaces Kinds { get; }

    /// <summary>The namespace file, or null.</summary>
    public string? Path { get; }

    /// <summary>The open namespace fd or pidfd, or null.</summary>
    public SafeHandle? Handle { get; }

    /// <summary>True when <see cref="Handle"/> is a pidfd.</summary>
    public bool IsProcess { get; }

    /// <summary>Joins the namespace of type <paramref name="kind"/> at <paramref name="path"/>.</summary>
    public static NamespaceJoin FromPath(Namespaces kind, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RequireOne(kind);
        return new(kind, path, null, false);
    }

    /// <summary>Joins the namespace that <paramref name="handle"/> (an open namespace file) refers to.</summary>
    public static NamespaceJoin FromHandle(Namespaces kind, SafeHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        RequireOne(kind);
        return new(kind, null, handle, false);
    }

    /// <summary>Joins the namespaces of types <paramref name="kinds"/> of the process behind <paramref name="pidfd"/>.</summary>
    public static NamespaceJoin FromProcess(SafeHandle pidfd, Namespaces kinds)
    {
        ArgumentNullException.ThrowIfNull(pidfd);
        if (kinds == Namespaces.None)
            throw new ArgumentException("name at least one namespace type", nameof(kinds));
        return new(kinds, null, pidfd, true);
    }

    private static void RequireOne(Namespaces kind)
    {
        if (kind == Namespaces.None || (kind & (kind - 1)) != 0 || (kind & ~Namespaces.All) != 0)
            throw new ArgumentException($"one namespace type, not {kind}", nameof(kind));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{NamespaceKinds.Format(Kinds)}={(Path ?? (IsProcess ? "pidfd" : "fd"))}";
}

/// <summary>Clock offsets of a new time namespace (time_namespaces(7)).</summary>
/// <param name="Monotonic">Added to CLOCK_MONOTONIC (and its COARSE and RAW forms) inside.</param>
/// <param name="Boottime">Added to CLOCK_BOOTTIME inside.</param>
public readonly record struct TimeOffsets(TimeSpan Monotonic, TimeSpan Boottime)
{
    /// <summary>The text written to <c>/proc/self/timens_offsets</c>: one line per clock, seconds and nanoseconds.</summary>
    internal string FileText()
    {
        return Line(1 /* CLOCK_MONOTONIC */, Monotonic) + Line(7 /* CLOCK_BOOTTIME */, Boottime);

        static string Line(int clock, TimeSpan offset)
        {
            long ticks = offset.Ticks;
            long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
            if (rest < 0)
            {
                seconds--;
                rest += TimeSpan.TicksPerSecond;
            }
            return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{clock} {seconds} {rest * 100}\n");
        }
    }
}

/// <summary>The capabilities the program keeps (capabilities(7)).</summary>
public sealed record CapabilityPolicy
{
    /// <summary>
    /// The set the program ends with, as a mask (bit n = capability n): everything else leaves the bounding set (so an
    /// exec of a setuid-root or file-capability binary cannot bring it back), and the kept ones are made permitted,
    /// effective, inheritable and ambient, so the program has them also when it does not run as uid 0.
    /// </summary>
    public ulong Keep { get; init; }

    /// <summary>Keep nothing (the sandbox's default).</summary>
    public static CapabilityPolicy None { get; } = new() { Keep = 0 };

    /// <summary>Keep exactly <paramref name="mask"/>.</summary>
    public static CapabilityPolicy KeepOnly(ulong mask) => new() { Keep = mask };

    /// <inheritdoc/>
    public override string ToString()
    {
        var names = new List<string>();
        for (int cap = 0; cap < 64; cap++)
            if (Rules.Capabilities.Has(Keep, cap))
                names.Add(Rules.Capabilities.Name(cap));
        return names.Count == 0 ? "keep none" : "keep " + string.Join(',', names);
    }
}
