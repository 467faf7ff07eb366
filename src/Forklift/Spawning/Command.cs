using System.Collections.Immutable;
using System.Diagnostics.Contracts;
using Forklift.Abi;

namespace Forklift.Spawning;

/// <summary>
/// An immutable description of a process to start. Every <c>With*</c> method returns a modified copy; nothing is
/// checked or created until the command is started (<see cref="Processes.IProcessLauncher.Start(Command)"/>), where
/// it is validated once (<see cref="CommandException"/> names the offending option) and compiled into one flat
/// plan that the native stage executes. The defaults describe a plain child: inherited environment, working
/// directory and standard streams, every other fd closed, the caller's credentials and limits, SIGPIPE and
/// SIGXFSZ back to their default dispositions, an empty signal mask, killed when its handle is disposed.
/// </summary>
public sealed record Command
{
    /// <summary>The default graceful-stop bound: 5 seconds between the stop signal and SIGKILL.</summary>
    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The signals whose disposition is reset to SIG_DFL by default. The .NET runtime ignores SIGPIPE, and an
    /// ignored disposition survives execve: a child would then see EPIPE instead of dying quietly in a pipeline
    /// (<c>yes | head</c>). Python's <c>restore_signals</c> resets the same two.
    /// </summary>
    public static readonly ImmutableSortedSet<int> DefaultResetSignals = [13 /* SIGPIPE */, 25 /* SIGXFSZ */];

    /// <summary>A command running <paramref name="program"/> with no arguments.</summary>
    /// <param name="program">
    /// A path (containing '/'; a relative one is made absolute against the caller's current directory) or a
    /// name looked up in the caller's PATH as execvp(3) does.
    /// </param>
    public Command(string program)
    {
        ArgumentNullException.ThrowIfNull(program);
        Program = program;
    }

    /// <summary>The program: a path, or a name to look up in PATH.</summary>
    public string Program { get; private init; }

    /// <summary>The arguments after argv[0]. Default: none.</summary>
    public ImmutableArray<string> Arguments { get; private init; } = [];

    /// <summary>argv[0] as the child sees it. Default (null): <see cref="Program"/> as given.</summary>
    public string? ArgumentZero { get; private init; }

    /// <summary>
    /// True (the default) to start from the caller's environment (<see cref="Environment.GetEnvironmentVariables()"/>
    /// at start time); false to start from an empty one. <see cref="EnvironmentChanges"/> applies on top.
    /// </summary>
    public bool InheritEnvironment { get; private init; } = true;

    /// <summary>Variables to set (non-null value) or remove (null value). Default: none.</summary>
    public ImmutableDictionary<string, string?> EnvironmentChanges { get; private init; } =
        ImmutableDictionary.Create<string, string?>(StringComparer.Ordinal);

    /// <summary>The child's working directory. Default (null): the caller's. A relative path is made absolute against the caller's.</summary>
    public string? WorkingDirectory { get; private init; }

    /// <summary>fd 0. Default: <see cref="Stdio.Inherit"/>.</summary>
    public Stdio StandardInput { get; private init; } = Stdio.Inherit;

    /// <summary>fd 1. Default: <see cref="Stdio.Inherit"/>.</summary>
    public Stdio StandardOutput { get; private init; } = Stdio.Inherit;

    /// <summary>fd 2. Default: <see cref="Stdio.Inherit"/>.</summary>
    public Stdio StandardError { get; private init; } = Stdio.Inherit;

    /// <summary>Extra fds (3 and up) by their number in the child. Default: none; every fd from 3 up is closed at exec.</summary>
    public ImmutableSortedDictionary<int, Stdio> FileDescriptors { get; private init; } = ImmutableSortedDictionary<int, Stdio>.Empty;

    /// <summary>The child's umask. Default (null): the caller's.</summary>
    public UnixFileMode? Umask { get; private init; }

    /// <summary>True to start a new session (setsid): the child leads a new session and process group. Default: false.</summary>
    public bool NewSession { get; private init; }

    /// <summary>With <see cref="NewSession"/>: the child fd (after the fd setup) of a terminal to make the controlling one. Default: none.</summary>
    public int? ControllingTerminal { get; private init; }

