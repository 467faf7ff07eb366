using System.Globalization;
using System.Text;

namespace Forklift.Rules;

/// <summary>Linux capability numbers (include/uapi/linux/capability.h) and a 64-bit set of them.</summary>
public static class Capabilities
{
    /// <summary>CAP_SYS_ADMIN (21).</summary>
    public const int SysAdmin = 21;
    /// <summary>CAP_SYS_RESOURCE (24).</summary>
    public const int SysResource = 24;
    /// <summary>CAP_CHECKPOINT_RESTORE (40, since 5.9).</summary>
    public const int CheckpointRestore = 40;
    /// <summary>The highest capability defined on 6.18 (CAP_CHECKPOINT_RESTORE).</summary>
    public const int Last = 40;

    /// <summary>Every capability 0..40.</summary>
    public const ulong All = (1UL << (Last + 1)) - 1;

    private static readonly string[] Names =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>True when <paramref name="set"/> holds capability <paramref name="cap"/>.</summary>
    public static bool Has(ulong set, int cap) => (set & (1UL << cap)) != 0;

    /// <summary>The name of a capability number.</summary>
    public static string Name(int cap) => cap is >= 0 and <= Last ? Names[cap] : "CAP_" + cap.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Parses <c>all</c>, <c>none</c>, or names (prefix <c>CAP_</c> optional, case-insensitive) and numbers joined by
    /// <c>,</c> or <c>|</c>.
    /// </summary>
    public static bool TryParse(string text, out ulong set, out string? error)
    {
        set = 0;
        error = null;
        string t = text.Trim();
        if (t.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            set = All;
            return true;
        }
        if (t.Equals("none", StringComparison.OrdinalIgnoreCase) || t.Length == 0)
        {
            return true;
        }
        foreach (var raw in t.Split([',', '|'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 0 and <= 63)
            {
                set |= 1UL << n;
                continue;
            }
            string name = raw.StartsWith("CAP_", StringComparison.OrdinalIgnoreCase) ? raw : "CAP_" + raw;
            int idx = Array.FindIndex(Names, x => x.Equals(name, StringComparison.OrdinalIgnoreCase));
            if (idx < 0)
            {
                error = $"unknown capability '{raw}'";
                return false;
            }
            set |= 1UL << idx;
        }
        return true;
    }

    /// <summary>Formats a set as <c>all</c>, <c>none</c>, or names joined by <c>,</c>.</summary>
    public static string Format(ulong set)
    {
        if ((set & All) == All)
        {
            return "all";
        }
        if (set == 0)
        {
            return "none";
        }
        var sb = new StringBuilder();
        for (int c = 0; c < 64; c++)
        {
            if (Has(set, c))
            {
                if (sb.Length > 0)
                {
                    sb.Append(',');
                }
                sb.Append(Name(c));
            }
        }
        return sb.ToString();
    }
}

/// <summary>The eight namespace types, in the order <c>create_new_namespaces</c> creates them (user first, by copy_creds).</summary>
public enum NamespaceType
{
    /// <summary>User namespace (created by copy_creds, before the others).</summary>
    User,
    /// <summary>Mount namespace.</summary>
    Mnt,
    /// <summary>UTS namespace.</summary>
    Uts,
    /// <summary>IPC namespace.</summary>
    Ipc,
    /// <summary>PID namespace.</summary>
    Pid,
    /// <summary>Cgroup namespace.</summary>
    Cgroup,
    /// <summary>Network namespace.</summary>
    Net,
    /// <summary>Time namespace.</summary>
    Time,
}

/// <summary>Helpers for <see cref="NamespaceType"/>.</summary>
public static class NamespaceTypes
{
    /// <summary>Number of types.</summary>
    public const int Count = 8;

    /// <summary>The clone flag that creates a namespace of this type.</summary>
    public static Abi.CloneFlags Flag(NamespaceType t) => t switch
    {
        NamespaceType.User => Abi.CloneFlags.NewUser,
        NamespaceType.Mnt => Abi.CloneFlags.NewNs,
        NamespaceType.Uts => Abi.CloneFlags.NewUts,
        NamespaceType.Ipc => Abi.CloneFlags.NewIpc,
        NamespaceType.Pid => Abi.CloneFlags.NewPid,
        NamespaceType.Cgroup => Abi.CloneFlags.NewCgroup,
        NamespaceType.Net => Abi.CloneFlags.NewNet,
        _ => Abi.CloneFlags.NewTime,
    };

    /// <summary>The lower-case name used in <c>/proc/sys/user/max_&lt;name&gt;_namespaces</c> and <c>/proc/PID/ns</c>.</summary>
    public static string Name(NamespaceType t) => t switch
    {
        NamespaceType.User => "user",
        NamespaceType.Mnt => "mnt",
        NamespaceType.Uts => "uts",
        NamespaceType.Ipc => "ipc",
        NamespaceType.Pid => "pid",
        NamespaceType.Cgroup => "cgroup",
        NamespaceType.Net => "net",
        _ => "time",
    };

    /// <summary>Parses a type name (also <c>mount</c> for mnt, <c>network</c> for net).</summary>
    public static bool TryParse(string text, out NamespaceType type)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "user": type = NamespaceType.User; return true;
            case "mnt": case "mount": case "ns": type = NamespaceType.Mnt; return true;
            case "uts": type = NamespaceType.Uts; return true;
            case "ipc": type = NamespaceType.Ipc; return true;
            case "pid": type = NamespaceType.Pid; return true;
            case "cgroup": type = NamespaceType.Cgroup; return true;
            case "net": case "network": type = NamespaceType.Net; return true;
            case "time": type = NamespaceType.Time; return true;
            default: type = default; return false;
        }
    }
}
