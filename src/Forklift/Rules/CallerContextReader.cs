using System.Collections;
using System.Collections.Immutable;
using System.Globalization;
using Forklift.Interop;

namespace Forklift.Rules;

/// <summary>Reads a <see cref="CallerContext"/> from the running process (<c>/proc/self</c>, <c>/proc/sys</c>, prctl).</summary>
public static class CallerContextReader
{
    /// <summary>
    /// The calling process as it is now. What /proc cannot show is estimated and said so here: the user
    /// namespace level is 0 when uid_map is the identity over the whole range and 1 otherwise; the pid
    /// namespace level counts the levels /proc shows (NSpid); the owners of ancestor pid namespaces are
    /// assumed not to be the caller's; whether the init of an unshared pid namespace has exited is not
    /// detected; namespace counts are taken as zero. Every field can be overridden with <c>with</c>.
    /// </summary>
    public static CallerContext Live()
    {
        var status = ReadKeyValues("/proc/self/status");
        var uids = Fields(status, "Uid");
        uint realUid = uids.Length > 0 ? uint.Parse(uids[0], CultureInfo.InvariantCulture) : 0;
        uint euid = uids.Length > 1 ? uint.Parse(uids[1], CultureInfo.InvariantCulture) : realUid;
        var gids = Fields(status, "Gid");
        uint egid = gids.Length > 1 ? uint.Parse(gids[1], CultureInfo.InvariantCulture) : 0;
        ulong capEff = status.TryGetValue("CapEff", out var ce) ? ulong.Parse(ce, NumberStyles.HexNumber, CultureInfo.InvariantCulture) : 0;
        var nspid = Fields(status, "NSpid");

        string uidMap = KernelFiles.ReadOr("/proc/self/uid_map", "");
        string gidMap = KernelFiles.ReadOr("/proc/self/gid_map", "");
        bool identity = IsIdentity(uidMap);
        int userNsLevel = identity ? 0 : 1;
        bool mapped = Maps(uidMap, euid) && Maps(gidMap, egid);

        int pidLevel = Math.Max(0, nspid.Length - 1);
        bool isInit = nspid.Length > 0 && nspid[^1] == "1";

        var limits = ImmutableArray.CreateBuilder<long>(NamespaceTypes.Count);
        for (int t = 0; t < NamespaceTypes.Count; t++)
        {
            string s = KernelFiles.ReadOr($"/proc/sys/user/max_{NamespaceTypes.Name((NamespaceType)t)}_namespaces", "");
            limits.Add(long.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : long.MaxValue);
        }

        ulong rlimitNproc = ReadNprocLimit();
        long userProcesses = 1;
        if (rlimitNproc != ulong.MaxValue && realUid != 0)
        {
            userProcesses = CountTasksOfUser(realUid);
        }

        bool subreaper = LibcContext.PrctlGetInt(LibcContext.PrGetChildSubreaper, out int sr) == 0 && sr != 0;

        return new CallerContext
        {
            Kernel = KernelVersion.Running,
            Uid = euid,
            IsGlobalRoot = realUid == 0 && identity,
            Capabilities = capEff,
            UserNsLevel = userNsLevel,
            UidMapped = mapped,
            PidNsLevel = pidLevel,
            PidNsLevelsOwned = userNsLevel == 0 ? null : 1,
            IsPidNsInit = isInit,
            PidNsForChildrenUnshared = DiffersFromChildren("pid"),
            TimeNsForChildrenUnshared = DiffersFromChildren("time"),
            Chrooted = IsChrooted(),
            ChildSubreaper = subreaper,
            RlimitNproc = rlimitNproc,
            UserProcesses = userProcesses,
            SchedDeadline = ReadStatField(41) == 6, // SCHED_DEADLINE
            ExitSignal = ReadStatField(38) is int es and > 0 ? es : Abi.Signals.SigChld,
            NamespaceLimits = limits.MoveToImmutable(),
            PidMax = int.TryParse(KernelFiles.ReadOr("/proc/sys/kernel/pid_max", "").Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pm) ? pm : 32768,
            PidsInUse = [new LivePidSet()],
            TaskSizeMax = HasLa57() ? 0x00ff_ffff_ffff_f000UL : Abi.UserPointer.TaskSizeMax4Level,
        };
    }

