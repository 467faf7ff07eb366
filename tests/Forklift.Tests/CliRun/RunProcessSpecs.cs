using System.Text;
using Forklift.Cli.Run;
using Forklift.Processes;
using Forklift.Spawning;
using Forklift.Tests.Interop;
using Forklift.Tests.Spawning;

namespace Forklift.Tests.CliRun;

/// <summary>
/// <c>forklift run</c> as a real process (<c>dotnet Forklift.Cli.dll run ...</c>): its exit code as a parent sees it,
/// the signals it forwards to its child, and the clone3 fallback under a seccomp filter that makes clone3 fail.
/// </summary>
[Collection(HostResourceCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RunProcessSpecs
{
    [Theory(Timeout = 60_000)]
    [InlineData(new[] { "exit", "0" }, 0)]
    [InlineData(new[] { "exit", "7" }, 7)]
    [InlineData(new[] { "exit", "200" }, 200)]
    [InlineData(new[] { "kill-self", "KILL" }, 137)]
    [InlineData(new[] { "kill-self", "TERM" }, 143)]
    [InlineData(new[] { "kill-self", "ABRT" }, 134)]
    public async Task Forklift_exits_with_the_child_code_or_128_plus_its_signal(string[] mode, int expected)
    {
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.Subprocess(["run", "--", Testee.Path, .. mode]);

        outcome.Exits(expected);
        Assert.Equal("", outcome.Err);
    }

    [Fact(Timeout = 60_000)]
    public async Task Forklift_exits_127_for_a_missing_program_and_125_for_a_failed_step_and_2_for_a_bad_option()
    {
        await using var guard = RunKit.Guard();

        RunKit.FailsWith(await RunKit.Subprocess("run", "--", "/no/such/program"), 127, "forklift: Execve: ENOENT: /no/such/program: ");
        RunKit.FailsWith(await RunKit.Subprocess("run", "--cwd", "/no/such/dir", "--", Testee.Path, "exit", "0"), 125, "forklift: Chdir: ENOENT: /no/such/dir: ");
        RunKit.FailsWith(await RunKit.Subprocess("run", "--rlimit", "BOGUS=1", "--", Testee.Path, "exit", "0"), 2, "forklift: --rlimit 'BOGUS=1': unknown resource");
    }

    [Theory(Timeout = 60_000)]
    [InlineData("TERM", 15)]
    [InlineData("INT", 2)]
    [InlineData("HUP", 1)]
    [InlineData("QUIT", 3)]
    [InlineData("USR1", 10)]
    [InlineData("USR2", 12)]
    public async Task A_signal_sent_to_forklift_reaches_the_child_and_forklift_exits_as_the_child_does(string name, int signal)
    {
        await using var guard = RunKit.Guard();
        var command = RunKit.Forklift("run", "--verbose", "--", Testee.Path, "sigwait", name)
            .WithStandardOutput(Stdio.Pipe).WithStandardError(Stdio.Pipe);
        await using var forklift = ProcessLauncher.Default.Start(command);
        var stderr = ReadAll(forklift.StandardError);

        // The testee says "ready" once it has blocked the signal, after forklift started it (and caught its signals).
        Assert.Equal("ready", await ReadLine(forklift.StandardOutput));
        Assert.True(forklift.Signal(signal));
        var status = await forklift.WaitForExitAsync();

        string err = await stderr;
        Assert.True(status.ExitCode == 0, $"forklift {status}; stderr: {err}");
        Assert.Matches($@"forwarded SIG{name} to pid \d+", err);
        Assert.Contains("exited with code 0", err);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_forwarded_signal_that_kills_the_child_makes_forklift_exit_128_plus_N()
    {
        await using var guard = RunKit.Guard();
        // sigwait USR1 blocks only SIGUSR1, so a forwarded SIGTERM kills the child (default action); forklift itself
        // must not die of it, and exits 128+15 as its child did.
        var command = RunKit.Forklift("run", "--", Testee.Path, "sigwait", "USR1").WithStandardOutput(Stdio.Pipe).WithStandardError(Stdio.Pipe);
        await using var forklift = ProcessLauncher.Default.Start(command);
        var stderr = ReadAll(forklift.StandardError);

        Assert.Equal("ready", await ReadLine(forklift.StandardOutput));
        forklift.Signal(15);
        var status = await forklift.WaitForExitAsync();

        Assert.True(status.ExitCode == 143, $"forklift {status}; stderr: {await stderr}");
    }

    [Fact(Timeout = 60_000)]
    public async Task Under_seccomp_that_makes_clone3_say_ENOSYS_forklift_falls_back_to_legacy_clone_and_says_why()
    {
        await using var guard = RunKit.Guard();
        var command = new Command(Testee.Path).WithArguments(
            "seccomp-clone3", "38", RunKit.Dotnet.Value, RunKit.CliDll, "run", "--verbose", "--", Testee.Path, "exit", "7");

        var outcome = await RunKit.Capture(command);

        outcome.Exits(7);
        Assert.Matches(@"pid \d+ created by legacy clone because clone3 returned ENOSYS", outcome.Err);
        Assert.Contains("exited with code 7", outcome.Err);
    }

    [Fact(Timeout = 90_000)]
    public async Task Under_seccomp_that_makes_our_clone3_say_EPERM_forklift_falls_back_only_when_allowed_and_says_why()
    {
        // The filter answers EPERM to every clone3 except those of size 88: glibc passes 88 when it makes the
        // runtime's threads (it falls back to clone only on ENOSYS, so a filter on every clone3 would stop dotnet
        // itself), while the stage passes the smallest size its call needs (64 here; native/src/spawn.c).
        await using var guard = RunKit.Guard();
        Command Under(params string[] options) => new Command(Testee.Path).WithArguments(
            ["seccomp-clone3-unless-size", "88", "EPERM", RunKit.Dotnet.Value, RunKit.CliDll, "run", .. options, "--", Testee.Path, "exit", "7"]);

        var allowed = await RunKit.Capture(Under("--verbose", "--clone3-eperm-fallback"));
        var refused = await RunKit.Capture(Under());

        allowed.Exits(7);
        Assert.Matches(@"pid \d+ created by legacy clone because clone3 returned EPERM \(--clone3-eperm-fallback\)", allowed.Err);
        Assert.Contains("exited with code 7", allowed.Err);
        string line = RunKit.FailsWith(refused, RunCommand.StartFailedExit, "forklift: Clone3: EPERM: ");
        Assert.Contains("--clone3-eperm-fallback", line);
    }

    private static async Task<string> ReadLine(Stream stream)
    {
        var line = new StringBuilder();
        var buffer = new byte[1];
        while (await stream.ReadAsync(buffer) == 1 && buffer[0] != '\n')
            line.Append((char)buffer[0]);
        return line.ToString();
    }

    private static async Task<string> ReadAll(Stream stream)
    {
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }
}