    /// <summary>
    /// The process group to join (setpgid): 0 for a new group led by the child, or an existing group's id.
    /// Default (null): the caller's group.
    /// </summary>
    public int? ProcessGroup { get; private init; }

    /// <summary>
    /// A child fd (after the fd setup) of a terminal whose foreground process group becomes the child's
    /// (tcsetpgrp), with <see cref="ProcessGroup"/> or <see cref="ControllingTerminal"/>. Default: none.
    /// </summary>
    public int? ForegroundTerminal { get; private init; }

    /// <summary>Signals blocked in the child when it execs. Default: none (an empty mask).</summary>
    public ImmutableSortedSet<int> BlockedSignals { get; private init; } = [];

    /// <summary>Signals ignored (SIG_IGN) in the child; the disposition survives exec. Default: none.</summary>
    public ImmutableSortedSet<int> IgnoredSignals { get; private init; } = [];

    /// <summary>
    /// Signals reset to SIG_DFL in the child even if the caller ignores them (unless they are in
    /// <see cref="IgnoredSignals"/>, which wins). Caught signals are always reset (a handler cannot survive exec).
    /// Default: <see cref="DefaultResetSignals"/> (SIGPIPE, SIGXFSZ).
    /// </summary>
    public ImmutableSortedSet<int> DefaultSignals { get; private init; } = DefaultResetSignals;

    /// <summary>
    /// The signal the child gets when the spawning process exits (PR_SET_PDEATHSIG). The kernel ties it to the
    /// creating thread, so such children are created by a dedicated long-lived Forklift thread. Default (0): none.
    /// </summary>
    public int ParentDeathSignal { get; private init; }

    /// <summary>Resource limits to set in the child. Default: none (the caller's limits are inherited).</summary>
    public ImmutableSortedDictionary<ResourceLimit, ResourceLimitValue> ResourceLimits { get; private init; } =
        ImmutableSortedDictionary<ResourceLimit, ResourceLimitValue>.Empty;

    /// <summary>The real, effective and saved uid of the child (setresuid). Default (null): the caller's.</summary>
    public uint? UserId { get; private init; }

    /// <summary>The real, effective and saved gid of the child (setresgid). Default (null): the caller's.</summary>
    public uint? GroupId { get; private init; }

    /// <summary>
    /// The child's supplementary groups (setgroups). Default (null): the caller's if neither <see cref="UserId"/>
    /// nor <see cref="GroupId"/> is set, and none at all if one of them is (so a child started as another user
    /// keeps no group of the caller's, as Go's SysProcAttr.Credential does).
    /// </summary>
    public ImmutableArray<uint>? SupplementaryGroups { get; private init; }

    /// <summary>True to set no_new_privs (PR_SET_NO_NEW_PRIVS): exec cannot grant privileges. Default: false.</summary>
    public bool NoNewPrivileges { get; private init; }

    /// <summary>
    /// True to create the child as the caller's sibling (CLONE_PARENT): its parent is the caller's parent, which
    /// then owns its exit status (this process can still signal it through the pidfd and, on Linux 6.15+, read
    /// its status once its parent has reaped it). The exit signal is then 0. Default: false.
    /// </summary>
    public bool Sibling { get; private init; }

    /// <summary>The signal the parent gets when the child exits. Default (null): SIGCHLD, or 0 for a sibling.</summary>
    public int? ExitSignal { get; private init; }

    /// <summary>
    /// Extra clone flags for experts (namespaces, CLONE_IO, CLONE_SYSVSEM, CLONE_PTRACE, CLONE_UNTRACED...).
    /// Flags that the stage owns or that would break it (CLONE_VM, CLONE_VFORK, CLONE_PIDFD, CLONE_FILES, CLONE_FS,
    /// CLONE_SIGHAND, CLONE_THREAD, the tid and TLS flags, CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP) are refused.
    /// Every request is checked against the clone model before the system call. Default: none.
    /// </summary>
    public CloneFlags CloneFlags { get; private init; }

    /// <summary>Which clone system call to use and when to fall back. Default: <see cref="CloneEntryPolicy.Clone3"/>.</summary>
    public CloneEntryPolicy CloneEntry { get; private init; }

    /// <summary>What disposing the handle of a running child does. Default: <see cref="ChildDisposal.Kill"/>.</summary>
    public ChildDisposal DisposeBehavior { get; private init; }

