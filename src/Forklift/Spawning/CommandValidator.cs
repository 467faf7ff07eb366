using System.Globalization;
using Forklift.Abi;

namespace Forklift.Spawning;

/// <summary>
/// Checks a <see cref="Command"/> once, at start, before anything is created: every value on its own, then the
/// combinations. The first problem throws a <see cref="CommandException"/> naming the option.
/// </summary>
internal static class CommandValidator
{
    /// <summary>Clone flags that the stage sets itself or that would break it (the child shares the caller's fd
    /// table, fs info or handlers, or becomes a thread); and CLONE_INTO_CGROUP, which needs a cgroup option.</summary>
    public const CloneFlags StageOwnedFlags = CloneFlags.Vm | CloneFlags.Vfork | CloneFlags.Pidfd | CloneFlags.Files
        | CloneFlags.Fs | CloneFlags.Sighand | CloneFlags.Thread | CloneFlags.SetTls | CloneFlags.ParentSetTid
        | CloneFlags.ChildSetTid | CloneFlags.ChildClearTid | CloneFlags.ClearSighand | CloneFlags.IntoCgroup;

    /// <summary>NGROUPS_MAX.</summary>
    public const int MaxGroups = 65536;

    public static void Validate(Command c)
    {
        Isolation.IsolationPlanner.Validate(c);
        Text("Program", c.Program, allowEmpty: false);
        for (int i = 0; i < c.Arguments.Length; i++)
            Text($"Arguments[{i}]", c.Arguments[i], allowEmpty: true);
        if (c.ArgumentZero is not null)
            Text("ArgumentZero", c.ArgumentZero, allowEmpty: true);
        foreach (var (name, value) in c.EnvironmentChanges)
        {
            string option = $"EnvironmentChanges[{name}]";
            if (name.Length == 0)
                throw new CommandException("EnvironmentChanges", "a variable name is empty");
            if (name.Contains('='))
                throw new CommandException(option, "a variable name cannot contain '='");
            Text(option, name, allowEmpty: false);
            if (value is not null)
                Text(option, value, allowEmpty: true);
        }
        if (c.WorkingDirectory is not null)
            Text("WorkingDirectory", c.WorkingDirectory, allowEmpty: false);

        Stream("StandardInput", c.StandardInput, extra: false);
        Stream("StandardOutput", c.StandardOutput, extra: false);
        Stream("StandardError", c.StandardError, extra: false);
        foreach (var (fd, source) in c.FileDescriptors)
        {
            string option = $"FileDescriptors[{fd}]";
            if (fd < 0)
                throw new CommandException(option, "a child fd cannot be negative");
            if (fd <= 2)
                throw new CommandException(option,
                    $"fd {fd} is standard {(fd == 0 ? "input" : fd == 1 ? "output" : "error")}: set it with WithStandard{(fd == 0 ? "Input" : fd == 1 ? "Output" : "Error")} (it cannot be given twice)");
            Stream(option, source, extra: true);
        }

        if (c.Umask is { } umask && ((int)umask & ~0x1ff) != 0)
            throw new CommandException("Umask", "only the permission bits (0777) can be masked");

        if (c.NewSession && c.ProcessGroup is not null)
            throw new CommandException("ProcessGroup", "a new session already puts the child in a new process group it leads (setpgid after setsid fails with EPERM): choose one");
        if (c.ProcessGroup is < 0)
            throw new CommandException("ProcessGroup", "a process group id cannot be negative (0: a new group)");
        if (c.ControllingTerminal is < 0)
            throw new CommandException("ControllingTerminal", "a child fd cannot be negative");
        if (c.ForegroundTerminal is < 0)
            throw new CommandException("ForegroundTerminal", "a child fd cannot be negative");
        if (c.ForegroundTerminal is not null && c.ProcessGroup is null)
            throw new CommandException("ForegroundTerminal",
                "only a child in its own process group can be made the foreground group: set WithProcessGroup, or WithNewSession(controllingTerminal: fd), which makes it the foreground group too");

        foreach (int s in c.BlockedSignals)
            Signal("BlockedSignals", s, allowZero: false);
        foreach (int s in c.IgnoredSignals)
        {
            Signal("IgnoredSignals", s, allowZero: false);
            if (s is 9 or 19)
                throw new CommandException("IgnoredSignals", $"{Signals.Name(s)} cannot be ignored");
        }
        foreach (int s in c.DefaultSignals)
        {
            Signal("DefaultSignals", s, allowZero: false);
            if (s is 9 or 19)
                throw new CommandException("DefaultSignals", $"the disposition of {Signals.Name(s)} cannot be changed");
        }
        Signal("ParentDeathSignal", c.ParentDeathSignal, allowZero: true);
        Signal("StopSignal", c.StopSignal, allowZero: false);
        if (c.StopTimeout < TimeSpan.Zero && c.StopTimeout != Timeout.InfiniteTimeSpan)
            throw new CommandException("StopTimeout", "cannot be negative");

        foreach (var (resource, value) in c.ResourceLimits)
        {
            string option = $"ResourceLimits[{ResourceLimits.Name(resource)}]";
            if ((int)resource is < 0 or > 15)
                throw new CommandException("ResourceLimits", $"unknown resource {(int)resource}");
            if (value.Soft > value.Hard)
                throw new CommandException(option, $"the soft limit {value} exceeds the hard limit (setrlimit fails with EINVAL)");
        }

        if (c.UserId == uint.MaxValue)
            throw new CommandException("UserId", "4294967295 means 'unchanged' to setresuid and is not a uid");
        if (c.GroupId == uint.MaxValue)
            throw new CommandException("GroupId", "4294967295 means 'unchanged' to setresgid and is not a gid");
        if (c.SupplementaryGroups is { } groups)
        {
            if (groups.Length > MaxGroups)
                throw new CommandException("SupplementaryGroups", $"at most {MaxGroups} groups (NGROUPS_MAX)");
            if (groups.Contains(uint.MaxValue))
                throw new CommandException("SupplementaryGroups", "4294967295 is not a gid");
        }

        var owned = c.CloneFlags & StageOwnedFlags;
        if (owned != 0)
            throw new CommandException("CloneFlags",
                $"{CloneFlagNames.Format(owned)} cannot be requested: the spawn stage owns these flags or they would break it " +
                "(a child sharing the caller's memory, fd table, fs info or signal handlers, a thread, tid/TLS pointers); CLONE_INTO_CGROUP comes with WithCgroup");
        bool sibling = c.Sibling || (c.CloneFlags & CloneFlags.Parent) != 0;
        if (c.ExitSignal is { } exitSignal)
        {
            Signal("ExitSignal", exitSignal, allowZero: true);
            if (sibling && exitSignal != 0)
                throw new CommandException("ExitSignal",
                    "a sibling (CLONE_PARENT) must have exit signal 0: its exit is reported to the caller's parent, and clone3 refuses any other with EINVAL");
        }
        if (c.Cgroup is { IsDisposed: true })
            throw new CommandException("Cgroup", "the control group has been disposed (and, if it made the group, removed)");
        if (!Enum.IsDefined(c.CloneEntry))
            throw new CommandException("CloneEntry", $"unknown policy {(int)c.CloneEntry}");
        if (!Enum.IsDefined(c.DisposeBehavior))
            throw new CommandException("DisposeBehavior", $"unknown behavior {(int)c.DisposeBehavior}");
    }

