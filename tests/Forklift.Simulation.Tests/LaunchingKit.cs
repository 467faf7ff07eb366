using System.Diagnostics;
using System.Globalization;
using System.Text;
using Forklift.Abi;
using Forklift.Processes;
using Forklift.Simulation.Launching;
using Forklift.Simulation.Programs;
using Forklift.Spawning;

namespace Forklift.Simulation.Tests;

/// <summary>The repo's dummy child program (tests/testee/testee.c), copied next to the test assembly by the build.</summary>
internal static class Testee
{
    public static readonly string Path = System.IO.Path.Combine(AppContext.BaseDirectory, "forklift-testee");

    /// <summary>A command running the testee in <paramref name="mode"/>.</summary>
    public static Command Run(params string[] mode) => new Command(Path).WithArguments(mode);
}

/// <summary>
/// The testee's modes as a simulated program, registered at the testee's own path, so that the very same
/// <see cref="Command"/> runs the real binary on the real launcher and this behaviour on the simulated one.
/// Times are milliseconds in both (the simulated kernel's tick is a millisecond).
/// </summary>
internal static class SimulatedTestee
{
    public static void Register(SimulatedProcessLauncher launcher) => launcher.Programs.Register(Testee.Path, Body);

    private static IEnumerable<ProgramStep> Body(ProgramContext ctx)
    {
        var args = ctx.Args;
        string mode = args.Count > 1 ? args[1] : "";
        string? arg = args.Count > 2 ? args[2] : null;
        switch (mode)
        {
            case "exit" when arg is not null:
                yield return ctx.Exit(int.Parse(arg, CultureInfo.InvariantCulture));
                break;
            case "sleep" when arg is not null:
                yield return ctx.Sleep(long.Parse(arg, CultureInfo.InvariantCulture));
                yield return ctx.Exit(0);
                break;
            case "kill-self" when arg is not null:
                int sig = Signals.Parse(arg);
                ctx.Kernel.Sigaction(ctx.Task, sig, SignalAction.Default);
                ctx.Kill(ctx.Getpid(), sig);
                yield return ctx.Exit(1); // the signal was ignored or is not fatal
                break;
            case "env":
                foreach (var (name, value) in ctx.Environment())
                {
                    ctx.Write(1, $"{name}={value}\n");
                }
                yield return ctx.Exit(0);
                break;
            case "cwd":
                ctx.Write(1, ctx.WorkingDirectory() + "\n");
                yield return ctx.Exit(0);
                break;
            case "argv":
                foreach (var a in args)
                {
                    ctx.Write(1, a + "\n");
                }
                yield return ctx.Exit(0);
                break;
            case "umask":
                ctx.Write(1, Convert.ToString(ctx.Task.Fs.Umask, 8).PadLeft(4, '0') + "\n");
                yield return ctx.Exit(0);
                break;
            case "ppid":
                ctx.Write(1, ctx.Kernel.Getppid(ctx.Task).Value.ToString(CultureInfo.InvariantCulture) + "\n");
                yield return ctx.Exit(0);
                break;
            case "echo":
                while (true)
                {
                    yield return ctx.Read(0);
                    if (ctx.LastResult.Errno == Errno.EINTR)
                    {
                        continue;
                    }
                    if (ctx.LastResult.Value <= 0)
                    {
                        yield return ctx.Exit(ctx.LastResult.Ok ? 0 : 3);
                    }
                    ctx.WriteBytes(1, ctx.ReadBytes().Span);
                }
            case "write-out" when arg is not null:
                int n = int.Parse(arg, CultureInfo.InvariantCulture);
                var pattern = new byte[n];
                for (int i = 0; i < n; i++)
                {
                    pattern[i] = (byte)('a' + i % 26);
                }
                ctx.WriteBytes(1, pattern);
                yield return ctx.Exit(0);
                break;
            default:
                ctx.Write(2, "usage: forklift-testee MODE [ARGS...] (modes are listed in tests/testee/testee.c)\n");
                yield return ctx.Exit(2);
                break;
        }
    }
}

/// <summary>
/// One kernel for the shared test bodies: the real one (<see cref="ProcessLauncher"/>, the system clock, real
/// programs) or the simulated one (<see cref="SimulatedProcessLauncher"/>, its virtual clock, behaviours that act
/// the same). Durations are chosen per rig: short on the real kernel (the test waits them out), long on the
/// simulated one (they pass in virtual time).
/// </summary>
public abstract class Rig : IDisposable
{
    public static TheoryData<string> Kernels => ["real", "simulated"];

    public static Rig Create(string kernel) => kernel == "real" ? new RealRig() : new SimulatedRig();

    public abstract bool IsSimulated { get; }

    public abstract IProcessLauncher Launcher { get; }

    public abstract TimeProvider Time { get; }

    /// <summary>A timeout the tests let expire (real: 300 ms; simulated: 30 s).</summary>
    public abstract TimeSpan Timeout { get; }

    /// <summary>The graceful-stop bound (real: 300 ms; simulated: 5 s).</summary>
    public abstract TimeSpan StopBound { get; }

