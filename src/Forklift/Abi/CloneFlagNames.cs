using System.Globalization;
using System.Text;

namespace Forklift.Abi;

/// <summary>Parses and formats <see cref="CloneFlags"/> with the kernel's names.</summary>
public static class CloneFlagNames
{
    private static readonly (CloneFlags Flag, string Name)[] Table =
    [
        (CloneFlags.NewTime, "CLONE_NEWTIME"), (CloneFlags.Vm, "CLONE_VM"), (CloneFlags.Fs, "CLONE_FS"),
        (CloneFlags.Files, "CLONE_FILES"), (CloneFlags.Sighand, "CLONE_SIGHAND"), (CloneFlags.Pidfd, "CLONE_PIDFD"),
        (CloneFlags.Ptrace, "CLONE_PTRACE"), (CloneFlags.Vfork, "CLONE_VFORK"), (CloneFlags.Parent, "CLONE_PARENT"),
        (CloneFlags.Thread, "CLONE_THREAD"), (CloneFlags.NewNs, "CLONE_NEWNS"), (CloneFlags.Sysvsem, "CLONE_SYSVSEM"),
        (CloneFlags.SetTls, "CLONE_SETTLS"), (CloneFlags.ParentSetTid, "CLONE_PARENT_SETTID"),
        (CloneFlags.ChildClearTid, "CLONE_CHILD_CLEARTID"), (CloneFlags.Detached, "CLONE_DETACHED"),
        (CloneFlags.Untraced, "CLONE_UNTRACED"), (CloneFlags.ChildSetTid, "CLONE_CHILD_SETTID"),
        (CloneFlags.NewCgroup, "CLONE_NEWCGROUP"), (CloneFlags.NewUts, "CLONE_NEWUTS"), (CloneFlags.NewIpc, "CLONE_NEWIPC"),
        (CloneFlags.NewUser, "CLONE_NEWUSER"), (CloneFlags.NewPid, "CLONE_NEWPID"), (CloneFlags.NewNet, "CLONE_NEWNET"),
        (CloneFlags.Io, "CLONE_IO"), (CloneFlags.ClearSighand, "CLONE_CLEAR_SIGHAND"),
        (CloneFlags.IntoCgroup, "CLONE_INTO_CGROUP"),
    ];

    /// <summary>Every defined flag with its kernel name (<c>CLONE_VM</c>, ...), lowest bit first.</summary>
    public static IReadOnlyList<(CloneFlags Flag, string Name)> All => Table;

    /// <summary>The kernel name of one flag bit, or null when the bit is not a defined flag.</summary>
    public static string? NameOf(CloneFlags flag)
    {
        foreach (var (f, n) in Table)
        {
            if (f == flag)
            {
                return n;
            }
        }
        return null;
    }

    /// <summary>
    /// Formats a flag word as kernel names joined by <c>|</c>; bits with no name (bits 0..6 and 34..63) are
    /// appended as one hexadecimal number. Zero formats as <c>0</c>.
    /// </summary>
    public static string Format(CloneFlags flags)
    {
        if (flags == CloneFlags.None)
        {
            return "0";
        }
        var sb = new StringBuilder();
        ulong rest = (ulong)flags;
        foreach (var (f, n) in Table)
        {
            if ((rest & (ulong)f) != 0)
            {
                if (sb.Length > 0)
                {
                    sb.Append('|');
                }
                sb.Append(n);
                rest &= ~(ulong)f;
            }
        }
        if (rest != 0)
        {
            if (sb.Length > 0)
            {
                sb.Append('|');
            }
            sb.Append("0x").Append(rest.ToString("x", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>
    /// Parses a list of flag names (case-insensitive, <c>CLONE_</c> prefix optional) and numbers (decimal or
    /// <c>0x</c> hexadecimal) joined by <c>|</c> or <c>,</c>. An empty string is no flag.
    /// </summary>
    /// <exception cref="FormatException">An unknown name or a malformed number; the message names it.</exception>
    public static CloneFlags Parse(string text)
    {
        if (!TryParse(text, out var flags, out var error))
        {
            throw new FormatException(error);
        }
        return flags;
    }

    /// <summary>Parses like <see cref="Parse"/>; on failure returns false and a message naming the bad token.</summary>
    public static bool TryParse(string text, out CloneFlags flags, out string? error)
    {
        flags = CloneFlags.None;
        error = null;
        ulong value = 0;
        foreach (var raw in text.Split(['|', ','], StringSplitOptions.TrimEntries))
        {
            if (raw.Length == 0)
            {
                if (text.Trim().Length == 0)
                {
                    continue;
                }
                error = $"empty flag name in '{text}'";
                return false;
            }
            if (NumberText.TryParseUInt64(raw, out ulong number))
            {
                value |= number;
                continue;
            }
            if (char.IsAsciiDigit(raw[0]))
            {
                error = $"malformed number '{raw}' in the flag list";
                return false;
            }
            string name = raw.StartsWith("CLONE_", StringComparison.OrdinalIgnoreCase) ? raw : "CLONE_" + raw;
            bool found = false;
            foreach (var (f, n) in Table)
            {
                if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                {
                    value |= (ulong)f;
                    found = true;
                    break;
                }
            }
            if (!found)
            {
                error = $"unknown clone flag '{raw}'" + Suggest(name);
                return false;
            }
        }
        flags = (CloneFlags)value;
        return true;
    }

    private static string Suggest(string name)
    {
        string upper = name.ToUpperInvariant();
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var (_, n) in Table)
        {
            int d = Distance(upper, n);
            if (d < bestDistance)
            {
                bestDistance = d;
                best = n;
            }
        }
        return bestDistance <= 3 ? $" (did you mean {best}?)" : " (see 'forklift explain --help' for the names)";
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}

/// <summary>Number parsing shared by the flag, signal and address parsers: decimal, or hexadecimal after <c>0x</c>.</summary>
public static class NumberText
{
    /// <summary>Parses a decimal or <c>0x</c>-prefixed hexadecimal unsigned 64-bit number (underscores allowed).</summary>
    public static bool TryParseUInt64(string text, out ulong value)
    {
        string t = text.Trim().Replace("_", "", StringComparison.Ordinal);
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }
        return ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Parses a signed 64-bit number: decimal with an optional minus sign, or <c>0x</c> hexadecimal.</summary>
    public static bool TryParseInt64(string text, out long value)
    {
        string t = text.Trim().Replace("_", "", StringComparison.Ordinal);
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            bool ok = ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong u);
            value = (long)u;
            return ok;
        }
        return long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }
}
