using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Forklift.Abi;
using Forklift.Processes;
using Forklift.Rules;

namespace Forklift;

/// <summary>The base of every exception Forklift throws about processes (the spawner, the handles, the reactor).</summary>
public class ForkliftException : Exception
{
    /// <summary>An exception with a message.</summary>
    public ForkliftException(string message)
        : base(message)
    {
    }

    /// <summary>An exception with a message and the exception that caused it.</summary>
    public ForkliftException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A command was refused before anything was created: a bad value (NUL in an argument, a negative fd, an
/// unknown signal) or options that contradict each other. <see cref="Option"/> names the option.
/// </summary>
public sealed class CommandException : ForkliftException
{
    /// <summary>An exception about one option.</summary>
    /// <param name="option">The option as the command spells it (<c>Arguments[2]</c>, <c>StandardOutput</c>).</param>
    /// <param name="message">What is wrong, and what to do instead.</param>
    public CommandException(string option, string message)
        : base($"{option}: {message}")
    {
        Option = option;
        Reason = message;
    }

    /// <summary>The option, as the command's property names it (<c>Arguments[2]</c>, <c>FileDescriptors[5]</c>).</summary>
    public string Option { get; }

    /// <summary>The message without the option's name.</summary>
    public string Reason { get; }
}

/// <summary>One exec candidate tried: the path and the errno execve returned for it.</summary>
/// <param name="Path">The path passed to execve.</param>
/// <param name="Errno">Its errno (<see cref="Errno.None"/>: not tried).</param>
public readonly record struct ExecAttempt(string Path, Errno Errno)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Path} ({ErrnoInfo.Name(Errno)})";
}

/// <summary>
/// The child could not be started: <see cref="Step"/> says where (<c>Chdir</c>, <c>Dup2(fd 1)</c>,
/// <c>SetRlimit(NOFILE)</c>, <c>Execve</c>, <c>Clone3</c>...), <see cref="Errno"/> what the kernel said,
/// <see cref="Object"/> about what (a path, an fd, a limit), and <see cref="Hint"/> the usual cause when there is
/// one. A child that was created and failed has been reaped before this is thrown.
/// </summary>
public class SpawnException : ForkliftException
{
    internal SpawnException(string step, Errno errno, string? obj, string? hint, string commandLine,
        int pid = 0, SpawnPath? path = null, ImmutableArray<ExecAttempt> execAttempts = default, string? extra = null,
        Exception? innerException = null)
        : base(Format(step, errno, obj, hint, commandLine, execAttempts, extra), innerException)
    {
        Step = step;
        Errno = errno;
        Object = obj;
        Hint = hint;
        CommandLine = commandLine;
        Pid = pid;
        SpawnPath = path;
        ExecAttempts = execAttempts.IsDefault ? [] : execAttempts;
    }

    /// <summary>The failing step, named as the plan names it.</summary>
    public string Step { get; }

    /// <summary>The kernel's errno.</summary>
    public Errno Errno { get; }

    /// <summary>What the step was about (a path, an fd, a limit), or null.</summary>
    public string? Object { get; }

    /// <summary>The common cause of this errno at this step, or null.</summary>
    public string? Hint { get; }

    /// <summary>The command line that was being started.</summary>
    public string CommandLine { get; }

    /// <summary>The pid of the child that was created and failed (already reaped), or 0 when none was created.</summary>
    public int Pid { get; }

    /// <summary>How the child was created, when it was.</summary>
    public SpawnPath? SpawnPath { get; }

    /// <summary>For <c>Execve</c>: every candidate path tried, with its errno (the PATH search).</summary>
    public ImmutableArray<ExecAttempt> ExecAttempts { get; }

