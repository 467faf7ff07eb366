using System.Globalization;

namespace Forklift.Rules;

/// <summary>A Linux kernel release (<c>major.minor.patch</c>); ordering is numeric.</summary>
public readonly record struct KernelVersion(int Major, int Minor, int Patch = 0) : IComparable<KernelVersion>
{
    /// <summary>The reference release of Forklift's rule table (CLONE_RULES.md): 6.18.44.</summary>
    public static readonly KernelVersion Reference = new(6, 18, 44);

    /// <inheritdoc/>
    public int CompareTo(KernelVersion other) =>
        Major != other.Major ? Major.CompareTo(other.Major)
        : Minor != other.Minor ? Minor.CompareTo(other.Minor)
        : Patch.CompareTo(other.Patch);

    /// <summary>True when this release is at least <paramref name="major"/>.<paramref name="minor"/>.<paramref name="patch"/>.</summary>
    public bool AtLeast(int major, int minor, int patch = 0) => CompareTo(new KernelVersion(major, minor, patch)) >= 0;

    /// <summary>Orders releases.</summary>
    public static bool operator <(KernelVersion a, KernelVersion b) => a.CompareTo(b) < 0;
    /// <summary>Orders releases.</summary>
    public static bool operator >(KernelVersion a, KernelVersion b) => a.CompareTo(b) > 0;
    /// <summary>Orders releases.</summary>
    public static bool operator <=(KernelVersion a, KernelVersion b) => a.CompareTo(b) <= 0;
    /// <summary>Orders releases.</summary>
    public static bool operator >=(KernelVersion a, KernelVersion b) => a.CompareTo(b) >= 0;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Major}.{Minor}.{Patch}");

    /// <summary>Parses <c>X.Y</c>, <c>X.Y.Z</c>, or a full release string such as <c>6.18.44-fc-v669</c>.</summary>
    public static bool TryParse(string text, out KernelVersion version)
    {
        version = default;
        var parts = text.Trim().Split('.', 3);
        if (parts.Length < 2)
        {
            return false;
        }
        static int Lead(string s)
        {
            int n = 0;
            while (n < s.Length && char.IsAsciiDigit(s[n]))
            {
                n++;
            }
            return n;
        }
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int major))
        {
            return false;
        }
        int ml = Lead(parts[1]);
        if (ml == 0 || !int.TryParse(parts[1].AsSpan(0, ml), NumberStyles.None, CultureInfo.InvariantCulture, out int minor))
        {
            return false;
        }
        int patch = 0;
        if (parts.Length == 3 && ml == parts[1].Length)
        {
            int pl = Lead(parts[2]);
            if (pl > 0)
            {
                patch = int.Parse(parts[2].AsSpan(0, pl), NumberStyles.None, CultureInfo.InvariantCulture);
            }
            else if (parts[2].Length > 0 && char.IsAsciiDigit(parts[2][0]))
            {
                return false;
            }
        }
        version = new KernelVersion(major, minor, patch);
        return true;
    }

    /// <summary>The running kernel (<c>/proc/sys/kernel/osrelease</c>); <see cref="Reference"/> if unreadable.</summary>
    public static KernelVersion Running { get; } = ReadRunning();

    private static KernelVersion ReadRunning()
    {
        try
        {
            return TryParse(File.ReadAllText("/proc/sys/kernel/osrelease"), out var v) ? v : Reference;
        }
        catch (IOException)
        {
            return Reference;
        }
        catch (UnauthorizedAccessException)
        {
            return Reference;
        }
    }
}
