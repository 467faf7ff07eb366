using System.Diagnostics;
using System.Security.Cryptography;
using Forklift.Processes;
using Forklift.Spawning;
using Forklift.Tests.Interop;
using Xunit.Abstractions;

namespace Forklift.Tests.Spawning;

/// <summary>Pipes as streams: large transfers both ways, buffered capture, child-to-child pipelines.</summary>
[Collection(HostResourceCollection.Name)]
public sealed class StreamSpecs(ITestOutputHelper output)
{
    private const int HundredMegabytes = 100 * 1024 * 1024;

    [Fact(Timeout = 120_000)]
    public async Task I_can_pump_100_MB_into_a_child_and_read_100_MB_back_at_the_same_time_without_deadlock()
    {
        await using var guard = SpawnGuard.Start();
        using var child = Testee.Run("echo").WithStandardInput(Stdio.Pipe).WithStandardOutput(Stdio.Pipe).Start();
        var data = RandomNumberGenerator.GetBytes(HundredMegabytes);
        var stopwatch = Stopwatch.StartNew();

        var writer = Task.Run(async () =>
        {
            for (int offset = 0; offset < data.Length; offset += 1 << 20)
                await child.StandardInput.WriteAsync(data.AsMemory(offset, Math.Min(1 << 20, data.Length - offset)));
            await child.StandardInput.DisposeAsync(); // EOF for the child
        });
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long received = 0;
        var buffer = new byte[1 << 16];
        int n;
        while ((n = await child.StandardOutput.ReadAsync(buffer)) > 0)
        {
            sha.AppendData(buffer, 0, n);
            received += n;
        }
        await writer;
        var status = await child.WaitForExitAsync();

        Assert.Equal(data.Length, received);
        Assert.Equal(SHA256.HashData(data), sha.GetHashAndReset());
        Assert.True(status.Succeeded);
        output.WriteLine($"100 MB each way through the testee in {stopwatch.ElapsedMilliseconds} ms");
    }

    [Fact(Timeout = 120_000)]
    public async Task I_can_capture_100_MB_on_both_output_streams_at_once_without_deadlock()
    {
        await using var guard = SpawnGuard.Start();

        var result = await Testee.Run("write-both", HundredMegabytes.ToString()).ExecuteBufferedAsync();

        Assert.True(result.ExitStatus.Succeeded);
        Assert.Equal(HundredMegabytes, result.StandardOutputBytes.Length);
        Assert.Equal(HundredMegabytes, result.StandardErrorBytes.Length);
        Assert.True(Pattern.Matches(result.StandardOutputBytes, 'a'));
        Assert.True(Pattern.Matches(result.StandardErrorBytes, 'A'));
        output.WriteLine($"2 x 100 MB captured in {result.RunTime.TotalMilliseconds:F0} ms");
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_capture_text_and_the_exit_status_of_a_failing_command()
    {
        await using var guard = SpawnGuard.Start();

        var ok = await Testee.Run("write-both", "30").ExecuteBufferedAsync();
        var failed = await Testee.Run("exit", "3").ExecuteBufferedAsync();

        Assert.Equal(Pattern.Text('a', 30), ok.StandardOutput);
        Assert.Equal(Pattern.Text('A', 30), ok.StandardError);
        Assert.Equal(3, failed.ExitStatus.ExitCode);
        Assert.Equal("", failed.StandardOutput);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_cancel_a_buffered_execution_and_the_child_is_gone()
    {
        await using var guard = SpawnGuard.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Testee.Run("sleep", "20000").ExecuteBufferedAsync(forcefulCancellation: cts.Token));

        Assert.Equal(cts.Token, e.CancellationToken);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_read_EOF_when_the_child_closes_its_stdout_while_still_running()
    {
        await using var guard = SpawnGuard.Start();
        using var child = Testee.Run("close-stdout-then-sleep", "500").WithStandardOutput(Stdio.Pipe).Start();

        var stopwatch = Stopwatch.StartNew();
        int n = await child.StandardOutput.ReadAsync(new byte[16]);
        long eofAfter = stopwatch.ElapsedMilliseconds;
        var status = await child.WaitForExitAsync();

        Assert.Equal(0, n);
        Assert.True(eofAfter < 450, $"EOF after {eofAfter} ms");
        Assert.True(status.Succeeded);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_read_and_write_the_pipes_synchronously()
    {
        await using var guard = SpawnGuard.Start();
        using var child = Testee.Run("echo").WithStandardInput(Stdio.Pipe).WithStandardOutput(Stdio.Pipe).Start();

        child.StandardInput.Write("hello\n"u8);
        child.StandardInput.Dispose();
        var text = new StreamReader(child.StandardOutput).ReadToEnd();

        Assert.Equal("hello\n", text);
        Assert.True((await child.WaitForExitAsync()).Succeeded);
        Assert.Throws<InvalidOperationException>(() => child.StandardError);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_cancel_a_pending_read_and_read_again()
    {
        await using var guard = SpawnGuard.Start();
        using var child = Testee.Run("echo").WithStandardInput(Stdio.Pipe).WithStandardOutput(Stdio.Pipe).Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => { int read = await child.StandardOutput.ReadAsync(new byte[8], cts.Token); Assert.Fail($"read {read}"); });
        await child.StandardInput.WriteAsync("x"u8.ToArray());
        var buffer = new byte[8];
        int n = await child.StandardOutput.ReadAsync(buffer);
        child.StandardInput.Dispose();
        await child.WaitForExitAsync();

        Assert.Equal("x", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_pipe_one_child_into_another_directly()
    {
        await using var guard = SpawnGuard.Start();
        var fdsBefore = Host.WatchedFds().Count;

        var children = Testee.Run("write-out", "100000").PipeTo(Testee.Run("echo").WithStandardOutput(Stdio.Pipe)).Start();
        int parentPipesDuring = Host.WatchedFds().Count - fdsBefore; // 2 pidfds + our read end of the last stdout
        using var ms = new MemoryStream();
        await children[1].StandardOutput.CopyToAsync(ms);
        var statuses = await Task.WhenAll(children.Select(c => c.WaitForExitAsync()));
        foreach (var c in children)
            c.Dispose();

        Assert.Equal(Pattern.Make('a', 100000), ms.ToArray());
        Assert.All(statuses, s => Assert.True(s.Succeeded));
        Assert.Equal(3, parentPipesDuring);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_cannot_pipe_a_command_whose_connected_stream_is_already_set()
    {
        await using var guard = SpawnGuard.Start();

        var e = Assert.Throws<CommandException>(() =>
            Testee.Run("write-out", "1").WithStandardOutput(Stdio.Null).PipeTo(Testee.Run("echo")).Start());

        Assert.Equal("Commands[0].StandardOutput", e.Option);
    }
}
