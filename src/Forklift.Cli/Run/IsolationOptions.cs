using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using Forklift.Isolation;
using Forklift.Rules;
using SpawnCommand = Forklift.Spawning.Command;
using static Forklift.Cli.Run.RunOptions;

namespace Forklift.Cli.Run;

/// <summary>
/// The isolation options of <c>forklift run</c> (namespaces, id maps, mounts, hostname, time, capabilities, the
/// sandbox preset), spelled as the contract fixes them, and their translation into the library's
/// <see cref="Forklift.Isolation.Isolation"/>.
/// </summary>
internal sealed class IsolationOptions
{
    public readonly Option<bool> Sandbox = Switch("--sandbox",
        "The sandbox preset: new user, pid, mount, uts, ipc, net and cgroup namespaces, root mapped to you, a read-only / with " +
        "a private /tmp, fresh /proc and minimal /dev, hostname 'forklift', loopback only, no_new_privs, no capabilities, " +
        "killed when forklift dies. The options below adjust it.");
    public readonly Option<string?> Unshare = Text("--unshare", "LIST", "New namespaces: user,pid,mount,uts,ipc,net,cgroup,time (or all).");
    public readonly Option<bool> MapRoot = Switch("--map-root", "Map root inside the new user namespace to your uid and gid (implies --unshare user).");
    public readonly Option<bool> MapUser = Switch("--map-user", "Map your uid and gid to themselves inside the new user namespace (implies --unshare user).");
    public readonly Option<string[]> UidMap = Repeatable("--uid-map", "IN:OUT:COUNT", "A uid_map line (implies --unshare user); repeatable.");
    public readonly Option<string[]> GidMap = Repeatable("--gid-map", "IN:OUT:COUNT", "A gid_map line (implies --unshare user); repeatable.");
    public readonly Option<string?> Setgroups = Text("--setgroups", "deny|allow", "/proc/PID/setgroups of the new user namespace (default deny).");
    public readonly Option<string[]> JoinNs = Repeatable("--join-ns", "TYPE=PATH", "Enter an existing namespace (such as net=/proc/1234/ns/net) before anything else; repeatable.");
    public readonly Option<string?> Hostname = Text("--hostname", "NAME", "The hostname in a new UTS namespace (implies --unshare uts).");
    public readonly Option<bool> ShareNet = Switch("--share-net", "With --sandbox: keep this host's network namespace.");
    public readonly Option<string[]> Bind = Repeatable("--bind", "SRC[:DST]", "Bind SRC at DST (default: the same path) writable (implies --unshare mount); repeatable.");
    public readonly Option<string[]> RoBind = Repeatable("--ro-bind", "SRC[:DST]", "Bind SRC at DST read-only (implies --unshare mount); repeatable.");
    public readonly Option<string[]> Tmpfs = Repeatable("--tmpfs", "DST[:SIZE]", "A tmpfs at DST, SIZE with K, M or G (implies --unshare mount); repeatable.");
    public readonly Option<bool> Proc = Switch("--proc", "A fresh /proc (implies --unshare mount; shows the new pid namespace with --unshare pid).");
    public readonly Option<bool> Dev = Switch("--dev", "A minimal /dev: null, zero, full, random, urandom, tty, pts, shm (implies --unshare mount).");
    public readonly Option<bool> Pid1 = Switch("--pid1", "In a new pid namespace, run the program itself as pid 1 (default: under forklift-init, which forwards signals and reaps).");
    public readonly Option<string?> SetTid = Text("--set-tid", "LIST", "clone3 set_tid: the pid in each pid namespace, innermost first, joined by ','.");
    public readonly Option<string[]> TimeOffset = Repeatable("--time-offset", "monotonic=SECONDS|boottime=SECONDS",
        "A clock offset in a new time namespace (implies --unshare time); repeatable.");
    public readonly Option<string?> CapDrop = Text("--cap-drop", "LIST", "Capabilities the program loses (names or numbers joined by ',', or all).");
    public readonly Option<string?> CapAdd = Text("--cap-add", "LIST", "Capabilities the program keeps (with --sandbox: keeps them instead of none).");

    /// <summary>Every option, in help order.</summary>
    public IEnumerable<Option> All =>
    [
        Sandbox, Unshare, MapRoot, MapUser, UidMap, GidMap, Setgroups, JoinNs, Hostname, ShareNet, Bind, RoBind, Tmpfs, Proc, Dev,
        Pid1, SetTid, TimeOffset, CapDrop, CapAdd,
    ];

