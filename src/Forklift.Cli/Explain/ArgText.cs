using System.Globalization;
using Forklift.Abi;

namespace Forklift.Cli.Explain;

/// <summary>Parses option values; every failure is a <see cref="UsageException"/> naming the option and the value.</summary>
internal static class ArgText
{
    /// <summary>A decimal or <c>0x</c> hexadecimal unsigned number.</summary>
    public static ulong UInt64(string option, string text) =>
        NumberText.TryParseUInt64(text, out ulong v) ? v : throw Malformed(option, text);

    /// <summary>An unsigned number that fits in 32 bits.</summary>
    public static uint UInt32(string option, string text)
    {
        ulong v = UInt64(option, text);
        return v <= uint.MaxValue ? (uint)v : throw new UsageException($"{option} {text}: out of range (at most {uint.MaxValue})");
    }

    /// <summary>A non-negative number that fits in an int, at most <paramref name="max"/>.</summary>
    public static int Count(string option, string text, int max)
    {
        ulong v = UInt64(option, text);
        return v <= (ulong)max ? (int)v : throw new UsageException($"{option} {text}: out of range (0..{max})");
    }

    /// <summary>An address, or <c>null</c> for 0.</summary>
    public static ulong Address(string option, string text) =>
        text.Trim().Equals("null", StringComparison.OrdinalIgnoreCase) ? 0 : UInt64(option, text);

    /// <summary>A pointer state: valid, null or bad.</summary>
    public static PointerState Pointer(string option, string text) => text.Trim().ToLowerInvariant() switch
    {
        "valid" => PointerState.Valid,
        "null" => PointerState.Null,
        "bad" => PointerState.Bad,
        _ => throw new UsageException($"{option} '{text}': expected valid, null or bad"),
    };

    /// <summary>A number or <c>unlimited</c>/<c>infinity</c> (<see cref="ulong.MaxValue"/>).</summary>
    public static ulong Limit(string option, string text)
    {
        string t = text.Trim().ToLowerInvariant();
        return t is "unlimited" or "infinity" or "-1" ? ulong.MaxValue : UInt64(option, text);
    }

    /// <summary>A comma-separated list of pids (signed: a negative pid is a legal what-if).</summary>
    public static int[] Pids(string option, string text)
    {
        var parts = text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var pids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!NumberText.TryParseInt64(parts[i], out long v) || v is < int.MinValue or > int.MaxValue)
            {
                throw Malformed(option, parts[i]);
            }
            pids[i] = (int)v;
        }
        return pids;
    }

    public static UsageException Malformed(string option, string text) =>
        new($"{option}: malformed number '{text}' (use decimal or 0x hexadecimal)");

    /// <summary>Formats a number the way messages show it.</summary>
    public static string Decimal(ulong v) => v.ToString(CultureInfo.InvariantCulture);
}
