using System.Collections;
using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.CompilerServices;
using Forklift.Abi;
using Forklift.Interop;

namespace Forklift.Spawning;

/// <summary>What the plan depends on besides the command: the caller's state, read once per start.</summary>
/// <param name="Environment">
/// The caller's environment (the managed view, as <c>Process.Start</c> uses it): an immutable snapshot
/// (<see cref="Capture(int)"/> reads the current one). The plan reads it; it is not copied.
/// </param>
/// <param name="ProcessId">The caller's pid (what the child's getppid returns).</param>
/// <remarks>
/// Record equality covers every field, the lazily read ones included (set only once read): the launcher reuses a
/// command's plan model when the inputs of a start equal those it was built from.
/// </remarks>
internal sealed record SpawnInputs(CallerEnvironment Environment, int ProcessId)
{
    private string? _currentDirectory;
    private readonly Func<int>? _readParentProcessId;
    private int? _parentProcessId;

    /// <param name="environment">See <see cref="Environment"/>.</param>
    /// <param name="processId">See <see cref="ProcessId"/>.</param>
    /// <param name="parentProcessId">See <see cref="ParentProcessId"/>.</param>
    public SpawnInputs(CallerEnvironment environment, int processId, int parentProcessId)
        : this(environment, processId) => _parentProcessId = parentProcessId;

    /// <param name="environment">The caller's variables (see <see cref="CallerEnvironment.FromDictionary"/>).</param>
    /// <param name="currentDirectory">See <see cref="CurrentDirectory"/>.</param>
    /// <param name="processId">See <see cref="ProcessId"/>.</param>
    /// <param name="parentProcessId">See <see cref="ParentProcessId"/>.</param>
    public SpawnInputs(IDictionary environment, string currentDirectory, int processId, int parentProcessId)
        : this(CallerEnvironment.FromDictionary(environment), processId, parentProcessId) => _currentDirectory = currentDirectory;

    private SpawnInputs(CallerEnvironment environment, int processId, Func<int> readParentProcessId)
        : this(environment, processId) => _readParentProcessId = readParentProcessId;

    /// <summary>
    /// The caller's current directory. When captured, read on first use (only relative paths need it; the plan is
    /// built right after the capture, so it is the same moment for the caller).
    /// </summary>
    public string CurrentDirectory => _currentDirectory ??= System.Environment.CurrentDirectory;

    private uint? _euid, _egid;
    private string? _initPath;
    private int? _lastCapability;
    private Func<string, bool>? _isDirectory;

    /// <summary>The caller's effective uid (decides who may write a new user namespace's maps). Read when first used.</summary>
    public uint EffectiveUserId { get => _euid ??= Isolation.HostFacts.EffectiveUserId(); init => _euid = value; }

    /// <summary>The caller's effective gid. Read when first used.</summary>
    public uint EffectiveGroupId { get => _egid ??= Isolation.HostFacts.EffectiveGroupId(); init => _egid = value; }

    /// <summary>The forklift-init program (next to the native library).</summary>
    public string InitPath { get => _initPath ??= Isolation.HostFacts.InitPath; init => _initPath = value; }

    /// <summary>The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap).</summary>
    public int LastCapability { get => _lastCapability ??= Isolation.HostFacts.LastCapability; init => _lastCapability = value; }

    /// <summary>Tells whether a bind source is a directory (a file needs a file as mount point).</summary>
    public Func<string, bool> IsDirectory { get => _isDirectory ?? Isolation.HostFacts.IsDirectory; init => _isDirectory = value; }

    /// <summary>
    /// The caller's parent's pid (what a sibling's getppid returns). When captured with a reader, read on first
    /// use, like <see cref="CurrentDirectory"/>: it is a system call, and few plans need it.
    /// </summary>
    public int ParentProcessId => _parentProcessId ??= _readParentProcessId!();

    /// <summary>
    /// The caller as it is now. The environment is read afresh each time (<c>Environment.SetEnvironmentVariable</c>
    /// changes what the next start sees, as for <c>Process.Start</c>): see <see cref="CallerEnvironment"/>.
    /// </summary>
    public static SpawnInputs Capture(int parentProcessId) =>
        new(CallerEnvironment.Capture(), System.Environment.ProcessId, parentProcessId);