    /// <summary>Applies the isolation options to <paramref name="c"/>.</summary>
    /// <exception cref="UsageException">A value is malformed, or options contradict each other.</exception>
    public SpawnCommand Apply(ParseResult r, SpawnCommand c)
    {
        bool sandbox = r.GetValue(Sandbox);
        uint uid = HostFacts.EffectiveUserId(), gid = HostFacts.EffectiveGroupId();
        var iso = Forklift.Isolation.Isolation.None;
        var sandboxOptions = new SandboxOptions();
        if (sandbox)
        {
            if (r.GetValue(CapDrop) is not null)
                throw new UsageException("--cap-drop with --sandbox: the sandbox already drops every capability; use --cap-add to keep some");
            sandboxOptions = sandboxOptions with
            {
                ShareNetwork = r.GetValue(ShareNet),
                Hostname = r.GetValue(Hostname) ?? sandboxOptions.Hostname,
                ProgramIsPid1 = r.GetValue(Pid1),
                Capabilities = r.GetValue(CapAdd) is { } keep ? CapabilityPolicy.KeepOnly(Caps("--cap-add", keep)) : CapabilityPolicy.None,
            };
            iso = Forklift.Isolation.Sandbox.Isolation(sandboxOptions, uid, gid);
            c = c.WithNoNewPrivileges().WithParentDeathSignal(sandboxOptions.ParentDeathSignal);
        }
        else if (r.GetValue(ShareNet))
        {
            throw new UsageException("--share-net is for --sandbox (without it the network is shared unless --unshare net)");
        }

        var kinds = iso.NewNamespaces;
        if (r.GetValue(Unshare) is { } unshare)
        {
            if (!NamespaceKinds.TryParseList(unshare, out var more, out var bad))
                throw new UsageException($"--unshare '{unshare}': unknown namespace '{bad}' (use user, pid, mount, uts, ipc, net, cgroup, time or all)");
            if (sandbox && r.GetValue(ShareNet) && (more & Namespaces.Net) != 0)
                throw new UsageException("--share-net and --unshare net contradict each other: choose one");
            kinds |= more;
        }

        // User namespace maps
        var uidMap = Ranges("--uid-map", r.GetValue(UidMap));
        var gidMap = Ranges("--gid-map", r.GetValue(GidMap));
        bool mapRoot = r.GetValue(MapRoot), mapUser = r.GetValue(MapUser);
        if (mapRoot && mapUser)
            throw new UsageException("--map-root and --map-user contradict each other: choose one");
        if ((mapRoot || mapUser) && (!uidMap.IsEmpty || !gidMap.IsEmpty))
            throw new UsageException($"{(mapRoot ? "--map-root" : "--map-user")} with --uid-map/--gid-map: give either the shorthand or the explicit lines");
        var setgroups = r.GetValue(Setgroups) switch
        {
            null or "deny" => SetgroupsPolicy.Deny,
            "allow" => SetgroupsPolicy.Allow,
            var other => throw new UsageException($"--setgroups '{other}': expected deny or allow"),
        };
        UserNamespaceMapping? mapping = iso.UserMapping;
        if (mapRoot)
            mapping = UserNamespaceMapping.RootToCaller(uid, gid) with { Setgroups = setgroups };
        else if (mapUser)
            mapping = UserNamespaceMapping.CallerToItself(uid, gid) with { Setgroups = setgroups };
        else if (!uidMap.IsEmpty || !gidMap.IsEmpty)
            mapping = UserNamespaceMapping.Explicit(uidMap, gidMap, setgroups);
        else if (mapping is not null && r.GetValue(Setgroups) is not null)
            mapping = mapping with { Setgroups = setgroups };
        else if (r.GetValue(Setgroups) is not null)
            throw new UsageException("--setgroups needs id maps (--map-root, --map-user, --uid-map/--gid-map or --sandbox)");
        if (mapping is not null)
            kinds |= Namespaces.User;

        // Joins
        var joins = ImmutableArray.CreateBuilder<NamespaceJoin>();
        foreach (var text in r.GetValue(JoinNs) ?? [])
        {
            int eq = text.IndexOf('=');
            if (eq <= 0 || eq == text.Length - 1 || !NamespaceKinds.TryParse(text[..eq], out var kind))
                throw new UsageException($"--join-ns '{text}': expected TYPE=PATH with TYPE one of user, pid, mnt, uts, ipc, net, cgroup, time");
            joins.Add(NamespaceJoin.FromPath(kind, text[(eq + 1)..]));
        }

        // Mounts (after the sandbox's own /tmp, before its /proc and /dev)
        var mounts = iso.Mounts.ToList();
        int insertAt = sandbox ? mounts.FindIndex(m => m is MountOperation.Proc) : mounts.Count;
        void Add(MountOperation op) => mounts.Insert(insertAt++, op);
        foreach (var text in r.GetValue(Tmpfs) ?? [])
        {
            int colon = text.IndexOf(':');
            string dst = colon < 0 ? text : text[..colon];
            ulong? size = colon < 0 ? null : RunCgroupOptions.Size("--tmpfs", text[(colon + 1)..]);
            if (size == 0)
                throw new UsageException($"--tmpfs '{text}': a size of 0 would mean no limit to tmpfs; leave the size out for that");
            Add(new MountOperation.Tmpfs(Absolute("--tmpfs", dst), size));
        }
        foreach (var (option, readOnly) in new[] { (Bind, false), (RoBind, true) })
        {
            foreach (var text in r.GetValue(option) ?? [])
            {
                var (src, dst) = BindPaths(option.Name, text);
                Add(new MountOperation.Bind(Path.GetFullPath(src), Absolute(option.Name, dst), readOnly));
            }
        }
        if (!sandbox && r.GetValue(Proc))
            mounts.Add(new MountOperation.Proc());
        if (!sandbox && r.GetValue(Dev))
            mounts.Add(new MountOperation.Devices());
        if (mounts.Count > 0)
            kinds |= Namespaces.Mount;

        string? hostname = sandbox ? iso.Hostname : r.GetValue(Hostname);
        if (hostname is not null)
            kinds |= Namespaces.Uts;

        TimeOffsets? offsets = null;
        foreach (var text in r.GetValue(TimeOffset) ?? [])
            offsets = Offset(text, offsets ?? default);
        if (offsets is not null)
            kinds |= Namespaces.Time;

        bool pid1 = r.GetValue(Pid1);
        if (pid1 && (kinds & Namespaces.Pid) == 0)
            throw new UsageException("--pid1 needs a new pid namespace (--unshare pid or --sandbox)");

        var setTid = ImmutableArray<int>.Empty;
        if (r.GetValue(SetTid) is { } tids)
            setTid = [.. tids.Split(',', StringSplitOptions.TrimEntries).Select(t =>
                int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
                : throw new UsageException($"--set-tid '{tids}': '{t}' is not a pid"))];

        CapabilityPolicy? caps = iso.Capabilities;
        if (!sandbox && (r.GetValue(CapDrop) is not null || r.GetValue(CapAdd) is not null))
        {
            ulong keep = CallerContextReader.Live().Capabilities;
            if (r.GetValue(CapAdd) is { } add)
                keep |= Caps("--cap-add", add);
            if (r.GetValue(CapDrop) is { } drop)
                keep &= ~Caps("--cap-drop", drop);
            caps = CapabilityPolicy.KeepOnly(keep);
        }

        iso = iso with
        {
            NewNamespaces = kinds,
            UserMapping = mapping,
            Joins = joins.ToImmutable(),
            Mounts = [.. mounts],
            Hostname = hostname,
            TimeOffsets = offsets,
            ProgramIsPid1 = pid1,
            SetTid = setTid,
            Capabilities = caps,
        };
        return iso.IsEmpty ? c : c.WithIsolation(iso);
    }

