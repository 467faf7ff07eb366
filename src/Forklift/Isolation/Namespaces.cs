using Forklift.Abi;

namespace Forklift.Isolation;

/// <summary>The eight namespace types (namespaces(7)), as a set.</summary>
[Flags]
public enum Namespaces
{
    /// <summary>No namespace.</summary>
    None = 0,
    /// <summary>User namespace (CLONE_NEWUSER): ids and capabilities of its own.</summary>
    User = 1,
    /// <summary>Pid namespace (CLONE_NEWPID): the child is pid 1 of a new pid space.</summary>
    Pid = 2,
    /// <summary>Mount namespace (CLONE_NEWNS): a private copy of the mount table.</summary>
    Mount = 4,
    /// <summary>UTS namespace (CLONE_NEWUTS): hostname and NIS domain name.</summary>
    Uts = 8,
    /// <summary>IPC namespace (CLONE_NEWIPC): System V IPC and POSIX message queues.</summary>
    Ipc = 16,
    /// <summary>Network namespace (CLONE_NEWNET): interfaces, routes, sockets; only a loopback device at first.</summary>
    Net = 32,
    /// <summary>Cgroup namespace (CLONE_NEWCGROUP): the child's cgroup becomes the root of its view.</summary>
    Cgroup = 64,
    /// <summary>Time namespace (CLONE_NEWTIME): offsets for CLOCK_MONOTONIC and CLOCK_BOOTTIME.</summary>
    Time = 128,
    /// <summary>All eight.</summary>
    All = 255,
}

/// <summary>Names, clone flags and /proc file names of <see cref="Namespaces"/>.</summary>
public static class NamespaceKinds
{
    /// <summary>The eight types, in the order the kernel requires for setns (user first: it grants the rights the others need).</summary>
    public static IReadOnlyList<Namespaces> JoinOrder { get; } =
        [Namespaces.User, Namespaces.Mount, Namespaces.Pid, Namespaces.Uts, Namespaces.Ipc, Namespaces.Net, Namespaces.Cgroup, Namespaces.Time];

    /// <summary>The clone flag of one type or a set.</summary>
    public static CloneFlags ToCloneFlags(Namespaces kinds)
    {
        CloneFlags f = 0;
        if ((kinds & Namespaces.User) != 0) f |= CloneFlags.NewUser;
        if ((kinds & Namespaces.Pid) != 0) f |= CloneFlags.NewPid;
        if ((kinds & Namespaces.Mount) != 0) f |= CloneFlags.NewNs;
        if ((kinds & Namespaces.Uts) != 0) f |= CloneFlags.NewUts;
        if ((kinds & Namespaces.Ipc) != 0) f |= CloneFlags.NewIpc;
        if ((kinds & Namespaces.Net) != 0) f |= CloneFlags.NewNet;
        if ((kinds & Namespaces.Cgroup) != 0) f |= CloneFlags.NewCgroup;
        if ((kinds & Namespaces.Time) != 0) f |= CloneFlags.NewTime;
        return f;
    }

    /// <summary>The namespace types among <paramref name="flags"/>.</summary>
    public static Namespaces FromCloneFlags(CloneFlags flags)
    {
        Namespaces n = 0;
        foreach (var kind in JoinOrder)
            if ((flags & ToCloneFlags(kind)) != 0)
                n |= kind;
        return n;
    }

    /// <summary>The name used by <c>/proc/PID/ns</c> and by the CLI: user, pid, mnt, uts, ipc, net, cgroup, time.</summary>
    public static string ProcName(Namespaces kind) => kind switch
    {
        Namespaces.User => "user",
        Namespaces.Pid => "pid",
        Namespaces.Mount => "mnt",
        Namespaces.Uts => "uts",
        Namespaces.Ipc => "ipc",
        Namespaces.Net => "net",
        Namespaces.Cgroup => "cgroup",
        Namespaces.Time => "time",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "one namespace type"),
    };

    /// <summary>Parses one type: user, pid, mount (or mnt), uts, ipc, net (or network), cgroup, time.</summary>
    public static bool TryParse(string text, out Namespaces kind)
    {
        kind = text.Trim().ToLowerInvariant() switch
        {
            "user" => Namespaces.User,
            "pid" => Namespaces.Pid,
            "mount" or "mnt" or "ns" => Namespaces.Mount,
            "uts" => Namespaces.Uts,
            "ipc" => Namespaces.Ipc,
            "net" or "network" => Namespaces.Net,
            "cgroup" => Namespaces.Cgroup,
            "time" => Namespaces.Time,
            _ => Namespaces.None,
        };
        return kind != Namespaces.None;
    }

    /// <summary>Parses a list (<c>user,pid,mount</c>; <c>all</c>). Returns false with the bad word.</summary>
    public static bool TryParseList(string text, out Namespaces kinds, out string? bad)
    {
        kinds = 0;
        bad = null;
        foreach (var word in text.Split([',', '|', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (word.Equals("all", StringComparison.OrdinalIgnoreCase))
            {
                kinds |= Namespaces.All;
                continue;
            }
            if (!TryParse(word, out var one))
            {
                bad = word;
                return false;
            }
            kinds |= one;
        }
        return true;
    }

    /// <summary>The set as text: <c>user,pid,mnt</c>.</summary>
    public static string Format(Namespaces kinds)
    {
        var names = new List<string>();
        foreach (var kind in JoinOrder)
            if ((kinds & kind) != 0)
                names.Add(ProcName(kind));
        return names.Count == 0 ? "none" : string.Join(',', names);
    }
}