    /// <summary>The signal of a graceful stop. Default: SIGTERM (15).</summary>
    public int StopSignal { get; private init; } = 15;

    /// <summary>How long a graceful stop waits after <see cref="StopSignal"/> before SIGKILL. Default: <see cref="DefaultStopTimeout"/>.</summary>
    public TimeSpan StopTimeout { get; private init; } = DefaultStopTimeout;

    /// <summary>
    /// The control group the child starts in. A unified (v2) group is entered atomically at creation
    /// (<c>CLONE_INTO_CGROUP</c>; after a fallback to legacy clone the child writes its <c>cgroup.procs</c> first); v1
    /// groups by the child writing their <c>cgroup.procs</c> before any other step, so everything it allocates and
    /// forks is charged to the group. The handle must stay undisposed until the child has started. Default (null):
    /// the caller's groups.
    /// </summary>
    public Isolation.ControlGroup? Cgroup { get; private init; }

    /// <summary>
    /// Work the parent does between the clone and the exec while the child waits (the full path, FL_PLAN_SYNC).
    /// Internal until an issue needs it publicly (uid/gid maps of a new user namespace, cgroup placement).
    /// </summary>
    internal ImmutableArray<ParentAction> ParentActions { get; private init; } = [];

    /// <summary>
    /// Namespaces, id maps, mounts, hostname, clock offsets, capabilities and the init of a new pid namespace
    /// (<see cref="Isolation.Isolation"/>; <see cref="Isolation.Isolation.None"/> by default).
    /// </summary>
    public Isolation.Isolation Isolation { get; private init; } = Forklift.Isolation.Isolation.None;

    /// <summary>Sets the program (a path or a name looked up in PATH).</summary>
    [Pure]
    public Command WithProgram(string program)
    {
        ArgumentNullException.ThrowIfNull(program);
        return this with { Program = program };
    }

    /// <summary>Replaces the arguments (after argv[0]).</summary>
    [Pure]
    public Command WithArguments(IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return this with { Arguments = [.. arguments] };
    }

    /// <summary>Replaces the arguments (after argv[0]).</summary>
    [Pure]
    public Command WithArguments(params string[] arguments) => WithArguments((IEnumerable<string>)arguments);

    /// <summary>Replaces the arguments with what <paramref name="configure"/> adds to a builder.</summary>
    [Pure]
    public Command WithArguments(Action<ArgumentsBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = new ArgumentsBuilder();
        configure(builder);
        return this with { Arguments = builder.Build() };
    }

    /// <summary>Sets argv[0] (null: the program as given).</summary>
    [Pure]
    public Command WithArgumentZero(string? argumentZero) => this with { ArgumentZero = argumentZero };

    /// <summary>Sets one variable (a null value removes it from the child's environment).</summary>
    [Pure]
    public Command WithEnvironmentVariable(string name, string? value)
    {
        ArgumentNullException.ThrowIfNull(name);
        return this with { EnvironmentChanges = EnvironmentChanges.SetItem(name, value) };
    }

    /// <summary>Removes one variable from the child's environment.</summary>
    [Pure]
    public Command WithoutEnvironmentVariable(string name) => WithEnvironmentVariable(name, null);

    /// <summary>Sets (non-null values) and removes (null values) variables, on top of the changes so far.</summary>
    [Pure]
    public Command WithEnvironment(IEnumerable<KeyValuePair<string, string?>> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var changes = EnvironmentChanges.ToBuilder();
        foreach (var (name, value) in variables)
        {
            ArgumentNullException.ThrowIfNull(name, nameof(variables));
            changes[name] = value;
        }
        return this with { EnvironmentChanges = changes.ToImmutable() };
    }

    /// <summary>Replaces the environment settings with what <paramref name="configure"/> says.</summary>
    [Pure]
    public Command WithEnvironment(Action<EnvironmentBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = new EnvironmentBuilder(InheritEnvironment, EnvironmentChanges);
        configure(builder);
        return this with { InheritEnvironment = builder.Inherit, EnvironmentChanges = builder.Changes.ToImmutable() };
    }

    /// <summary>Starts the child from an empty environment (true) or the caller's (false, the default).</summary>
    [Pure]
    public Command WithClearedEnvironment(bool cleared = true) => this with { InheritEnvironment = !cleared };

