using System.Runtime.InteropServices;
using Forklift.Abi;
using Forklift.Cli;
using Forklift.Cli.Run;
using Forklift.Interop;
using Forklift.Processes;
using Forklift.Rules;
using Forklift.Spawning;
using Forklift.Tests.Cli;
using Forklift.Tests.Spawning;
using SpawnCommand = Forklift.Spawning.Command;

namespace Forklift.Tests.CliRun;

/// <summary>
/// Runs <c>forklift run</c> in-process (<c>Program.Run</c>, on a worker thread so that test timeouts apply) and as a
/// real process (<c>dotnet Forklift.Cli.dll run ...</c>, started with Forklift itself, both streams captured).
/// </summary>
internal static class RunKit
{
    /// <summary>The CLI assembly next to the test assembly.</summary>
    public static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "Forklift.Cli.dll");

    /// <summary>The dotnet host: this process's if it is one, else DOTNET_HOST_PATH, else the first <c>dotnet</c> in PATH.</summary>
    public static readonly Lazy<string> Dotnet = new(() =>
    {
        if (Environment.ProcessPath is { } self && Path.GetFileName(self) == "dotnet")
            return self;
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
            return host;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "dotnet");
            if (File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException("no dotnet host found (not this process, not DOTNET_HOST_PATH, not in PATH)");
    });

    private static bool s_signalsReady;

    /// <summary>A <see cref="SpawnGuard"/>, with the runtime's one-time signal setup done before its snapshot.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static SpawnGuard Guard()
    {
        if (!s_signalsReady)
        {
            // The runtime creates its signal pipe (two fds, kept for the life of the process) on the first
            // PosixSignalRegistration, which the first in-process run makes: let that happen before the snapshot.
            using (PosixSignalRegistration.Create(PosixSignal.SIGCONT, _ => { }))
                s_signalsReady = true;
        }
        return SpawnGuard.Start();
    }

    /// <summary>Runs <c>forklift</c> in-process with the live spawner.</summary>
    public static Task<CliOutcome> InProcess(params string[] args) => InProcess(RunServices.Live, args);

    /// <summary>Runs <c>forklift</c> in-process, <c>run</c> starting processes through <paramref name="services"/>.</summary>
    public static Task<CliOutcome> InProcess(RunServices services, params string[] args) => Task.Run(() =>
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Program.Run(args, CliEnvironment.ForWriters(output, error), services);
        return new CliOutcome(exit, output.ToString(), error.ToString());
    });

    /// <summary><c>forklift run OPTIONS -- testee MODE...</c> in-process.</summary>
    public static Task<CliOutcome> RunTestee(string[] options, params string[] mode) =>
        InProcess(["run", .. options, "--", Testee.Path, .. mode]);

    /// <summary>The command that runs <c>forklift ARGS</c> as a process of its own.</summary>
    public static SpawnCommand Forklift(params string[] args) =>
        new SpawnCommand(Dotnet.Value).WithArguments([CliDll, .. args])
            // Whatever this host ignores, the CLI must see default dispositions, so that it can catch them.
            .WithDefaultSignals(1, 2, 3, 10, 12, 13, 15, 25);

    /// <summary>Runs <c>forklift ARGS</c> as a process and captures both streams.</summary>
    public static async Task<CliOutcome> Subprocess(params string[] args) => await Capture(Forklift(args));

    /// <summary>Runs a command and captures both streams; the exit code is 128+N for a signal N.</summary>
    public static async Task<CliOutcome> Capture(SpawnCommand command)
    {
        var result = await command.ExecuteBufferedAsync();
        return new CliOutcome(result.ExitStatus.ExitCode ?? 128 + result.ExitStatus.Signal!.Value, result.StandardOutput, result.StandardError);
    }

    /// <summary>Asserts a successful run: the expected exit code, and stderr shown on failure.</summary>
    public static CliOutcome Exits(this CliOutcome outcome, int expected)
    {
        Assert.True(outcome.Exit == expected, $"exit {outcome.Exit}, expected {expected}; stderr: {outcome.Err}");
        return outcome;
    }

    /// <summary>Asserts a start failure: exit <paramref name="exit"/> and exactly one stderr line, starting with <paramref name="prefix"/>.</summary>
    public static string FailsWith(CliOutcome outcome, int exit, string prefix)
    {
        outcome.Exits(exit);
        string[] lines = outcome.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got: {outcome.Err}");
        Assert.StartsWith(prefix, lines[0]);
        return lines[0];
    }
}