    private static void Text(string option, string value, bool allowEmpty)
    {
        if (!allowEmpty && value.Length == 0)
            throw new CommandException(option, "cannot be empty");
        int nul = value.IndexOf('\0');
        if (nul >= 0)
            throw new CommandException(option, $"contains a NUL character at index {nul.ToString(CultureInfo.InvariantCulture)} (C strings end there)");
    }

    private static void Signal(string option, int signal, bool allowZero)
    {
        if (signal == 0 && allowZero)
            return;
        if (!Signals.IsValid(signal))
            throw new CommandException(option, $"unknown signal {signal.ToString(CultureInfo.InvariantCulture)} (valid: 1..{Signals.Max}{(allowZero ? ", or 0 for none" : "")})");
    }

    private static void Stream(string option, Stdio stdio, bool extra)
    {
        switch (stdio.Kind)
        {
            case StdioKind.Pipe when extra:
                throw new CommandException(option, "Stdio.Pipe is for the standard streams; for an extra fd create a pipe and pass one end with Stdio.FromHandle");
            case StdioKind.FileDescriptor when stdio.FileDescriptor < 0:
                throw new CommandException(option, $"fd {stdio.FileDescriptor.ToString(CultureInfo.InvariantCulture)} is negative");
            case StdioKind.Handle when stdio.Handle!.IsClosed || stdio.Handle.IsInvalid:
                throw new CommandException(option, "the handle is closed or invalid");
            case StdioKind.File:
                Text(option, stdio.Path!, allowEmpty: false);
                if (!Enum.IsDefined(stdio.FileMode))
                    throw new CommandException(option, $"unknown file mode {(int)stdio.FileMode}");
                break;
        }
    }
}
