using System.Collections.Immutable;
using System.Globalization;
using Forklift.Abi;
using Forklift.Interop;

namespace Forklift.Spawning;

/// <summary>
/// One step of a plan, as managed data: the op and its arguments exactly as they go into <c>fl_spawn_step</c>,
/// plus what an error message uses: the step's name and object (<c>Dup2(fd 1)</c>, <c>/var/log/x</c>). The name
/// and most objects are derived from the op and its arguments when asked for (an error, a dump), not on every
/// spawn; only an object the arguments do not carry (what a dup2 source is) is stored.
/// </summary>
/// <param name="Op">An <c>FL_OP_*</c> value (<see cref="SpawnOp"/>).</param>
/// <param name="A">Argument a.</param>
/// <param name="B">Argument b.</param>
/// <param name="C">Argument c.</param>
/// <param name="Str">The string argument (a path), or null.</param>
/// <param name="Ids">The id array of SETGROUPS, or default.</param>
/// <param name="StoredObject">The object when it cannot be derived from the arguments, or null.</param>
internal readonly record struct PlanStep(int Op, long A, long B, long C, string? Str, ImmutableArray<uint> Ids, string? StoredObject)
{
    public static PlanStep Of(int op, long a = 0, long b = 0, long c = 0, string? str = null, string? obj = null) =>
        new(op, a, b, c, str, default, obj);

    /// <summary>
    /// The step's byte payload (the <c>ptr</c> of WRITE_FILE, MOUNT, SYMLINK), laid out as UTF-8 with a final NUL;
    /// it may hold NULs of its own (MOUNT packs three strings). Null: no payload.
    /// </summary>
    public string? Data { get; init; }

    /// <summary>WRITE_FILE: write <paramref name="text"/> to <paramref name="path"/> in one write(2).</summary>
    public static PlanStep WriteFile(string path, string text, string? name = null) =>
        new(SpawnOp.WriteFile, System.Text.Encoding.UTF8.GetByteCount(text), 0, 0, path, default, name) { Data = text };

    /// <summary>The step's name in errors: <c>Dup2(fd 1)</c>, <c>SignalDefault(SIGPIPE)</c>, <c>Chdir</c>.</summary>
    public string Name => Op switch
    {
        SpawnOp.WaitParent => "WaitParent",
        SpawnOp.Setsid => "Setsid",
        SpawnOp.Setpgid => "Setpgid",
        SpawnOp.SetRlimit => $"SetRlimit({ResourceLimits.Name((ResourceLimit)A)})",
        SpawnOp.Umask => "Umask",
        SpawnOp.SetGroups => "Setgroups",
        SpawnOp.SetResGid => "Setresgid",
        SpawnOp.SetResUid => "Setresuid",
        SpawnOp.Chdir => "Chdir",
        SpawnOp.DupAbove => $"DupAbove(fd {A.ToString(CultureInfo.InvariantCulture)})",
        SpawnOp.CloseRange => $"CloseRange({A.ToString(CultureInfo.InvariantCulture)}..)",
        SpawnOp.Dup2 => $"Dup2(fd {B.ToString(CultureInfo.InvariantCulture)})",
        SpawnOp.Open => $"Open(fd {A.ToString(CultureInfo.InvariantCulture)})",
        SpawnOp.SetCtty => $"SetCtty(fd {A.ToString(CultureInfo.InvariantCulture)})",
        SpawnOp.Tcsetpgrp => $"Tcsetpgrp(fd {A.ToString(CultureInfo.InvariantCulture)})",
        SpawnOp.SignalDefault => $"SignalDefault({Signals.Name(A)})",
        SpawnOp.SignalIgnore => $"SignalIgnore({Signals.Name(A)})",
        SpawnOp.Pdeathsig => "Pdeathsig",
        SpawnOp.NoNewPrivs => "NoNewPrivs",
        SpawnOp.WriteFile => "WriteFile",
        SpawnOp.Setns => $"Setns({NamespaceName(B)})",
        SpawnOp.Unshare => $"Unshare({Isolation.NamespaceKinds.Format(Isolation.NamespaceKinds.FromCloneFlags((Abi.CloneFlags)A))})",
        SpawnOp.Mount => $"Mount({MountType})",
        SpawnOp.Mkdir => "Mkdir",
        SpawnOp.SetHostname => "Sethostname",
        SpawnOp.SetDomainName => "Setdomainname",
        SpawnOp.LoopbackUp => "LoopbackUp",
        SpawnOp.OpenTree => "OpenTree",
        SpawnOp.MoveMount => "MoveMount",
        SpawnOp.MountSetattr => "MountSetattr",
        SpawnOp.CreateFile => "CreateFile",
        SpawnOp.Symlink => "Symlink",
        SpawnOp.KeepCaps => "KeepCaps",
        SpawnOp.CapBsetDrop => "CapBoundingDrop",
        SpawnOp.Capset => "Capset",
        SpawnOp.Ambient => "AmbientCaps",
        SpawnOp.Init => "Init",
        SpawnOp.JoinCgroup => $"CgroupPlace({StoredObject})",
        _ => SpawnOp.Name(Op),
    };

    /// <summary>What the step is about, or null: <c>/var/log/x</c>, <c>pipe</c>, <c>uid 1000</c>.</summary>
    public string? Object => Op == SpawnOp.JoinCgroup ? Str : StoredObject ?? Op switch
    {
        SpawnOp.Setpgid => A == 0 ? "new group" : $"group {A.ToString(CultureInfo.InvariantCulture)}",
        SpawnOp.SetRlimit => new ResourceLimitValue(unchecked((ulong)B), unchecked((ulong)C)).ToString(),
        SpawnOp.Umask => Convert.ToString((int)A, 8).PadLeft(4, '0'),
        SpawnOp.SetGroups => $"[{string.Join(',', Ids.IsDefault ? ImmutableArray<uint>.Empty : Ids)}]",
        SpawnOp.SetResGid => $"gid {A.ToString(CultureInfo.InvariantCulture)}",
        SpawnOp.SetResUid => $"uid {A.ToString(CultureInfo.InvariantCulture)}",
        SpawnOp.Pdeathsig => Signals.Name(A),
        SpawnOp.Chdir or SpawnOp.Open or SpawnOp.WriteFile or SpawnOp.Mount or SpawnOp.Mkdir or SpawnOp.SetHostname
            or SpawnOp.SetDomainName or SpawnOp.OpenTree or SpawnOp.MoveMount or SpawnOp.MountSetattr or SpawnOp.CreateFile
            or SpawnOp.Symlink or SpawnOp.Init => Str,
        SpawnOp.Setns => $"fd {A.ToString(CultureInfo.InvariantCulture)}",
        SpawnOp.LoopbackUp => "lo",
        _ => null,
    };

    private string MountType => Data is { } d && d.Split('\0') is { Length: >= 2 } parts && parts[1].Length > 0 ? parts[1]
        : (A & 0x40000 /* MS_PRIVATE */) != 0 ? "private" : (A & 0x80000) != 0 ? "slave" : (A & 0x100000) != 0 ? "shared" : "bind";

    private static string NamespaceName(long nstype)
    {
        var kinds = Isolation.NamespaceKinds.FromCloneFlags((Abi.CloneFlags)nstype);
        return kinds == Isolation.Namespaces.None ? "pidfd" : Isolation.NamespaceKinds.Format(kinds);
    }

    /// <summary>The step as the plan dump shows it: <c>DUP2 a=5 b=1 c=0</c>.</summary>
    public override string ToString() => Format(Op, A, B, C, Str, Ids.IsDefault ? null : Ids.AsSpan().ToArray());

    internal static string Format(int op, long a, long b, long c, string? str, uint[]? ids)
    {
        var text = $"{SpawnOp.Name(op)} a={Fd(a)} b={Fd(b)} c={c}";
        if (str is not null)
            text += $" str={str}";
        if (ids is not null)
            text += $" ids=[{string.Join(',', ids)}]";
        return text;
    }

    private static string Fd(long v) => v <= -1000 && v > -1000 - SpawnOp.MaxSlots
        ? $"slot{-1000 - v}"
        : v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A compiled command, all managed: what <see cref="SpawnPlan"/> lays out in unmanaged memory for
/// <c>fl_spawn</c>. Pure data; building it creates nothing.
/// </summary>
internal sealed record PlanModel
{
    public required SpawnPlanFlags Flags { get; init; }
    public required ulong CloneFlags { get; init; }

    /// <summary>The <c>CLONE_INTO_CGROUP</c> directory fd (with that flag in <see cref="CloneFlags"/>), else 0.</summary>
    public ulong CgroupFd { get; init; }
    public required ulong ExitSignal { get; init; }
    public required ulong Sigmask { get; init; }
    public required ImmutableArray<string> ExecPaths { get; init; }
    public required ImmutableArray<string> Argv { get; init; }
    public required ChildEnvironment Environment { get; init; }
    public required ImmutableArray<PlanStep> Steps { get; init; }

    /// <summary>clone3's set_tid, innermost pid namespace first (empty: none).</summary>
    public ImmutableArray<int> SetTid { get; init; } = [];

    /// <summary>
    /// The child's environment as <c>NAME=value</c> strings, sorted by name (ordinal): for tests, dumps and the
    /// CLI. Made on each call; the native block gets the same entries written straight from
    /// <see cref="Environment"/>, in the caller's order (no kernel rule needs any order).
    /// </summary>
    public ImmutableArray<string> Envp
    {
        get
        {
            var entries = new List<string>();
            foreach (var (name, value) in Environment)
                entries.Add(string.Concat(name, "=", value));
            entries.Sort((x, y) => x.AsSpan(0, x.IndexOf('=')).SequenceCompareTo(y.AsSpan(0, y.IndexOf('='))));
            return [.. entries];
        }
    }
}

/// <summary>
/// The child's environment, not copied: the caller's variables (when inherited; the immutable
/// <see cref="CallerEnvironment"/> snapshot of <see cref="SpawnInputs"/>) with the command's changes on top.
/// Enumerating it yields each variable once, name and value as views, without allocating; <see cref="SpawnPlan"/>
/// writes them into the native block as <c>NAME=value</c> (an unchanged inheritance as one copy of the
/// snapshot's UTF-8 form).
/// </summary>
/// <param name="Inherited">The caller's variables, or null for a cleared environment.</param>
/// <param name="Changes">Set (non-null value) or removed (null) variables, applied on top.</param>
internal readonly record struct ChildEnvironment(CallerEnvironment? Inherited, ImmutableDictionary<string, string?> Changes)
{
    public Enumerator GetEnumerator() => new(this);

    /// <summary>First the inherited variables the changes do not touch, then the changes that set a value.</summary>
    public ref struct Enumerator
    {
        private readonly ImmutableDictionary<string, string?> _changes;
        private readonly CallerEnvironment? _inherited;
        private ImmutableDictionary<string, string?>.Enumerator _set;
        private int _next;  // the next inherited variable
        private int _state; // 0: inherited, 1: changes, 2: done

        public Enumerator(ChildEnvironment environment)
        {
            _changes = environment.Changes;
            _inherited = environment.Inherited;
            _set = default;
            _next = 0;
            _state = 0;
            Current = default;
        }

        public EnvironmentVariable Current { get; private set; }

        public bool MoveNext()
        {
            if (_state == 0)
            {
                while (_inherited is not null && _next < _inherited.Count)
                {
                    var variable = _inherited[_next++];
                    if (_changes.Count != 0 && Changed(_changes, variable.Name))
                        continue;
                    Current = variable;
                    return true;
                }
                if (_changes.Count == 0)
                {
                    _state = 2;
                    return false;
                }
                _set = _changes.GetEnumerator();
                _state = 1;
            }
            if (_state == 1)
            {
                while (_set.MoveNext())
                {
                    if (_set.Current.Value is { } value)
                    {
                        Current = new(_set.Current.Key, value);
                        return true;
                    }
                }
                _set.Dispose();
                _state = 2;
            }
            return false;
        }

        /// <summary>
        /// Whether the command sets or removes <paramref name="name"/>. A scan, not a lookup (an immutable
        /// dictionary is looked up by string, and making one per inherited variable would allocate); commands
        /// change a few variables.
        /// </summary>
        private static bool Changed(ImmutableDictionary<string, string?> changes, ReadOnlySpan<char> name)
        {
            foreach (var (key, _) in changes)
            {
                if (key.Length == name.Length && name.SequenceEqual(key))
                    return true;
            }
            return false;
        }
    }
}
