using System.CommandLine;
using System.Diagnostics;
using Forklift.Abi;
using Forklift.Isolation;
using Forklift.Processes;
using Forklift.Spawning;
using SpawnCommand = Forklift.Spawning.Command;

namespace Forklift.Cli.Run;

/// <summary>
/// <c>forklift run [options] -- PROGRAM [ARGS...]</c>: starts one program through the spawner, forwards the signals
/// forklift receives to it, waits, and exits as it did. Exit codes follow <c>env</c>, <c>chroot</c> and
/// <c>timeout</c> (coreutils) and the shells: see <see cref="Description"/>.
/// </summary>
internal static class RunCommand
{
    /// <summary>The program could not be found (execve said ENOENT for every candidate).</summary>
    public const int NotFoundExit = 127;

    /// <summary>The program was found but could not be executed (any other execve errno).</summary>
    public const int NotExecutableExit = 126;

    /// <summary>forklift could not start the child for another reason (a setup step, the clone, the model).</summary>
    public const int StartFailedExit = 125;

    /// <summary>The help text's description, which documents the exit codes.</summary>
    public const string Description =
        "Start PROGRAM with the given options and wait for it: forklift run [options] -- PROGRAM [ARGS...]. " +
        "SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1 and SIGUSR2 sent to forklift are forwarded to the child (through its pidfd). " +
        "Exit status, as env(1) and chroot(1) do: the child's exit code; 128+N when signal N killed it; " +
        "127 when PROGRAM was not found; 126 when it was found but could not be executed; " +
        "125 when forklift could not start it for another reason (a failed setup step such as --cwd or --stdout, " +
        "a limit, the clone call, or the clone model refusing the request); 2 for unusable arguments. " +
        "Failures are one line on stderr: forklift: STEP: ERRNO: OBJECT: what happened.";

    /// <summary>The <c>run</c> command, bound to <paramref name="env"/>.</summary>
    public static System.CommandLine.Command Create(CliEnvironment env, RunServices services)
    {
        var options = new RunOptions();
        var command = new System.CommandLine.Command("run", Description);
        foreach (var option in options.All)
            command.Add(option);
        command.Add(options.Program);
        command.SetAction(parse => Run(RunRequest.From(parse, options), env, services));
        return command;
    }

    /// <summary>Starts the request's command, forwards signals while it runs, and returns the exit code.</summary>
    internal static int Run(RunRequest request, CliEnvironment env, RunServices services)
    {
        var report = new RunReport(env.Error, request.Verbose);
        if (request.Cgroup is not { } cgroup)
            return Run(request, request.Command, null, report, services);

        // The cgroup is made (or opened) before the plan is shown, so the plan has its placement steps; it is
        // removed (what is left in it killed) after the program exits, whatever happened.
        ControlGroup group;
        try
        {
            group = cgroup.Acquire();
        }
        catch (CgroupException e)
        {
            return report.Failure(FailureLine(e), StartFailedExit);
        }
        try
        {
            report.Cgroup(group);
            return Run(request, request.Command.WithCgroup(group), group, report, services);
        }
        finally
        {
            try
            {
                group.Dispose();
            }
            catch (CgroupException e)
            {
                report.Warning(FailureLine(e));
            }
        }
    }

    private static int Run(RunRequest request, SpawnCommand command, ControlGroup? group, RunReport report, RunServices services)
    {
        if (request.Verbose)
            report.Plan(command);

        ProcessLauncher launcher;
        try
        {
            launcher = services.Launcher();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or ForkliftException)
        {
            return report.Failure("forklift: cannot load the spawner: " + e.Message, StartFailedExit);
        }

        using var forwarder = SignalForwarder.Install(request.Verbose ? report.Line : null);
        var clock = Stopwatch.StartNew();
        ChildProcess child;
        try
        {
            child = launcher.Start(command);
        }
        catch (CommandException e)
        {
            throw new UsageException($"{RunRequest.OptionName(e.Option)}: {e.Reason}");
        }
        catch (SpawnException e)
        {
            if (e.SpawnPath is { } path && e.Pid > 0)
                report.Path(path, e.Pid, cloneCall: null);
            else if (e.SpawnPath is { Clone3Errno: not Errno.None } fellBack)
                report.Line($"clone3 returned {ErrnoInfo.Name(fellBack.Clone3Errno)}; the legacy clone it fell back to failed too");
            return report.Failure(FailureLine(e), ExitCodeFor(e));
        }

        using (child)
        {
            report.Path(child.SpawnPath, child.Pid, child.CloneCallDuration);
            forwarder.Attach(child, childSharesGroup: !command.NewSession && command.ProcessGroup is null);
            ExitStatus status;
            try
            {
                // The blocking wait is woken by the reactor directly; an await here would start the thread pool
                // (a worker, a second worker and the gate thread) only to hand the status to this thread
                status = child.WaitForExit();
            }
            catch (ExitStatusUnavailableException e)
            {
                return report.Failure("forklift: Wait: " + OneLine(e.Message), StartFailedExit);
            }
            int exit = ExitCodeFor(status);
            if (group is not null)
                report.Statistics(group, request.Cgroup!.Stats, status);
            report.Exit(child.Pid, status, clock.Elapsed, exit);
            return exit;
        }
    }

