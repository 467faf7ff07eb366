using System.CommandLine;
using Forklift.Simulation.Scenarios;

namespace Forklift.Cli.Simulate;

/// <summary>
/// <c>forklift simulate FILE</c>: runs a scenario on the simulated kernel and prints the trace (every call with
/// its result or errno, the kernel's events under it), the checks, and the final process tree; <c>--json</c> gives
/// the same as one JSON object; <c>--svg OUT</c> also draws the final tree as an SVG picture. Exit 0 when every check holds, 1 when one fails, 2 when the scenario cannot be
/// read or parsed. <c>-</c> reads the scenario from standard input.
/// </summary>
internal static class SimulateCommand
{
    /// <summary>The <c>simulate</c> command.</summary>
    public static Command Create(CliEnvironment env)
    {
        var file = new Argument<string>("FILE") { Description = "The scenario file (format: src/Forklift.Simulation/README.md), or - for standard input." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var svg = new Option<string?>("--svg") { Description = "Also draw the final process tree as an SVG picture into this file." };
        var command = new Command("simulate", "Run a scenario on the simulated kernel: the trace, the checks and the final process tree.")
        {
            file,
            json,
            svg,
        };
        command.SetAction(parse => Run(parse.GetValue(file)!, parse.GetValue(json), env, parse.GetValue(svg)));
        return command;
    }

    /// <summary>Reads, runs and prints one scenario.</summary>
    internal static int Run(string path, bool json, CliEnvironment env, string? svgPath = null)
    {
        string text;
        try
        {
            text = path == "-" ? Console.In.ReadToEnd() : File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            env.Error.WriteLine($"forklift: simulate: cannot read '{path}': {e.Message}");
            return 2;
        }
        var result = ScenarioRunner.Run(text);
        if (svgPath is not null && result.Error is null)
        {
            try
            {
                File.WriteAllText(svgPath, TreePrinter.Svg(result));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                env.Error.WriteLine($"forklift: simulate: cannot write '{svgPath}': {e.Message}");
                return 2;
            }
        }
        string report = json ? result.ToJson() : result.ToText();
        env.Output.Write(report);
        if (!report.EndsWith('\n'))
        {
            env.Output.WriteLine();
        }
        return result.ExitCode;
    }
}