    /// <summary>Sets the working directory (null: the caller's).</summary>
    [Pure]
    public Command WithWorkingDirectory(string? directory) => this with { WorkingDirectory = directory };

    /// <summary>Sets fd 0.</summary>
    [Pure]
    public Command WithStandardInput(Stdio source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return this with { StandardInput = source };
    }

    /// <summary>Sets fd 1.</summary>
    [Pure]
    public Command WithStandardOutput(Stdio target)
    {
        ArgumentNullException.ThrowIfNull(target);
        return this with { StandardOutput = target };
    }

    /// <summary>Sets fd 2.</summary>
    [Pure]
    public Command WithStandardError(Stdio target)
    {
        ArgumentNullException.ThrowIfNull(target);
        return this with { StandardError = target };
    }

    /// <summary>
    /// Gives the child an extra fd at number <paramref name="childFd"/> (3 or more; use the standard stream
    /// methods for 0..2). Sources and targets may overlap in any way: the plan parks colliding fds first.
    /// </summary>
    [Pure]
    public Command WithFileDescriptor(int childFd, Stdio source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return this with { FileDescriptors = FileDescriptors.SetItem(childFd, source) };
    }

    /// <summary>Removes an extra fd set with <see cref="WithFileDescriptor"/>.</summary>
    [Pure]
    public Command WithoutFileDescriptor(int childFd) => this with { FileDescriptors = FileDescriptors.Remove(childFd) };

    /// <summary>Sets the child's umask (null: the caller's). Only the permission bits (0777) count.</summary>
    [Pure]
    public Command WithUmask(UnixFileMode? umask) => this with { Umask = umask };

    /// <summary>
    /// Starts the child in a new session (setsid), optionally making the terminal at child fd
    /// <paramref name="controllingTerminal"/> its controlling terminal and the child its foreground group.
    /// </summary>
    /// <param name="newSession">False to undo.</param>
    /// <param name="controllingTerminal">A child fd (after the fd setup) of a terminal, or null.</param>
    [Pure]
    public Command WithNewSession(bool newSession = true, int? controllingTerminal = null) =>
        this with { NewSession = newSession, ControllingTerminal = newSession ? controllingTerminal : null };

    /// <summary>
    /// Puts the child in process group <paramref name="processGroupId"/> (0: a new group it leads; null: the
    /// caller's), optionally making that group the foreground group of the terminal at child fd
    /// <paramref name="foregroundTerminal"/>.
    /// </summary>
    [Pure]
    public Command WithProcessGroup(int? processGroupId = 0, int? foregroundTerminal = null) =>
        this with { ProcessGroup = processGroupId, ForegroundTerminal = foregroundTerminal };

    /// <summary>Replaces the set of signals blocked at exec (signals 1..64).</summary>
    [Pure]
    public Command WithBlockedSignals(params IEnumerable<int> signals) => this with { BlockedSignals = [.. signals] };

    /// <summary>Replaces the set of signals ignored in the child.</summary>
    [Pure]
    public Command WithIgnoredSignals(params IEnumerable<int> signals) => this with { IgnoredSignals = [.. signals] };

    /// <summary>Replaces the set of signals reset to SIG_DFL in the child (default: SIGPIPE, SIGXFSZ).</summary>
    [Pure]
    public Command WithDefaultSignals(params IEnumerable<int> signals) => this with { DefaultSignals = [.. signals] };

    /// <summary>Sets the parent-death signal (0: none).</summary>
    [Pure]
    public Command WithParentDeathSignal(int signal) => this with { ParentDeathSignal = signal };

    /// <summary>Sets a resource limit in the child.</summary>
    /// <param name="resource">Which limit.</param>
    /// <param name="soft">The enforced value (<see cref="ResourceLimitValue.Infinity"/>: none).</param>
    /// <param name="hard">The ceiling (<see cref="ResourceLimitValue.Infinity"/>: none).</param>
    [Pure]
    public Command WithResourceLimit(ResourceLimit resource, ulong soft, ulong hard) =>
        this with { ResourceLimits = ResourceLimits.SetItem(resource, new ResourceLimitValue(soft, hard)) };