    /// <summary>The child's exit code, or 128+N when signal N killed it (as shells report it).</summary>
    public static int ExitCodeFor(ExitStatus status) => status.ExitCode ?? 128 + (status.Signal ?? 0);

    /// <summary>127 for a program not found, 126 for one that cannot be executed, 125 for any other start failure.</summary>
    public static int ExitCodeFor(SpawnException e) => e.Step == "Execve"
        ? e.Errno == Errno.ENOENT ? NotFoundExit : NotExecutableExit
        : StartFailedExit;

    /// <summary>
    /// One line: <c>forklift: STEP: ERRNO: OBJECT: what happened</c> (parts that are unknown are left out). The hint
    /// is the library's, except where it names a library call that has a CLI option.
    /// </summary>
    public static string FailureLine(SpawnException e)
    {
        var parts = new List<string> { "forklift", e.Step };
        if (e.Errno != Errno.None)
            parts.Add(ErrnoInfo.Name(e.Errno));
        if (e.Object is not null)
            parts.Add(e.Object);

        string what;
        switch (e)
        {
            case CloneRefusedException refused:
                what = $"the clone model refused the request before the system call ({refused.Rule.Name}, {refused.Rule.KernelFunction}): {refused.Verdict.Explain()}";
                break;
            case { Step: "Clone3", Errno: Errno.EPERM }:
                what = $"{ErrnoInfo.Message(e.Errno)} from clone3: a seccomp profile may block it (some container engines do); " +
                       "--clone3-eperm-fallback falls back to legacy clone on EPERM";
                break;
            case { Step: "Execve", ExecAttempts.Length: > 1 }:
                what = ExecSearch(e);
                break;
            default:
                what = e.Errno != Errno.None ? ErrnoInfo.Message(e.Errno) : "failed";
                if (e.Hint is not null)
                    what = e.Hint.StartsWith(what, StringComparison.OrdinalIgnoreCase) ? e.Hint.TrimEnd('.') : what + ". " + e.Hint.TrimEnd('.');
                break;
        }
        if (e is CloneFailedException { PredictedErrno: var predicted })
            what += predicted == Errno.None ? " (the clone model allowed it)" : $" (the clone model predicted {ErrnoInfo.Name(predicted)})";
        parts.Add(what);
        return OneLine(string.Join(": ", parts));
    }

    /// <summary>A failed PATH search: every directory tried, and any candidate that failed other than with ENOENT.</summary>
    private static string ExecSearch(SpawnException e)
    {
        var tried = e.ExecAttempts.Where(a => a.Errno != Errno.None).ToList();
        var directories = tried.Select(a => Path.GetDirectoryName(a.Path) is { Length: > 0 } d ? d : ".");
        string text = e.Errno == Errno.ENOENT
            ? $"not found in any PATH directory ({string.Join(":", directories)})"
            : $"{ErrnoInfo.Message(e.Errno)}; PATH directories tried: {string.Join(":", directories)}";
        var other = tried.Where(a => a.Errno != Errno.ENOENT).Select(a => $"{a.Path} {ErrnoInfo.Name(a.Errno)}").ToList();
        if (other.Count > 0)
            text += $"; found but not executable: {string.Join(", ", other)}";
        if (e.Hint is not null && e.Errno != Errno.ENOENT)
            text += ". " + e.Hint.TrimEnd('.');
        return text;
    }

    /// <summary>One line for a cgroup failure: <c>forklift: cgroup: STEP: ERRNO: PATH: advice</c>.</summary>
    public static string FailureLine(CgroupException e)
    {
        var parts = new List<string> { "forklift: cgroup", e.Step };
        if (e.Errno != Errno.None)
            parts.Add(ErrnoInfo.Name(e.Errno));
        if (e.Path is not null)
            parts.Add(e.Path);
        parts.Add(e.Advice ?? (e.Errno != Errno.None ? ErrnoInfo.Message(e.Errno) : "failed"));
        return OneLine(string.Join(": ", parts));
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