    /// <summary>
    /// <see cref="Capture(int)"/>, with the parent's pid read by <paramref name="readParentProcessId"/> when first
    /// needed (pass the same delegate every time: it is part of the inputs' equality).
    /// </summary>
    public static SpawnInputs Capture(Func<int> readParentProcessId) =>
        new(CallerEnvironment.Capture(), System.Environment.ProcessId, readParentProcessId);
}

/// <summary>
/// Compiles a validated <see cref="Command"/> into a <see cref="PlanModel"/>. Pure: the parent fds of pipes and
/// handles are passed in (<c>parentFds</c>: child fd -> parent fd), so the plan for any command can be checked
/// without creating anything. The steps run in the order of <see cref="Phases"/>.
/// </summary>
internal static class SpawnPlanBuilder
{
    /// <summary>The stage's default fast-path stack (0 lets it pick 64 KiB).</summary>
    public const ulong StackSize = 0;

    /// <summary><c>FL_MAX_EXEC_PATHS</c>: the most exec candidates a plan may carry.</summary>
    public const int MaxExecPaths = 128;

    private const int ORdOnly = 0, OWrOnly = 1, ORdWr = 2, OCreat = 0x40, ONoCtty = 0x100, OTrunc = 0x200, OAppend = 0x400;

    /// <summary>The phases of the child's setup, in order. Why this order:</summary>
    /// <remarks>
    /// Cgroup first of all: the child enters its v1 groups (writing their cgroup.procs) before it allocates or forks
    /// anything, so all of it is charged there, and before a mount step could hide /sys/fs/cgroup. WaitParent next,
    /// so the parent's actions (id maps) precede everything that may need them. Session and
    /// group next (setsid must come before any terminal step). Limits before credentials: raising a hard limit
    /// needs CAP_SYS_RESOURCE, which a uid change drops. Credentials before the files, so the child opens its
    /// files as the user it runs as (as a shell redirection after su would). Terminal steps after the fd setup:
    /// they name child fds. Parent-death signal after credentials: changing credentials clears it (prctl(2)).
    /// No-new-privs last.
    /// The isolation phases (Join .. Init) come right after WaitParent and run in the order
    /// <see cref="Isolation.IsolationPlanner"/> explains; with an init, every phase after Init runs in the program's
    /// process, the ones before in the init's. CapabilityBounding precedes Credentials (CAP_SETPCAP is needed to cut
    /// the bounding set), Capabilities follows it (a uid change clears the effective set). With a new or joined mount
    /// namespace the parent opens the stdio files (<see cref="OpensFilesInParent"/>) and the Files phase only places them.
    /// </remarks>
    internal static readonly ImmutableArray<string> Phases =
        ["Cgroup", "WaitParent", "Join", "UserMaps", "Time", "Mounts", "Host", "InitParentDeath", "Init", "Session", "ResourceLimits", "Umask",
         "CapabilityBounding", "Credentials", "Capabilities", "WorkingDirectory", "Files", "Terminal", "Signals", "ParentDeath", "NoNewPrivileges"];