    /// <summary>Sets the child's uid (null: the caller's).</summary>
    [Pure]
    public Command WithUser(uint? userId) => this with { UserId = userId };

    /// <summary>Sets the child's gid (null: the caller's).</summary>
    [Pure]
    public Command WithGroup(uint? groupId) => this with { GroupId = groupId };

    /// <summary>Sets the child's supplementary groups (see <see cref="SupplementaryGroups"/> for the default).</summary>
    [Pure]
    public Command WithSupplementaryGroups(params IEnumerable<uint> groups) => this with { SupplementaryGroups = [.. groups] };

    /// <summary>Sets or clears no_new_privs in the child.</summary>
    [Pure]
    public Command WithNoNewPrivileges(bool noNewPrivileges = true) => this with { NoNewPrivileges = noNewPrivileges };

    /// <summary>Creates the child as the caller's sibling (CLONE_PARENT), or not.</summary>
    [Pure]
    public Command AsSibling(bool sibling = true) => this with { Sibling = sibling };

    /// <summary>Sets the exit signal (null: SIGCHLD, or 0 for a sibling).</summary>
    [Pure]
    public Command WithExitSignal(int? signal) => this with { ExitSignal = signal };

    /// <summary>Replaces the extra clone flags (see <see cref="CloneFlags"/>).</summary>
    [Pure]
    public Command WithCloneFlags(CloneFlags flags) => this with { CloneFlags = flags };

    /// <summary>Sets which clone system call is used and when it falls back.</summary>
    [Pure]
    public Command WithCloneEntry(CloneEntryPolicy policy) => this with { CloneEntry = policy };

    /// <summary>Sets what disposing the handle of a running child does.</summary>
    [Pure]
    public Command WithDisposeBehavior(ChildDisposal behavior) => this with { DisposeBehavior = behavior };

    /// <summary>Sets the graceful stop: <paramref name="signal"/>, then SIGKILL after <paramref name="timeout"/>.</summary>
    [Pure]
    public Command WithGracefulStop(int signal, TimeSpan timeout) => this with { StopSignal = signal, StopTimeout = timeout };

    /// <summary>Isolates the child as <paramref name="isolation"/> says (replacing any earlier isolation).</summary>
    [Pure]
    public Command WithIsolation(Isolation.Isolation isolation)
    {
        ArgumentNullException.ThrowIfNull(isolation);
        return this with { Isolation = isolation };
    }

    /// <summary>Changes the isolation: <c>cmd.WithIsolation(i =&gt; i with { Hostname = "box" })</c>.</summary>
    [Pure]
    public Command WithIsolation(Func<Isolation.Isolation, Isolation.Isolation> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return WithIsolation(change(Isolation));
    }

    /// <summary>Creates new namespaces of the given types (in addition to any already asked for).</summary>
    [Pure]
    public Command WithNewNamespaces(Isolation.Namespaces namespaces) => WithIsolation(Isolation.WithNewNamespaces(namespaces));

    /// <summary>Starts the child in <paramref name="group"/> (see <see cref="Cgroup"/>; null: the caller's groups).</summary>
    [Pure]
    public Command WithCgroup(Isolation.ControlGroup? group) => this with { Cgroup = group };

    /// <summary>Adds work for the parent between clone and exec (forces the full path).</summary>
    [Pure]
    internal Command WithParentAction(string name, Action<ParentActionContext> action) =>
        this with { ParentActions = ParentActions.Add(new ParentAction(name, action)) };

