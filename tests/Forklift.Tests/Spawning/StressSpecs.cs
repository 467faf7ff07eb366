using System.Collections.Concurrent;
using System.Diagnostics;
using Forklift.Processes;
using Forklift.Spawning;
using Forklift.Tests.Interop;
using Xunit.Abstractions;

namespace Forklift.Tests.Spawning;

/// <summary>Many spawns, sequential and concurrent: no zombie, no fd growth, no hang, every status right.</summary>
[Collection(HostResourceCollection.Name)]
public sealed class StressSpecs(ITestOutputHelper output)
{
    private static int StressSeconds =>
        int.TryParse(Environment.GetEnvironmentVariable("FORKLIFT_STRESS_SECONDS"), out int s) && s > 0 ? s : 10;

    [Fact(Timeout = 300_000)]
    public async Task I_can_spawn_10000_children_and_leave_no_zombie_and_no_fd_behind()
    {
        await using var guard = SpawnGuard.Start();
        // Pipes and pidfds are what a spawn creates in the parent; counting every fd would also count assemblies
        // the runtime happens to open meanwhile.
        int fdsBefore = Host.WatchedFds().Count;
        var stopwatch = Stopwatch.StartNew();

        for (int i = 0; i < 10_000; i++)
        {
            using var child = Testee.Run("exit", (i % 3).ToString()).Start();
            var status = await child.WaitForExitAsync();
            if (status.ExitCode != i % 3)
                Assert.Fail($"spawn {i}: {status}");
        }
        stopwatch.Stop();

        Assert.Empty(Host.Children());
        Assert.True(await Eventually.True(() => Host.WatchedFds().Count <= fdsBefore), $"pipes and pidfds: {fdsBefore} before, {Host.WatchedFds().Count} after");
        output.WriteLine($"10,000 spawn+wait in {stopwatch.ElapsedMilliseconds} ms ({stopwatch.Elapsed.TotalMicroseconds / 10_000:F0} µs each)");
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_keep_200_children_running_without_a_thread_for_each()
    {
        await using var guard = SpawnGuard.Start();
        int threadsBefore = Process.GetCurrentProcess().Threads.Count;

        var children = Enumerable.Range(0, 200).Select(_ => Testee.Run("sleep", "60000").Start()).ToList();
        var waits = children.Select(c => c.WaitForExitAsync()).ToList();
        int threadsDuring = Process.GetCurrentProcess().Threads.Count;
        foreach (var c in children)
            c.Kill();
        var statuses = await Task.WhenAll(waits);
        children.ForEach(c => c.Dispose());

        Assert.All(statuses, s => Assert.Equal(9, s.Signal));
        Assert.True(threadsDuring - threadsBefore < 10, $"threads: {threadsBefore} before, {threadsDuring} with 200 children");
    }

    [Fact(Timeout = 3_600_000)] // bounded by FORKLIFT_STRESS_SECONDS (default 10) plus a hang margin
    public async Task I_can_spawn_from_16_threads_at_once_under_GC_pressure_and_every_status_is_right()
    {
        await using var guard = SpawnGuard.Start();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(StressSeconds);
        var failures = new ConcurrentQueue<string>();
        long spawns = 0;
        using var stopGc = new CancellationTokenSource();

        var gc = new Thread(() =>
        {
            var keep = new List<byte[]>();
            while (!stopGc.IsCancellationRequested)
            {
                keep.Add(new byte[Random.Shared.Next(1, 256 * 1024)]);
                if (keep.Count > 200)
                    keep.Clear();
                if (Random.Shared.Next(50) == 0)
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            }
        }) { IsBackground = true };
        gc.Start();

        var workers = Enumerable.Range(0, 16).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            while (DateTime.UtcNow < deadline)
            {
                try
                {
                    string? problem = random.Next(4) switch
                    {
                        0 => ExitCode(random.Next(256)),
                        1 => Killed(),
                        2 => Captured(random.Next(1, 300_000)),
                        _ => Echoed(random.Next(1, 100_000)),
                    };
                    if (problem is not null)
                        failures.Enqueue($"thread {t}: {problem}");
                    Interlocked.Increment(ref spawns);
                }
                catch (Exception e)
                {
                    failures.Enqueue($"thread {t}: {e}");
                }
            }
        }) { IsBackground = true, Name = $"stress {t}" }).ToList();

        workers.ForEach(w => w.Start());
        foreach (var w in workers)
            Assert.True(w.Join(TimeSpan.FromSeconds(StressSeconds + 120)), "a worker hung");
        stopGc.Cancel();
        gc.Join();

        Assert.Empty(failures);
        output.WriteLine($"{spawns} spawns from 16 threads in {StressSeconds} s under GC pressure");
    }

    private static string? ExitCode(int code)
    {
        using var child = Testee.Run("exit", code.ToString()).Start();
        var status = child.WaitForExit();
        return status.ExitCode == code ? null : $"exit {code}: {status}";
    }

    private static string? Killed()
    {
        using var child = Testee.Run("sleep", "10000").Start();
        child.Kill();
        var status = child.WaitForExit();
        return status.Signal == 9 ? null : $"kill: {status}";
    }

    private static string? Captured(int bytes)
    {
        var result = Testee.Run("write-both", bytes.ToString()).ExecuteBufferedAsync().GetAwaiter().GetResult();
        return result.ExitStatus.Succeeded && result.StandardOutputBytes.Length == bytes && result.StandardErrorBytes.Length == bytes
               && Pattern.Matches(result.StandardOutputBytes, 'a') && Pattern.Matches(result.StandardErrorBytes, 'A')
            ? null
            : $"write-both {bytes}: {result.ExitStatus}, {result.StandardOutputBytes.Length}/{result.StandardErrorBytes.Length} bytes";
    }

    private static string? Echoed(int bytes)
    {
        using var child = Testee.Run("echo").WithStandardInput(Stdio.Pipe).WithStandardOutput(Stdio.Pipe).Start();
        var data = Pattern.Make('a', bytes);
        var writer = Task.Run(() =>
        {
            child.StandardInput.Write(data);
            child.StandardInput.Dispose();
        });
        using var ms = new MemoryStream();
        child.StandardOutput.CopyTo(ms);
        writer.GetAwaiter().GetResult();
        var status = child.WaitForExit();
        return status.Succeeded && ms.Length == bytes && Pattern.Matches(ms.ToArray(), 'a') ? null : $"echo {bytes}: {status}, {ms.Length} bytes";
    }
}