    public static PlanModel Build(Command c, SpawnInputs inputs, IReadOnlyDictionary<int, int> parentFds, bool sync,
        IReadOnlyList<int>? joinFds = null, int initFd = -1)
    {
        var steps = new StepList();
        var iso = c.Isolation;
        bool isolated = !iso.IsEmpty;
        bool sibling = c.Sibling || (c.CloneFlags & CloneFlags.Parent) != 0;
        ulong cloneFlags = (ulong)c.CloneFlags | (sibling ? (ulong)CloneFlags.Parent : 0)
                           | (isolated ? (ulong)Isolation.IsolationPlanner.CloneFlagsOf(iso) : 0);
        bool newMountNamespace = (iso.NewNamespaces & Isolation.Namespaces.Mount) != 0;
        ulong cgroupFd = 0;
        if (c.Cgroup?.UnifiedDirectoryHandle is { } unified)
        {
            // The v2 group: entered by the clone itself (cgroup_css_set_fork). The launcher holds a reference on
            // the handle until the spawn returns, so the number stays this directory's.
            cloneFlags |= (ulong)CloneFlags.IntoCgroup;
            cgroupFd = (ulong)unified.DangerousGetHandle();
        }

        foreach (var phase in Phases)
        {
            switch (phase)
            {
                case "Cgroup" when c.Cgroup is { } group:
                    foreach (var (hierarchy, procs) in group.V1ProcsFiles)
                        steps.Add(PlanStep.Of(SpawnOp.JoinCgroup, str: procs,
                            obj: hierarchy.Controllers.IsEmpty ? "name=" + hierarchy.Name : string.Join(',', hierarchy.Controllers)));
                    break;
                case "WaitParent" when sync:
                    steps.Add(PlanStep.Of(SpawnOp.WaitParent));
                    break;
                case "Join" when isolated && !iso.Joins.IsEmpty:
                    Isolation.IsolationPlanner.AddJoins(ref steps, iso, joinFds ?? throw new ArgumentException("the parent's fd of each join", nameof(joinFds)));
                    break;
                case "UserMaps" when isolated:
                    Isolation.IsolationPlanner.AddChildMaps(ref steps, iso, inputs.EffectiveUserId, inputs.EffectiveGroupId);
                    break;
                case "Time" when isolated:
                    Isolation.IsolationPlanner.AddTime(ref steps, iso);
                    break;
                case "Mounts" when isolated:
                    Isolation.IsolationPlanner.AddMounts(ref steps, iso, inputs.IsDirectory);
                    break;
                case "Host" when isolated:
                    Isolation.IsolationPlanner.AddHost(ref steps, iso);
                    break;
                case "InitParentDeath" when iso.UsesInit && c.ParentDeathSignal != 0:
                    // the init carries the parent-death signal: when it dies the namespace dies with it
                    steps.Add(PlanStep.Of(SpawnOp.Pdeathsig, a: c.ParentDeathSignal,
                        b: (cloneFlags & (ulong)CloneFlags.NewPid) != 0 || sibling ? 0 : inputs.ProcessId));
                    break;
                case "Init" when iso.UsesInit:
                    steps.Add(Isolation.IsolationPlanner.Init(inputs.InitPath, initFd));
                    break;
                case "CapabilityBounding" when iso.Capabilities is not null:
                    Isolation.IsolationPlanner.AddCapabilityBounding(ref steps, c, inputs.LastCapability);
                    break;
                case "Capabilities" when iso.Capabilities is not null:
                    Isolation.IsolationPlanner.AddCapabilities(ref steps, c, inputs.LastCapability);
                    break;
                case "Session":
                    if (c.NewSession)
                        steps.Add(PlanStep.Of(SpawnOp.Setsid));
                    else if (c.ProcessGroup is { } pgid)
                        steps.Add(PlanStep.Of(SpawnOp.Setpgid, a: pgid));
                    break;
                case "ResourceLimits":
                    foreach (var (resource, value) in c.ResourceLimits)
                        steps.Add(PlanStep.Of(SpawnOp.SetRlimit,
                            a: (long)resource, b: unchecked((long)value.Soft), c: unchecked((long)value.Hard)));
                    break;
                case "Umask" when c.Umask is { } umask:
                    steps.Add(PlanStep.Of(SpawnOp.Umask, a: (int)umask & 0x1ff));
                    break;
                case "Credentials" when c.UserId is not null || c.GroupId is not null || c.SupplementaryGroups is not null:
                    var groups = c.SupplementaryGroups ?? [];
                    steps.Add(new PlanStep(SpawnOp.SetGroups, groups.Length, 0, 0, null, groups, null));
                    if (c.GroupId is { } gid)
                        steps.Add(PlanStep.Of(SpawnOp.SetResGid, a: gid));
                    if (c.UserId is { } uid)
                        steps.Add(PlanStep.Of(SpawnOp.SetResUid, a: uid));
                    break;
                case "WorkingDirectory" when c.WorkingDirectory is { } dir:
                    string full = Path.IsPathRooted(dir) ? dir : Path.Join(inputs.CurrentDirectory, dir);
                    steps.Add(PlanStep.Of(SpawnOp.Chdir, str: full));
                    break;
                case "WorkingDirectory" when newMountNamespace:
                    // the cwd still names the directory of the old view (a mount over it does not move it):
                    // look it up again in the new one, and fall back to / where the new view lacks it
                    steps.Add(PlanStep.Of(SpawnOp.Chdir, b: 1, str: inputs.CurrentDirectory));
                    break;
                case "Files":
                    steps.AddRange(FdPlanner.Plan(FdSources(c, inputs, parentFds) ?? s_noFdSources));
                    break;
                case "Terminal":
                    if (c.NewSession && c.ControllingTerminal is { } ctty)
                    {
                        steps.Add(PlanStep.Of(SpawnOp.SetCtty, a: ctty));
                        steps.Add(PlanStep.Of(SpawnOp.Tcsetpgrp, a: ctty));
                    }
                    else if (c.ForegroundTerminal is { } fg)
                    {
                        steps.Add(PlanStep.Of(SpawnOp.Tcsetpgrp, a: fg));
                    }
                    break;
                case "Signals":
                    foreach (int s in c.DefaultSignals)
                        if (!c.IgnoredSignals.Contains(s))
                            steps.Add(PlanStep.Of(SpawnOp.SignalDefault, a: s));
                    foreach (int s in c.IgnoredSignals)
                        steps.Add(PlanStep.Of(SpawnOp.SignalIgnore, a: s));
                    break;
                case "ParentDeath" when c.ParentDeathSignal != 0 && !iso.UsesInit:
                    // b: the pid the child must see as its parent; if getppid() differs, the parent already died
                    // (the race between clone and prctl). 0 turns the check off where getppid() says nothing about
                    // us: in a new pid namespace it is 0, for a sibling it is our own parent.
                    long keeper = (cloneFlags & (ulong)CloneFlags.NewPid) != 0 || sibling ? 0 : inputs.ProcessId;
                    steps.Add(PlanStep.Of(SpawnOp.Pdeathsig, a: c.ParentDeathSignal, b: keeper));
                    break;
                case "NoNewPrivileges" when c.NoNewPrivileges:
                    steps.Add(PlanStep.Of(SpawnOp.NoNewPrivs));
                    break;
            }
        }

        var flags = SpawnPlanFlags.ResetSignals | (sync ? SpawnPlanFlags.Sync : SpawnPlanFlags.Fast);
        if (c.CloneEntry == CloneEntryPolicy.LegacyClone)
            flags |= SpawnPlanFlags.NoClone3;
        if (c.CloneEntry == CloneEntryPolicy.Clone3WithFallbackOnEperm)
            flags |= SpawnPlanFlags.FallbackOnEperm;
        ulong sigmask = 0;
        foreach (int s in c.BlockedSignals)
            sigmask |= 1UL << (s - 1);
        if (sigmask != 0)
            flags |= SpawnPlanFlags.SetSigmask;

        var execPaths = ExecResolver.Candidates(c.Program, inputs);
        if (execPaths.Length > MaxExecPaths)
            throw new CommandException("Program", $"PATH has {execPaths.Length} directories; the stage tries at most {MaxExecPaths} (FL_MAX_EXEC_PATHS): give a path");

        return new PlanModel
        {
            Flags = flags,
            CloneFlags = cloneFlags,
            CgroupFd = cgroupFd,
            ExitSignal = (ulong)(c.ExitSignal ?? (sibling ? 0 : Signals.SigChld)),
            Sigmask = sigmask,
            ExecPaths = execPaths,
            Argv = [c.ArgumentZero ?? c.Program, .. c.Arguments],
            Environment = new ChildEnvironment(c.InheritEnvironment ? inputs.Environment : null, c.EnvironmentChanges),
            Steps = steps.ToImmutable(),
            SetTid = iso.SetTid,
        };
    }

