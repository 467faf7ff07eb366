using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Forklift.Isolation;

/// <summary>
/// One line of a uid_map or gid_map (user_namespaces(7)): ids <see cref="Inside"/> ..
/// <see cref="Inside"/>+<see cref="Count"/>-1 in the new namespace are ids <see cref="Outside"/> .. in the parent's.
/// </summary>
/// <param name="Inside">First id inside the new user namespace.</param>
/// <param name="Outside">First id in the parent user namespace.</param>
/// <param name="Count">How many consecutive ids (at least 1).</param>
public readonly record struct IdMapRange(uint Inside, uint Outside, uint Count)
{
    /// <summary>Parses <c>IN:OUT:COUNT</c> (the CLI's <c>--uid-map</c>/<c>--gid-map</c> form; spaces also separate).</summary>
    public static bool TryParse(string text, out IdMapRange range, out string? error)
    {
        range = default;
        var parts = text.Split([':', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length != 3 ||
            !uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint inside) ||
            !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint outside) ||
            !uint.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint count))
        {
            error = $"'{text}' is not IN:OUT:COUNT (three unsigned numbers)";
            return false;
        }
        range = new IdMapRange(inside, outside, count);
        error = range.Problem();
        return error is null;
    }

    /// <summary>Why the kernel would refuse this line (kernel/user_namespace.c map_write), or null.</summary>
    public string? Problem()
    {
        if (Count == 0)
            return "a map line needs a count of at least 1";
        if ((ulong)Inside + Count - 1 > uint.MaxValue - 1 || (ulong)Outside + Count - 1 > uint.MaxValue - 1)
            return $"{this} runs past id 4294967294 (4294967295 is never a valid id)";
        return null;
    }

    /// <summary>The line as the kernel takes it: <c>IN OUT COUNT</c>.</summary>
    public string ToMapLine() => string.Create(CultureInfo.InvariantCulture, $"{Inside} {Outside} {Count}");

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Inside}:{Outside}:{Count}");
}

/// <summary>What <c>/proc/PID/setgroups</c> says in the new user namespace.</summary>
public enum SetgroupsPolicy
{
    /// <summary>
    /// <c>deny</c>: setgroups(2) is refused inside; required for an unprivileged gid map, and keeps a process from
    /// dropping a supplementary group that denies it access (CVE-2014-8989). The default.
    /// </summary>
    Deny,
    /// <summary><c>allow</c>: setgroups(2) works inside once a gid map exists (the gid map then needs privilege).</summary>
    Allow,
}

/// <summary>The uid and gid maps of a new user namespace, and its setgroups policy.</summary>
public sealed record UserNamespaceMapping
{
    /// <summary>uid_map lines (at most 340, the kernel's limit; none: the uid map stays unwritten).</summary>
    public ImmutableArray<IdMapRange> UidMap { get; init; } = [];

    /// <summary>gid_map lines.</summary>
    public ImmutableArray<IdMapRange> GidMap { get; init; } = [];

    /// <summary>setgroups deny (default) or allow.</summary>
    public SetgroupsPolicy Setgroups { get; init; } = SetgroupsPolicy.Deny;

    /// <summary>Root inside is the caller outside (<c>unshare -r</c>, <c>--map-root</c>).</summary>
    public static UserNamespaceMapping RootToCaller(uint callerUid, uint callerGid) => new()
    {
        UidMap = [new IdMapRange(0, callerUid, 1)],
        GidMap = [new IdMapRange(0, callerGid, 1)],
    };

    /// <summary>The caller's ids mean the same inside (<c>--map-user</c>).</summary>
    public static UserNamespaceMapping CallerToItself(uint callerUid, uint callerGid) => new()
    {
        UidMap = [new IdMapRange(callerUid, callerUid, 1)],
        GidMap = [new IdMapRange(callerGid, callerGid, 1)],
    };

    /// <summary>Explicit ranges.</summary>
    public static UserNamespaceMapping Explicit(IEnumerable<IdMapRange> uidMap, IEnumerable<IdMapRange> gidMap,
        SetgroupsPolicy setgroups = SetgroupsPolicy.Deny) => new() { UidMap = [.. uidMap], GidMap = [.. gidMap], Setgroups = setgroups };

    /// <summary>The map text as written in one write(2): one line per range.</summary>
    internal static string MapText(ImmutableArray<IdMapRange> map)
    {
        var sb = new StringBuilder();
        foreach (var r in map)
            sb.Append(r.ToMapLine()).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// True when the child can write both maps itself, without privilege over the parent namespace
    /// (kernel/user_namespace.c new_idmap_permitted): each map is one line of count 1 whose outside id is the
    /// caller's own effective id, and (for gid_map) setgroups is denied first. Everything else needs CAP_SETUID /
    /// CAP_SETGID in the parent namespace, held by the parent, so the parent writes them while the child waits.
    /// </summary>
    internal bool ChildCanWrite(uint callerEuid, uint callerEgid) =>
        (UidMap.IsEmpty || (UidMap.Length == 1 && UidMap[0].Count == 1 && UidMap[0].Outside == callerEuid)) &&
        (GidMap.IsEmpty || (GidMap.Length == 1 && GidMap[0].Count == 1 && GidMap[0].Outside == callerEgid && Setgroups == SetgroupsPolicy.Deny));

    /// <summary>Why the kernel would refuse the maps (overlaps, too many lines, a bad line), or null.</summary>
    internal string? Problem()
    {
        return Check(UidMap, "uid") ?? Check(GidMap, "gid");

        static string? Check(ImmutableArray<IdMapRange> map, string what)
        {
            if (map.Length > 340)
                return $"the {what} map has {map.Length} lines; the kernel takes at most 340";
            for (int i = 0; i < map.Length; i++)
            {
                if (map[i].Problem() is { } p)
                    return $"{what} map line {map[i]}: {p}";
                for (int j = 0; j < i; j++)
                {
                    if (Overlap(map[i].Inside, map[j].Inside, map[i].Count, map[j].Count))
                        return $"{what} map lines {map[j]} and {map[i]} map the same inside id twice";
                    if (Overlap(map[i].Outside, map[j].Outside, map[i].Count, map[j].Count))
                        return $"{what} map lines {map[j]} and {map[i]} map the same outside id twice";
                }
            }
            return null;
        }

        static bool Overlap(uint a, uint b, uint na, uint nb) => (ulong)a < (ulong)b + nb && (ulong)b < (ulong)a + na;
    }
}
