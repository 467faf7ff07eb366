using System.Text.Json;
using Forklift.Abi;
using Forklift.Cli;
using Forklift.Rules;
using Forklift.Verification;
using Xunit;

namespace Forklift.Tests.Cli;

/// <summary>What one in-process run of the CLI printed and returned.</summary>
public sealed record CliOutcome(int Exit, string Out, string Err)
{
    /// <summary>The stdout parsed as JSON (the test fails when it is not exactly one JSON value).</summary>
    public JsonElement Json()
    {
        using var doc = JsonDocument.Parse(Out);
        return doc.RootElement.Clone();
    }
}

/// <summary>Runs <c>forklift</c> in-process through <c>Program.Run</c>.</summary>
internal static class CliKit
{
    /// <summary>
    /// A caller pinned for repeatable answers: root with every capability on the reference kernel, in the
    /// initial namespaces, no limits (the model's default caller).
    /// </summary>
    public static readonly CallerContext PinnedRoot = CallerContext.Root;

    /// <summary>Runs with the live context of this test process (what <c>forklift</c> itself does).</summary>
    public static CliOutcome RunLive(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Program.Run(args, output, error);
        return new CliOutcome(exit, output.ToString(), error.ToString());
    }

    /// <summary>Runs against <see cref="PinnedRoot"/>, with an optional fake for the kernel.</summary>
    public static CliOutcome Run(string[] args, Func<VerificationCase, KernelAnswer>? kernel = null, bool colour = false)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var env = CliEnvironment.ForWriters(output, error) with
        {
            LiveContext = () => PinnedRoot,
            Verifier = kernel ?? (_ => throw new InvalidOperationException("this test does not expect --verify to reach the kernel")),
            Colour = colour,
        };
        int exit = Program.Run(args, env);
        return new CliOutcome(exit, output.ToString(), error.ToString());
    }

    /// <summary>Runs <c>explain</c> with the given options (split on spaces) against <see cref="PinnedRoot"/>.</summary>
    public static CliOutcome Explain(string options, Func<VerificationCase, KernelAnswer>? kernel = null) =>
        Run(["explain", .. Split(options)], kernel);

    /// <summary>Runs <c>explain --json</c> and returns the parsed object, asserting exit 0 and silence on stderr.</summary>
    public static JsonElement ExplainJson(string options, Func<VerificationCase, KernelAnswer>? kernel = null)
    {
        var outcome = Run(["explain", "--json", .. Split(options)], kernel);
        Assert.True(outcome.Exit == 0, $"exit {outcome.Exit}: {outcome.Err}");
        return outcome.Json();
    }

    /// <summary>Asserts an unusable command line: exit 2, nothing on stdout, one line on stderr containing <paramref name="expected"/>.</summary>
    public static void Unusable(CliOutcome outcome, string expected)
    {
        Assert.Equal(2, outcome.Exit);
        Assert.Equal("", outcome.Out);
        string[] lines = outcome.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("forklift: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    /// <summary>A kernel that answers <paramref name="errno"/> (None: success) and records the case it was given.</summary>
    public static Func<VerificationCase, KernelAnswer> Kernel(Errno errno, List<VerificationCase>? seen = null) => c =>
    {
        seen?.Add(c);
        return new KernelAnswer(errno == Errno.None, errno, false, null);
    };

    private static string[] Split(string options) => options.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