    /// <summary>The CLI option for an isolation property, for library errors.</summary>
    public static string? OptionName(string property) => property switch
    {
        "Isolation.NewNamespaces" => "--unshare",
        "Isolation.Joins" => "--join-ns",
        "Isolation.UserMapping" => "--uid-map/--gid-map/--map-root/--map-user",
        "Isolation.ProgramIsPid1" => "--pid1",
        "Isolation.Mounts" => "--bind/--ro-bind/--tmpfs/--proc/--dev",
        "Isolation.Hostname" => "--hostname",
        "Isolation.DomainName" => "--hostname",
        "Isolation.TimeOffsets" => "--time-offset",
        "Isolation.SetTid" => "--set-tid",
        _ => null,
    };

    private static ImmutableArray<IdMapRange> Ranges(string option, string[]? texts)
    {
        var list = ImmutableArray.CreateBuilder<IdMapRange>();
        foreach (var t in texts ?? [])
        {
            if (!IdMapRange.TryParse(t, out var range, out var error))
                throw new UsageException($"{option} '{t}': {error}");
            list.Add(range);
        }
        return list.ToImmutable();
    }

    private static ulong Caps(string option, string text) =>
        Capabilities.TryParse(text, out ulong set, out string? error) ? set : throw new UsageException($"{option} '{text}': {error}");

    private static (string Source, string Destination) BindPaths(string option, string text)
    {
        if (text.Length == 0)
            throw new UsageException($"{option}: expected SRC[:DST], got an empty string");
        if (Path.Exists(text))
            return (text, Path.GetFullPath(text));
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
            throw new UsageException($"{option} '{text}': no such file or directory");
        string src = text[..colon];
        if (!Path.Exists(src))
            throw new UsageException($"{option} '{text}': the source '{src}' does not exist");
        return (src, text[(colon + 1)..]);
    }

    private static string Absolute(string option, string path) =>
        path.StartsWith('/') ? path : throw new UsageException($"{option} '{path}': the destination inside must be an absolute path");

    private static TimeOffsets Offset(string text, TimeOffsets current)
    {
        int eq = text.IndexOf('=');
        string clock = eq < 0 ? "" : text[..eq].Trim().ToLowerInvariant();
        if (eq < 0 || !double.TryParse(text[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) ||
            double.IsNaN(seconds) || Math.Abs(seconds) > 1e11)
            throw new UsageException($"--time-offset '{text}': expected monotonic=SECONDS or boottime=SECONDS");
        var offset = TimeSpan.FromSeconds(seconds);
        return clock switch
        {
            "monotonic" => current with { Monotonic = offset },
            "boottime" => current with { Boottime = offset },
            _ => throw new UsageException($"--time-offset '{text}': the clock is monotonic or boottime, not '{clock}'"),
        };
    }
}