    private static Dictionary<string, string> ReadKeyValues(string path)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in KernelFiles.ReadOr(path, "").Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                d[line[..colon]] = line[(colon + 1)..].Trim();
            }
        }
        return d;
    }

    private static string[] Fields(Dictionary<string, string> d, string key) =>
        d.TryGetValue(key, out var v) ? v.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries) : [];

    private static bool IsIdentity(string map)
    {
        var f = map.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return f.Length == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295";
    }

    private static bool Maps(string map, uint id)
    {
        foreach (var line in map.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 3 && uint.TryParse(f[0], CultureInfo.InvariantCulture, out uint inside)
                && ulong.TryParse(f[2], CultureInfo.InvariantCulture, out ulong count) && id >= inside && id - inside < count)
            {
                return true;
            }
        }
        return false;
    }

    private static bool DiffersFromChildren(string ns)
    {
        try
        {
            var own = new FileInfo($"/proc/self/ns/{ns}").LinkTarget;
            var children = new FileInfo($"/proc/self/ns/{ns}_for_children").LinkTarget;
            return own != null && children != null && own != children;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    // current_chrooted(): the task's root differs from its mount namespace's root. Seen from here: our "/"
    // is not the root of pid 1 in the same mount namespace (readable by root only; false otherwise).
    private static bool IsChrooted()
    {
        try
        {
            if (new FileInfo("/proc/self/ns/mnt").LinkTarget != new FileInfo("/proc/1/ns/mnt").LinkTarget)
            {
                return false;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        var own = LibcContext.DevIno("/");
        var init = LibcContext.DevIno("/proc/1/root/");
        return own is not null && init is not null && own != init;
    }

    private static ulong ReadNprocLimit()
    {
        foreach (var line in KernelFiles.ReadOr("/proc/self/limits", "").Split('\n'))
        {
            if (line.StartsWith("Max processes", StringComparison.Ordinal))
            {
                var f = line["Max processes".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > 0 && ulong.TryParse(f[0], CultureInfo.InvariantCulture, out ulong v))
                {
                    return v;
                }
            }
        }
        return ulong.MaxValue;
    }

    private static long CountTasksOfUser(uint uid)
    {
        long n = 0;
        foreach (var dir in KernelFiles.Directories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                continue;
            }
            var st = ReadKeyValues(Path.Combine(dir, "status"));
            var u = Fields(st, "Uid");
            if (u.Length > 0 && u[0] == uid.ToString(CultureInfo.InvariantCulture))
            {
                n += st.TryGetValue("Threads", out var t) && long.TryParse(t, CultureInfo.InvariantCulture, out long tc) ? tc : 1;
            }
        }
        return Math.Max(n, 1);
    }

    private static int ReadStatField(int field)
    {
        // /proc/self/stat (proc(5)): field 38 is exit_signal, 41 the policy; the comm field (2) may contain spaces,
        // so count after the last ')'.
        string s = KernelFiles.ReadOr("/proc/self/stat", "");
        int close = s.LastIndexOf(')');
        if (close < 0)
        {
            return 0;
        }
        var f = s[(close + 2)..].Split(' ');
        // f[0] is field 3 (state).
        int i = field - 3;
        return f.Length > i && int.TryParse(f[i], CultureInfo.InvariantCulture, out int p) ? p : 0;
    }

    private static bool HasLa57()
    {
        foreach (var line in KernelFiles.ReadOr("/proc/cpuinfo", "").Split('\n'))
        {
            if (line.StartsWith("flags", StringComparison.Ordinal))
            {
                return line.Contains(" la57", StringComparison.Ordinal);
            }
        }
        return false;
    }

    /// <summary>The tids in use in the caller's pid namespace, read from /proc on first use.</summary>
    private sealed class LivePidSet : IReadOnlySet<int>
    {
        private HashSet<int>? _set;

        private HashSet<int> Set => _set ??= Load();

        private static HashSet<int> Load()
        {
            var set = new HashSet<int> { 1 };
            foreach (var dir in KernelFiles.Directories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                {
                    continue;
                }
                set.Add(pid);
                foreach (var task in KernelFiles.Directories(Path.Combine(dir, "task")))
                {
                    if (int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out int tid))
                    {
                        set.Add(tid);
                    }
                }
            }
            return set;
        }

        public int Count => Set.Count;
        public bool Contains(int item) => Set.Contains(item);
        public IEnumerator<int> GetEnumerator() => Set.GetEnumerator();
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
        public bool IsProperSubsetOf(IEnumerable<int> other) => Set.IsProperSubsetOf(other);
        public bool IsProperSupersetOf(IEnumerable<int> other) => Set.IsProperSupersetOf(other);
        public bool IsSubsetOf(IEnumerable<int> other) => Set.IsSubsetOf(other);
        public bool IsSupersetOf(IEnumerable<int> other) => Set.IsSupersetOf(other);
        public bool Overlaps(IEnumerable<int> other) => Set.Overlaps(other);
        public bool SetEquals(IEnumerable<int> other) => Set.SetEquals(other);
    }
}
