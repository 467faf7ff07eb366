using System.CommandLine;
using System.CommandLine.Help;
using Forklift.Cli.Explain;
using Forklift.Cli.Run;

namespace Forklift.Cli;

/// <summary>
/// The <c>forklift</c> command. Exit codes: 0 when the command did its work (for <c>explain</c>, whether or not
/// the call would be allowed), 2 for unusable arguments (one line on stderr), 1 when something else failed.
/// <c>run</c> exits as its child did (128+N for a signal N) or with 127, 126 or 125 when it could not start it
/// (<see cref="RunCommand.Description"/>).
/// </summary>
internal static class Program
{
    /// <summary>Exit code for arguments that cannot be used.</summary>
    internal const int UsageExit = 2;

    /// <summary>Exit code for a failure that is not the arguments' fault (the probe could not run, say).</summary>
    internal const int FailureExit = 1;

    private static int Main(string[] args) => Run(args, CliEnvironment.ForConsole());

    /// <summary>Runs the command line in-process, writing to the given writers, without colour.</summary>
    internal static int Run(string[] args, TextWriter output, TextWriter error) =>
        Run(args, CliEnvironment.ForWriters(output, error));

    /// <summary>Runs the command line in-process in the given environment.</summary>
    internal static int Run(string[] args, CliEnvironment env) => Run(args, env, RunServices.Live);

    /// <summary>Runs the command line in-process, with <c>run</c> starting processes through <paramref name="run"/>.</summary>
    internal static int Run(string[] args, CliEnvironment env, RunServices run)
    {
        // Not RootCommand: it names itself after the executable (Forklift.Cli); the command is `forklift`.
        var root = new Command("forklift", "Forklift: Linux process creation for .NET, and a model of what every clone call means.")
        {
            new HelpOption(),
            new VersionOption(),
        };
        root.Add(ExplainCommand.Create(env));
        root.Add(RunCommand.Create(env, run));
        root.Add(Simulate.SimulateCommand.Create(env));
        root.Add(Bench.BenchCommand.Create(env));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // System.CommandLine would print every error and the help; the contract is one line and exit 2.
            // A word nobody recognized says more than what is missing because of it ("Required command ...").
            string message = parse.UnmatchedTokens.Count > 0
                ? $"unrecognized command or option '{parse.UnmatchedTokens[0]}'"
                : parse.Errors[0].Message;
            env.Error.WriteLine("forklift: " + message + HelpHint(parse));
            return UsageExit;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration
            {
                Output = env.Output,
                Error = env.Error,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (UsageException e)
        {
            env.Error.WriteLine("forklift: " + e.Message);
            return UsageExit;
        }
        catch (VerifyFailedException e)
        {
            env.Error.WriteLine("forklift: " + e.Message);
            return FailureExit;
        }
    }

    private static string HelpHint(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        string name = command.Name == "forklift" ? "forklift" : "forklift " + command.Name;
        return $" (see '{name} --help')";
    }
}

/// <summary>The arguments cannot be used; the message is one line naming the option and the value.</summary>
internal sealed class UsageException(string message) : Exception(message);
