using Forklift.Rules;
using Forklift.Verification;

namespace Forklift.Cli;

/// <summary>
/// Where a command writes and what it consults: the writers, whether to colour, how to read the calling
/// process's context (read lazily, once, only by commands that need it) and how to ask the live kernel.
/// Tests replace the last two to pin the context or to fake a disagreement.
/// </summary>
internal sealed record CliEnvironment
{
    /// <summary>Standard output.</summary>
    public required TextWriter Output { get; init; }

    /// <summary>Standard error.</summary>
    public required TextWriter Error { get; init; }

    /// <summary>Write ANSI colours to <see cref="Output"/>.</summary>
    public bool Colour { get; init; }

    /// <summary>Reads the calling process's context (default: <see cref="CallerContextReader.Live"/>).</summary>
    public Func<CallerContext> LiveContext { get; init; } = CallerContextReader.Live;

    /// <summary>Makes one call on the live kernel (default: <see cref="KernelVerifier.Run(VerificationCase)"/>).</summary>
    public Func<VerificationCase, KernelAnswer> Verifier { get; init; } = KernelVerifier.Run;

    /// <summary>The process's console: colour when stdout is a terminal, NO_COLOR is unset and TERM is not <c>dumb</c>.</summary>
    public static CliEnvironment ForConsole() => new()
    {
        Output = Console.Out,
        Error = Console.Error,
        Colour = !Console.IsOutputRedirected
            && Environment.GetEnvironmentVariable("NO_COLOR") is null
            && Environment.GetEnvironmentVariable("TERM") != "dumb",
    };

    /// <summary>Plain writers, no colour.</summary>
    public static CliEnvironment ForWriters(TextWriter output, TextWriter error) => new() { Output = output, Error = error };
}