    private static readonly Dictionary<int, FdSource> s_noFdSources = [];

    /// <summary>The creation mode of stdio files (0666, less the umask).</summary>
    internal const int FileMode = 0x1b6;

    /// <summary>
    /// True when the parent opens the command's stdio files itself: with a new or joined mount namespace. A path then
    /// means the file the caller sees (as a shell redirection of the whole command would), not what the new mount
    /// view shows there; and a file the child opened for writing on the copied root would keep that mount busy, so
    /// that it could not be made read-only (mount_setattr: EBUSY while the mount has writers).
    /// </summary>
    internal static bool OpensFilesInParent(Command c) =>
        (c.Isolation.NewNamespaces & Isolation.Namespaces.Mount) != 0 || c.Isolation.JoinsKind(Isolation.Namespaces.Mount);

    /// <summary>The absolute path of a file stream.</summary>
    internal static string FilePath(Stdio stdio, SpawnInputs inputs) =>
        Path.IsPathRooted(stdio.Path!) ? stdio.Path! : Path.Join(inputs.CurrentDirectory, stdio.Path!);

    /// <summary>The open(2) flags of a file stream.</summary>
    internal static int FileFlags(Stdio stdio) => stdio.FileMode switch
    {
        StdioFileMode.Read => ORdOnly,
        StdioFileMode.Append => OWrOnly | OCreat | OAppend,
        _ => OWrOnly | OCreat | OTrunc,
    } | ONoCtty;