    /// <summary>Value equality: every option equal, collections element by element (handles by reference).</summary>
    public bool Equals(Command? other) =>
        other is not null
        && Program == other.Program && Arguments.SequenceEqual(other.Arguments) && ArgumentZero == other.ArgumentZero
        && InheritEnvironment == other.InheritEnvironment && SameItems(EnvironmentChanges, other.EnvironmentChanges)
        && WorkingDirectory == other.WorkingDirectory && StandardInput.Equals(other.StandardInput)
        && StandardOutput.Equals(other.StandardOutput) && StandardError.Equals(other.StandardError)
        && FileDescriptors.SequenceEqual(other.FileDescriptors) && Umask == other.Umask && NewSession == other.NewSession
        && ControllingTerminal == other.ControllingTerminal && ProcessGroup == other.ProcessGroup
        && ForegroundTerminal == other.ForegroundTerminal && BlockedSignals.SetEquals(other.BlockedSignals)
        && IgnoredSignals.SetEquals(other.IgnoredSignals) && DefaultSignals.SetEquals(other.DefaultSignals)
        && ParentDeathSignal == other.ParentDeathSignal && ResourceLimits.SequenceEqual(other.ResourceLimits)
        && UserId == other.UserId && GroupId == other.GroupId
        && (SupplementaryGroups is null ? other.SupplementaryGroups is null
            : other.SupplementaryGroups is not null && SupplementaryGroups.Value.SequenceEqual(other.SupplementaryGroups.Value))
        && NoNewPrivileges == other.NoNewPrivileges && Sibling == other.Sibling && ExitSignal == other.ExitSignal
        && CloneFlags == other.CloneFlags && CloneEntry == other.CloneEntry && DisposeBehavior == other.DisposeBehavior
        && StopSignal == other.StopSignal && StopTimeout == other.StopTimeout && ParentActions.SequenceEqual(other.ParentActions)
        && Isolation.Equals(other.Isolation)
        && ReferenceEquals(Cgroup, other.Cgroup);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Program, Arguments.Length, WorkingDirectory, StandardOutput, CloneFlags);

    private static bool SameItems(ImmutableDictionary<string, string?> a, ImmutableDictionary<string, string?> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);

    /// <summary>The command line, for messages (arguments with spaces quoted).</summary>
    public override string ToString() =>
        string.Join(' ', new[] { Program }.Concat(Arguments).Select(a => a.Length == 0 || a.Any(char.IsWhiteSpace) ? $"'{a}'" : a));
}

/// <summary>Collects arguments for <see cref="Command.WithArguments(Action{ArgumentsBuilder})"/>.</summary>
public sealed class ArgumentsBuilder
{
    private readonly ImmutableArray<string>.Builder _arguments = ImmutableArray.CreateBuilder<string>();

    internal ArgumentsBuilder()
    {
    }

    /// <summary>Adds one argument as is.</summary>
    public ArgumentsBuilder Add(string argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        _arguments.Add(argument);
        return this;
    }

    /// <summary>Adds a value formatted with the invariant culture.</summary>
    public ArgumentsBuilder Add(IFormattable value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _arguments.Add(value.ToString(null, System.Globalization.CultureInfo.InvariantCulture));
        return this;
    }

    /// <summary>Adds several arguments as they are.</summary>
    public ArgumentsBuilder Add(IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        foreach (var a in arguments)
            Add(a);
        return this;
    }

    internal ImmutableArray<string> Build() => _arguments.ToImmutable();
}

/// <summary>Edits the environment settings for <see cref="Command.WithEnvironment(Action{EnvironmentBuilder})"/>.</summary>
public sealed class EnvironmentBuilder
{
    internal EnvironmentBuilder(bool inherit, ImmutableDictionary<string, string?> changes)
    {
        Inherit = inherit;
        Changes = changes.ToBuilder();
    }

    internal bool Inherit { get; private set; }

    internal ImmutableDictionary<string, string?>.Builder Changes { get; }

    /// <summary>Sets a variable.</summary>
    public EnvironmentBuilder Set(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        Changes[name] = value;
        return this;
    }

    /// <summary>Removes a variable (from the inherited environment, or a set made earlier).</summary>
    public EnvironmentBuilder Unset(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        Changes[name] = null;
        return this;
    }

    /// <summary>Starts from an empty environment and forgets every change made so far.</summary>
    public EnvironmentBuilder Clear()
    {
        Inherit = false;
        Changes.Clear();
        return this;
    }
}

/// <summary>Work the parent does while the child waits between clone and exec.</summary>
/// <param name="Name">Names the step in errors (<c>ParentAction(name)</c>).</param>
/// <param name="Run">The work; throwing makes the start fail and the child give up without exec.</param>
internal sealed record ParentAction(string Name, Action<ParentActionContext> Run);

/// <summary>What a parent action can see of the waiting child.</summary>
/// <param name="Pid">The child's pid.</param>
/// <param name="Pidfd">The child's pidfd (owned by the spawner; do not close).</param>
internal readonly record struct ParentActionContext(int Pid, int Pidfd);