    /// <summary>A supervisor's back-off between restarts (real: 100 ms; simulated: 1 s).</summary>
    public abstract TimeSpan Backoff { get; }

    /// <summary>Runs the code under test: as is on the real kernel, driven by <see cref="SimulatedProcessLauncher.Run{T}"/> on the simulated one.</summary>
    public abstract Task<T> Run<T>(Func<Task<T>> body);

    /// <summary>A command that fails (exit 1) its first <paramref name="failures"/> runs, then succeeds (exit 0).</summary>
    public abstract Command Flaky(int failures);

    /// <summary><c>/bin/echo WORDS...</c>.</summary>
    public static Command Echo(params string[] words) => new Command("/bin/echo").WithArguments(words);

    /// <summary><c>/usr/bin/tr a-z A-Z</c>.</summary>
    public static Command Upcase() => new Command("/usr/bin/tr").WithArguments("a-z", "A-Z");

    /// <summary>The testee sleeping <paramref name="duration"/> (whole milliseconds).</summary>
    public static Command Sleep(TimeSpan duration) =>
        Testee.Run("sleep", ((long)duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));

    public virtual void Dispose()
    {
    }
}

internal sealed class RealRig : Rig
{
    private readonly string _directory = Directory.CreateTempSubdirectory("forklift-rig-").FullName;

    public override bool IsSimulated => false;

    public override IProcessLauncher Launcher => ProcessLauncher.Default;

    public override TimeProvider Time => TimeProvider.System;

    public override TimeSpan Timeout => TimeSpan.FromMilliseconds(300);

    public override TimeSpan StopBound => TimeSpan.FromMilliseconds(300);

    public override TimeSpan Backoff => TimeSpan.FromMilliseconds(100);

    public override Task<T> Run<T>(Func<Task<T>> body) => body();

    // A counter file in the rig's own directory: n-th run exits 0 only once n > failures.
    public override Command Flaky(int failures) => new Command("/bin/sh").WithArguments("-c",
        $"n=$(cat \"$0\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$0\"; [ \"$n\" -gt {failures} ]",
        Path.Combine(_directory, "runs"));

    public override void Dispose() => Directory.Delete(_directory, recursive: true);
}

internal sealed class SimulatedRig : Rig
{
    private int _runs;

    public SimulatedRig()
    {
        Simulated = new SimulatedProcessLauncher();
        SimulatedTestee.Register(Simulated);
        // tr a-z A-Z: upper-cases ASCII letters from stdin to stdout until end of file.
        Simulated.Programs.Register("/usr/bin/tr", Tr);
        Simulated.Programs.Register("/usr/bin/flaky", ctx => [ctx.Exit(++_runs > int.Parse(ctx.Args[1], CultureInfo.InvariantCulture) ? 0 : 1)]);
    }

    public SimulatedProcessLauncher Simulated { get; }

    public override bool IsSimulated => true;

    public override IProcessLauncher Launcher => Simulated;

    public override TimeProvider Time => Simulated.TimeProvider;

    public override TimeSpan Timeout => TimeSpan.FromSeconds(30);

    public override TimeSpan StopBound => TimeSpan.FromSeconds(5);

    public override TimeSpan Backoff => TimeSpan.FromSeconds(1);

    public override Task<T> Run<T>(Func<Task<T>> body)
    {
        try
        {
            return Task.FromResult(Simulated.Run(body));
        }
        catch (Exception e)
        {
            return Task.FromException<T>(e);
        }
    }

    public override Command Flaky(int failures) => new Command("/usr/bin/flaky").WithArguments(failures.ToString(CultureInfo.InvariantCulture));

    private static IEnumerable<ProgramStep> Tr(ProgramContext ctx)
    {
        if (ctx.Args.Count != 3 || ctx.Args[1] != "a-z" || ctx.Args[2] != "A-Z")
        {
            ctx.Write(2, "tr: only 'tr a-z A-Z' is simulated\n");
            yield return ctx.Exit(1);
        }
        while (true)
        {
            yield return ctx.Read(0);
            if (ctx.LastResult.Value <= 0)
            {
                yield return ctx.Exit(ctx.LastResult.Ok ? 0 : 1);
            }
            var data = ctx.ReadBytes().ToArray();
            for (int i = 0; i < data.Length; i++)
            {
                if (data[i] is >= (byte)'a' and <= (byte)'z')
                {
                    data[i] -= 32;
                }
            }
            ctx.WriteBytes(1, data);
        }
    }
}

/// <summary>Wall-clock and virtual-clock time of one piece of work.</summary>
internal readonly record struct Timing(TimeSpan Wall, TimeSpan Clock)
{
    public static async Task<(T Result, Timing Timing)> Of<T>(TimeProvider clock, Func<Task<T>> work)
    {
        var wall = Stopwatch.StartNew();
        long start = clock.GetTimestamp();
        var result = await work();
        return (result, new Timing(wall.Elapsed, clock.GetElapsedTime(start)));
    }

    public override string ToString() => $"wall {Wall.TotalMilliseconds:0.0} ms, clock {Clock.TotalMilliseconds:0.0} ms";
}

internal static class Text
{
    public static string Of(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