/// <summary>A directory for one test's files, removed at the end.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed class TempDir : IDisposable
{
    public TempDir(bool worldWritable = false)
    {
        Path = Directory.CreateTempSubdirectory("forklift-clirun-").FullName;
        if (worldWritable)
            System.IO.File.SetUnixFileMode(Path, (UnixFileMode)0x1ff);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Read(string name) => System.IO.File.ReadAllText(File(name));

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>
/// Real system calls, except that clone3 answers <see cref="Errno"/> at the native stage's boundary: <c>fl_spawn</c>
/// reports what the stage reports when clone3 fails so (native/src/spawn.c): without the EPERM fallback, no child and
/// a failure at the clone step; with it, the legacy clone, made for real, and <c>clone3_errno</c> recorded. For the
/// in-process CLI tests; the same is tested for real with <c>forklift run</c> under a seccomp filter that refuses
/// the stage's clone3 calls but not glibc's (RunProcessSpecs), and for the stage alone by native/tests/spawn_test.c.
/// </summary>
internal sealed unsafe class Clone3FailsSystemCalls(Errno errno) : ISystemCalls
{
    private readonly ISystemCalls _real = LinuxSystemCalls.Instance;

    /// <summary>A launcher over these calls, judging clone requests as the live process.</summary>
    public static ProcessLauncher Launcher(Errno errno) => new(new Clone3FailsSystemCalls(errno), CallerContextReader.Live);

    public int Spawn(FlSpawnPlan* plan, FlSpawnResult* result)
    {
        if ((plan->Flags & SpawnPlanFlags.NoClone3) != 0)
            return _real.Spawn(plan, result);
        bool fallback = errno == Errno.ENOSYS || (errno == Errno.EPERM && (plan->Flags & SpawnPlanFlags.FallbackOnEperm) != 0);
        if (!fallback)
        {
            *result = FlSpawnResult.Empty;
            result->ErrorErrno = (int)errno;
            result->ErrorStep = SpawnStepCode.Clone;
            return -1;
        }
        plan->Flags |= SpawnPlanFlags.NoClone3;
        try
        {
            int rc = _real.Spawn(plan, result);
            result->Clone3Errno = (int)errno;
            return rc;
        }
        finally
        {
            plan->Flags &= ~SpawnPlanFlags.NoClone3;
        }
    }

    public int Pipe2(out int readFd, out int writeFd) => _real.Pipe2(out readFd, out writeFd);
    public int SetNonBlocking(int fd) => _real.SetNonBlocking(fd);
    public int Close(int fd) => _real.Close(fd);
    public int Read(int fd, Span<byte> buffer) => _real.Read(fd, buffer);
    public int Write(int fd, ReadOnlySpan<byte> buffer) => _real.Write(fd, buffer);
    public int Poll(int fd, short events, int timeoutMilliseconds) => _real.Poll(fd, events, timeoutMilliseconds);
    public int EpollCreate() => _real.EpollCreate();
    public int EpollCtl(int epollFd, int operation, int fd, uint events, ulong data) => _real.EpollCtl(epollFd, operation, fd, events, data);
    public int EpollWait(int epollFd, Span<EpollEvent> events, int timeoutMilliseconds) => _real.EpollWait(epollFd, events, timeoutMilliseconds);
    public int SpawnRelease(FlSpawnResult* result, FlSpawnPlan* plan, bool go) => _real.SpawnRelease(result, plan, go);
    public int PidfdWait(int pidfd, int options, out int status, Span<long> rusage) => _real.PidfdWait(pidfd, options, out status, rusage);
    public int PidfdExitInfo(int pidfd, out int status) => _real.PidfdExitInfo(pidfd, out status);
    public int PidfdSendSignal(int pidfd, int signal) => _real.PidfdSendSignal(pidfd, signal);
    public int GetParentPid() => _real.GetParentPid();
}