    /// <summary>Every child fd the command sets, with its source; null when it sets none.</summary>
    private static Dictionary<int, FdSource>? FdSources(Command c, SpawnInputs inputs, IReadOnlyDictionary<int, int> parentFds)
    {
        Dictionary<int, FdSource>? result = null;
        Add(0, c.StandardInput);
        Add(1, c.StandardOutput);
        Add(2, c.StandardError);
        foreach (var (fd, source) in c.FileDescriptors)
            Add(fd, source);
        return result;

        void Add(int target, Stdio stdio)
        {
            switch (stdio.Kind)
            {
                case StdioKind.Inherit when target <= 2:
                    return; // already there
                case StdioKind.Inherit:
                    (result ??= [])[target] = new FdSource.Dup(target, $"fd {target}");
                    return;
                case StdioKind.Null:
                    (result ??= [])[target] = new FdSource.Open("/dev/null", ORdWr | ONoCtty, 0);
                    return;
                case StdioKind.File when parentFds.TryGetValue(target, out int opened):
                    (result ??= [])[target] = new FdSource.Dup(opened, FilePath(stdio, inputs));
                    return;
                case StdioKind.File:
                    (result ??= [])[target] = new FdSource.Open(FilePath(stdio, inputs), FileFlags(stdio), FileMode);
                    return;
                case StdioKind.FileDescriptor:
                    (result ??= [])[target] = new FdSource.Dup(stdio.FileDescriptor, $"fd {stdio.FileDescriptor}");
                    return;
                case StdioKind.Pipe:
                case StdioKind.Handle:
                    (result ??= [])[target] = new FdSource.Dup(parentFds[target], stdio.Kind == StdioKind.Pipe ? "pipe" : "handle");
                    return;
            }
        }
    }
}

/// <summary>
/// The plan's steps as they are added: on the stack up to 16, then in a list. The result is one array of the exact
/// size, or, when the steps equal the last plan's (the common case of one command started again and again), that
/// plan's array itself: an immutable array is safe to share.
/// </summary>
internal struct StepList
{
    private static ImmutableArray<PlanStep> s_last = [];

    private StepBuffer _buffer;
    private int _count;
    private List<PlanStep>? _overflow;

    public void Add(PlanStep step)
    {
        if (_overflow is not null)
        {
            _overflow.Add(step);
        }
        else if (_count < StepBuffer.Length)
        {
            _buffer[_count++] = step;
        }
        else
        {
            _overflow = [.. (ReadOnlySpan<PlanStep>)_buffer, step];
        }
    }

    public void AddRange(ImmutableArray<PlanStep> steps)
    {
        foreach (var step in steps)
            Add(step);
    }

    public ImmutableArray<PlanStep> ToImmutable()
    {
        if (_overflow is not null)
            return [.. _overflow];
        ReadOnlySpan<PlanStep> steps = ((ReadOnlySpan<PlanStep>)_buffer)[.._count];
        var last = s_last; // one reference: read and written atomically
        if (last.AsSpan().SequenceEqual(steps))
            return last;
        var result = ImmutableArray.Create(steps);
        s_last = result;
        return result;
    }

    [InlineArray(Length)]
    private struct StepBuffer
    {
        public const int Length = 16;
        private PlanStep _element;
    }
}
