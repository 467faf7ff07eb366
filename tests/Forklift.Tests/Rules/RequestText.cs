using System.Collections.Immutable;
using System.Globalization;
using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Tests.Rules;

/// <summary>
/// A compact text form for requests and callers, so rule tables read like the kernel's conditions:
/// <c>clone3 flags=VM|SIGHAND exit=CHLD size=88 stack=0x1000+0x1000 set_tid=1,2 pidfd=bad</c> and
/// <c>uid=1000 caps=none kernel=6.8 as-init</c>.
/// </summary>
internal static class RequestText
{
    public static CloneCall Call(string text)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var entry = words[0] switch
        {
            "clone3" => CloneEntry.Clone3,
            "clone" => CloneEntry.Clone,
            "fork" => CloneEntry.Fork,
            "vfork" => CloneEntry.Vfork,
            "clone6" => CloneEntry.Clone6,
            _ => throw new FormatException("entry " + words[0]),
        };
        if (entry is CloneEntry.Fork or CloneEntry.Vfork)
        {
            return entry == CloneEntry.Fork ? CloneCall.Fork() : CloneCall.Vfork();
        }
        var a = new CloneArgs { SetTidValues = ImmutableArray<int>.Empty };
        ulong size = 88;
        ulong? argsPtr = null;
        uint? readable = null;
        uint tail = 0, upper = 0;
        ulong? raw = null;
        string? pidfd = null, ptid = null, ctid = null;
        foreach (var w in words.Skip(1))
        {
            var (k, v) = w.Split('=', 2) is [var kk, var vv] ? (kk, vv) : (w, "");
            switch (k)
            {
                case "flags": a = a with { Flags = CloneFlagNames.Parse(v) }; break;
                case "exit": a = a with { ExitSignal = char.IsAsciiDigit(v[0]) ? U(v) : (ulong)Signals.Parse(v) }; break;
                case "size": size = U(v); break;
                case "args": argsPtr = Ptr(v, UserPointer.ArgsField); break;
                case "readable": readable = (uint)U(v); break;
                case "tail": tail = (uint)U(v); break;
                case "raw": raw = U(v); break;
                case "words": upper = (uint)U(v); break;
                case "pidfd": pidfd = v; break;
                case "parent_tid": ptid = v; break;
                case "child_tid": ctid = v; break;
                case "stack":
                    var parts = v.Split('+');
                    a = a with { Stack = U(parts[0]), StackSize = parts.Length > 1 ? U(parts[1]) : 0 };
                    break;
                case "tls": a = a with { Tls = U(v) }; break;
                case "cgroup": a = a with { Cgroup = U(v) }; break;
                case "set_tid":
                    var vals = v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToImmutableArray();
                    a = a with { SetTid = UserPointer.Valid(UserPointer.SetTidField), SetTidSize = (ulong)vals.Length, SetTidValues = vals };
                    break;
                case "set_tid_ptr": a = a with { SetTid = Ptr(v, UserPointer.SetTidField) }; break;
                case "set_tid_size": a = a with { SetTidSize = U(v) }; break;
                default: throw new FormatException("key " + k);
            }
        }
        // Pointers default to valid when their flag is set, else NULL (the CLI's rule too).
        ulong parentTid = Ptr(ptid ?? ((a.Flags & CloneFlags.ParentSetTid) != 0 ? "valid" : "null"), UserPointer.ParentTidField);
        ulong childTid = Ptr(ctid ?? ((a.Flags & (CloneFlags.ChildSetTid | CloneFlags.ChildClearTid)) != 0 ? "valid" : "null"), UserPointer.ChildTidField);
        ulong pidfdPtr = pidfd == "same" ? parentTid
            : Ptr(pidfd ?? ((a.Flags & CloneFlags.Pidfd) != 0 ? "valid" : "null"), UserPointer.PidfdField);
        a = a with { ParentTid = parentTid, ChildTid = childTid, Pidfd = pidfdPtr };
        if (entry == CloneEntry.Clone)
        {
            ulong register = raw ?? ((ulong)a.Flags | a.ExitSignal);
            return CloneCall.Legacy(new LegacyCloneRegisters(register, a.Stack, parentTid, childTid, a.Tls));
        }
        var call = entry == CloneEntry.Clone6 ? CloneCall.Clone6(a, size, upper) : CloneCall.Clone3(a, size);
        return call with
        {
            ArgsPointer = argsPtr ?? call.ArgsPointer,
            ReadableBytes = readable,
            TailNonZeroAt = tail,
        };
    }

    public static CallerContext Context(string text)
    {
        var c = CallerContext.Root;
        foreach (var w in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var (k, v) = w.Split('=', 2) is [var kk, var vv] ? (kk, vv) : (w, "");
            c = k switch
            {
                "uid" => c with { Uid = uint.Parse(v, CultureInfo.InvariantCulture), IsGlobalRoot = v == "0" },
                "caps" => c with { Capabilities = Capabilities.TryParse(v, out var set, out _) ? set : throw new FormatException(v) },
                "kernel" => c with { Kernel = KernelVersion.TryParse(v, out var kv) ? kv : throw new FormatException(v) },
                "userns" => c with { UserNsLevel = int.Parse(v, CultureInfo.InvariantCulture) },
                "unmapped" => c with { UidMapped = false, UserNsLevel = Math.Max(1, c.UserNsLevel) },
                "as-init" => c with { IsPidNsInit = true, PidNsLevel = c.PidNsLevel + 1, PidsInUse = [new HashSet<int> { 1 }] },
                "pidns" => c with { PidNsLevel = int.Parse(v, CultureInfo.InvariantCulture) },
                "pidns-owned" => c with { PidNsLevelsOwned = int.Parse(v, CultureInfo.InvariantCulture) },
                "unshared-pid" => c with { PidNsForChildrenUnshared = true },
                "unshared-time" => c with { TimeNsForChildrenUnshared = true },
                "init-exited" => c with { PidNsForChildrenUnshared = true, PidNsForChildrenInitExited = true },
                "chrooted" => c with { Chrooted = true },
                "nproc" => c with { RlimitNproc = ulong.Parse(v, CultureInfo.InvariantCulture) },
                "procs" => c with { UserProcesses = long.Parse(v, CultureInfo.InvariantCulture) },
                "deadline" => c with { SchedDeadline = true },
                "limit" => Limit(c, v),
                "pid_max" => c with { PidMax = int.Parse(v, CultureInfo.InvariantCulture) },
                "in-use" => c with { PidsInUse = [v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToHashSet()] },
                "no-fd" => c with { NoFreeFd = true },
                "signal-pending" => c with { SignalPending = true },
                "fatal-signal" => c with { FatalSignalPending = true },
                "threads-max" => c with { ThreadsAtMax = true },
                "fs-in-exec" => c with { FsInExec = true },
                "pid-space-full" => c with { PidSpaceFull = true },
                "pids-max" => c with { PidsControllerAtMax = true },
                "owner-outside" => c with { PidNsOwnerOutsideUserNs = true },
                "exit-check" => c with { ExitSignalCheckedInKernelClone = true },
                "la57" => c with { TaskSizeMax = 0x00ff_ffff_ffff_f000 },
                _ => throw new FormatException("context key " + k),
            };
        }
        return c;
    }

    private static CallerContext Limit(CallerContext c, string v)
    {
        var (t, n) = v.Split(':') is [var tt, var nn] ? (tt, nn) : throw new FormatException(v);
        return NamespaceTypes.TryParse(t, out var type) ? c.WithNamespaceLimit(type, long.Parse(n, CultureInfo.InvariantCulture)) : throw new FormatException(t);
    }

    private static ulong U(string v) => NumberText.TryParseUInt64(v, out ulong u) ? u : throw new FormatException(v);

    private static ulong Ptr(string v, int field) => v switch
    {
        "null" => 0,
        "valid" => UserPointer.Valid(field),
        "bad" => UserPointer.Bad(field),
        _ => U(v),
    };

    public static CgroupTarget Cgroup(string text) =>
        text.Length == 0 ? default
        : text == "same-domain" ? CgroupTarget.Of(CgroupTargetKind.Domain) with { SameDomainAsCaller = true }
        : CgroupTarget.TryParseKind(text, out var t) ? t : throw new FormatException(text);
}