    private static string Format(string step, Errno errno, string? obj, string? hint, string commandLine,
        ImmutableArray<ExecAttempt> attempts, string? extra)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Starting '{commandLine}' failed at {step}");
        if (obj is not null)
            sb.Append(CultureInfo.InvariantCulture, $" ({obj})");
        if (errno != Errno.None)
            sb.Append(CultureInfo.InvariantCulture, $": {ErrnoInfo.Name(errno)} ({ErrnoInfo.Message(errno)})");
        sb.Append('.');
        if (!attempts.IsDefaultOrEmpty && attempts.Length > 1)
            sb.Append(" Tried: ").Append(string.Join(", ", attempts.Where(a => a.Errno != Errno.None))).Append('.');
        if (extra is not null)
            sb.Append(' ').Append(extra);
        if (hint is not null)
            sb.Append(' ').Append(hint);
        return sb.ToString();
    }
}

/// <summary>
/// The clone model refused the request before any system call: the kernel would return <see cref="SpawnException.Errno"/>
/// because of <see cref="Rule"/>. Nothing was created.
/// </summary>
public sealed class CloneRefusedException : SpawnException
{
    internal CloneRefusedException(string step, CloneVerdict verdict, string commandLine)
        : base(step, verdict.Errno, null, null, commandLine,
            extra: $"The clone model refused it before the system call: {verdict.Rule!.Name} ({verdict.Rule.KernelFunction}): {verdict.Explain()}")
    {
        Verdict = verdict;
        Rule = verdict.Rule!;
    }

    /// <summary>The kernel rule that refuses the request.</summary>
    public CloneRule Rule { get; }

    /// <summary>The model's full answer (rule, errno, detail).</summary>
    public CloneVerdict Verdict { get; }
}

/// <summary>
/// The clone system call failed although the clone model allowed the request: the model and this kernel disagree
/// (or the caller's context changed since it was read). <see cref="PredictedErrno"/> is what the model said.
/// </summary>
public sealed class CloneFailedException : SpawnException
{
    internal CloneFailedException(string step, Errno errno, Errno predicted, string? hint, string commandLine, SpawnPath? path)
        : base(step, errno, null, hint, commandLine, path: path,
            extra: predicted == Errno.None
                ? $"The model allowed this; the kernel said {ErrnoInfo.Name(errno)}."
                : $"The model predicted {ErrnoInfo.Name(predicted)}; the kernel said {ErrnoInfo.Name(errno)}.")
    {
        PredictedErrno = predicted;
    }

    /// <summary>The errno the model predicted (<see cref="Errno.None"/>: it allowed the request).</summary>
    public Errno PredictedErrno { get; }
}

/// <summary>
/// A child exited, but its exit status is lost: something else reaped it first (waitid said ECHILD), and the
/// kernel could not give the status back through the pidfd (PIDFD_GET_INFO with PIDFD_INFO_EXIT needs Linux 6.15;
/// a sibling's status appears there only once its own parent has reaped it).
/// </summary>
public sealed class ExitStatusUnavailableException : ForkliftException
{
    internal ExitStatusUnavailableException(int pid, Errno waitErrno, int exitInfoResult)
        : base(FormatMessage(pid, waitErrno, exitInfoResult))
    {
        Pid = pid;
        WaitErrno = waitErrno;
        ExitInfoErrno = exitInfoResult < 0 ? (Errno)(-exitInfoResult) : Errno.None;
    }

    /// <summary>The child's pid.</summary>
    public int Pid { get; }

    /// <summary>Why waitid could not collect the status (ECHILD: reaped by someone else, or not our child).</summary>
    public Errno WaitErrno { get; }

    /// <summary>Why the pidfd had no status (<see cref="Errno.None"/>: the kernel had no exit information for it).</summary>
    public Errno ExitInfoErrno { get; }

    private static string FormatMessage(int pid, Errno waitErrno, int exitInfo)
    {
        string why = exitInfo < 0
            ? $"this kernel cannot read it back through the pidfd (PIDFD_GET_INFO: {ErrnoInfo.Name((Errno)(-exitInfo))}; Linux 6.15+ needed)"
            : "the kernel has no exit information for it on the pidfd (a sibling's status appears only after its own parent reaps it)";
        return $"Process {pid} exited, but its status cannot be read: waitid said {ErrnoInfo.Name(waitErrno)} " +
               $"(something else collected it: a SIGCHLD handler reaping every child, or the process is not our child), and {why}.";
    }
}
