using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Forklift.Processes;
using Forklift.Spawning;

namespace Forklift.Benchmarks;

/// <summary>What <see cref="SpawnBenchmark.Run"/> measures, and how long.</summary>
public sealed record SpawnBenchmarkOptions
{
    /// <summary>The program every contender starts (no arguments; it must exit 0). Default <c>/bin/true</c>.</summary>
    public string Program { get; init; } = "/bin/true";

    /// <summary>Interleaved rounds (each starts and waits once with every contender). Default 2,000.</summary>
    public int Rounds { get; init; } = 2000;

    /// <summary>Spawns per contender before measuring (JIT, page cache, the reactor thread). Default 200.</summary>
    public int Warmup { get; init; } = 200;

    /// <summary>Spawns per contender for the allocation figures. Default 500.</summary>
    public int AllocationSpawns { get; init; } = 500;

    /// <summary>How long each two-thread throughput run lasts. Default 3 s.</summary>
    public TimeSpan ThreadDuration { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Live children kept while one more is started and waited for (0: skip that part). Default 1,000.</summary>
    public int LiveChildren { get; init; } = 1000;
}

/// <summary>The medians of one <see cref="SpawnBenchmark.Run"/>, in microseconds unless the name says otherwise.</summary>
public sealed record SpawnBenchmarkResult
{
    /// <summary>The program started.</summary>
    public required string Program { get; init; }

    /// <summary>Interleaved rounds measured.</summary>
    public required int Rounds { get; init; }

    /// <summary>Forklift: start + wait.</summary>
    public required double ForkliftRoundTrip { get; init; }

    /// <summary>System.Diagnostics.Process: start + wait.</summary>
    public required double ProcessStartRoundTrip { get; init; }

    /// <summary>libc posix_spawn + waitpid, called from this process.</summary>
    public required double PosixSpawnRoundTrip { get; init; }

    /// <summary>vfork + execve + waitpid, called from this process.</summary>
    public required double VforkRoundTrip { get; init; }

    /// <summary>The raw clone3 path (CLONE_VM|CLONE_VFORK, execve at once) + waitpid, called from this process.</summary>
    public required double Clone3RoundTrip { get; init; }

    /// <summary>Forklift: until <c>Start</c> returns.</summary>
    public required double ForkliftCall { get; init; }

    /// <summary>Forklift: its native stage alone (<c>ChildProcess.CloneCallDuration</c>).</summary>
    public required double StageCall { get; init; }

    /// <summary>
    /// Forklift: the start call minus its native stage, per start (the managed work: plan, handle, reactor). The
    /// median of the differences, which under load is steadier than the difference of the two medians.
    /// </summary>
    public required double ForkliftManaged { get; init; }

    /// <summary>Process.Start: until it returns.</summary>
    public required double ProcessStartCall { get; init; }

    /// <summary>posix_spawn: until it returns.</summary>
    public required double PosixSpawnCall { get; init; }

    /// <summary>
    /// The raw clone3+exec path: clone3(CLONE_VM|CLONE_VFORK) until it returns in the parent (the child has
    /// exec'd), with nothing else: no signal blocking, no pidfd, no step before execve. What the issue's start-call
    /// figure is measured against.
    /// </summary>
    public required double RawCall { get; init; }

    /// <summary>vfork until it returns in the parent (the child has exec'd).</summary>
    public required double VforkCall { get; init; }

    /// <summary>Forklift: bytes allocated per start + wait, every thread counted.</summary>
    public required double ForkliftAllocatedBytes { get; init; }

    /// <summary>Process.Start: bytes allocated per start + wait, every thread counted.</summary>
    public required double ProcessStartAllocatedBytes { get; init; }

    /// <summary>Two threads starting and waiting with Forklift: spawns per second.</summary>
    public required double TwoThreadsForkliftPerSecond { get; init; }

    /// <summary>Two threads with Process.Start: spawns per second.</summary>
    public required double TwoThreadsProcessStartPerSecond { get; init; }

    /// <summary>Two threads looping on posix_spawn in C: spawns per second.</summary>
    public required double TwoThreadsCPerSecond { get; init; }

    /// <summary>Forklift start + wait with no other child (null when skipped).</summary>
    public double? ForkliftRoundTripIdle { get; init; }

    /// <summary>Forklift start + wait with <see cref="SpawnBenchmarkOptions.LiveChildren"/> live children (null when skipped).</summary>
    public double? ForkliftRoundTripBusy { get; init; }

    /// <summary>How many live children <see cref="ForkliftRoundTripBusy"/> had.</summary>
    public int LiveChildren { get; init; }

    /// <summary>The result as lines of text with ratios (round trips to posix_spawn, start calls to the raw path).</summary>
    public void WriteText(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine($"spawn + wait of {Program}, {Rounds} interleaved rounds, medians");
        output.WriteLine("  round trip (start + wait)");
        Row(output, "forklift", ForkliftRoundTrip, PosixSpawnRoundTrip, "posix_spawn");
        Row(output, "Process.Start", ProcessStartRoundTrip, PosixSpawnRoundTrip, "posix_spawn");
        Row(output, "posix_spawn (C)", PosixSpawnRoundTrip, PosixSpawnRoundTrip, "posix_spawn");
        Row(output, "vfork+exec (C)", VforkRoundTrip, PosixSpawnRoundTrip, "posix_spawn");
        Row(output, "clone3+exec (C)", Clone3RoundTrip, PosixSpawnRoundTrip, "posix_spawn");
        output.WriteLine("  the start call (until the start function returns)");
        Row(output, "forklift Start", ForkliftCall, RawCall, "raw clone3+exec", VforkCall, "raw vfork+exec");
        Row(output, "  its native stage", StageCall, RawCall, "raw clone3+exec", VforkCall, "raw vfork+exec");
        output.WriteLine(Invariant($"      the rest (per start)   {ForkliftManaged,9:F1} µs"));
        Row(output, "Process.Start", ProcessStartCall, RawCall, "raw clone3+exec", VforkCall, "raw vfork+exec");
        Row(output, "posix_spawn (C)", PosixSpawnCall, RawCall, "raw clone3+exec", VforkCall, "raw vfork+exec");
        Row(output, "raw clone3+exec (C)", RawCall, RawCall, "raw clone3+exec", VforkCall, "raw vfork+exec");
        Row(output, "raw vfork+exec (C)", VforkCall, RawCall, "raw clone3+exec", VforkCall, "raw vfork+exec");
        output.WriteLine(Invariant($"  allocated per spawn: forklift {ForkliftAllocatedBytes:N0} B, Process.Start {ProcessStartAllocatedBytes:N0} B"));
        output.WriteLine(Invariant($"  two threads, spawns/s: forklift {TwoThreadsForkliftPerSecond:N0} ({TwoThreadsForkliftPerSecond / TwoThreadsCPerSecond:P0} of C), Process.Start {TwoThreadsProcessStartPerSecond:N0} ({TwoThreadsProcessStartPerSecond / TwoThreadsCPerSecond:P0} of C), C {TwoThreadsCPerSecond:N0}"));
        if (ForkliftRoundTripBusy is { } busy && ForkliftRoundTripIdle is { } idle)
            output.WriteLine(Invariant($"  with {LiveChildren:N0} live children: {busy:F1} µs vs {idle:F1} µs idle ({busy / idle:F2}x)"));
    }

    /// <summary>
    /// The result as one JSON object (snake_case names: <c>forklift_rt_us</c>, <c>process_start_rt_us</c>,
    /// <c>posix_spawn_rt_us</c>, <c>forklift_call_us</c>, <c>raw_call_us</c>, <c>forklift_alloc_bytes_per_spawn</c>, ...).
    /// </summary>
    public string ToJson()
    {
        var j = new StringBuilder();
        j.Append(CultureInfo.InvariantCulture, $"{{\"program\": \"{Escape(Program)}\", \"rounds\": {Rounds}, ");
        j.Append(CultureInfo.InvariantCulture, $"\"forklift_rt_us\": {ForkliftRoundTrip:F1}, \"process_start_rt_us\": {ProcessStartRoundTrip:F1}, \"posix_spawn_rt_us\": {PosixSpawnRoundTrip:F1}, \"vfork_rt_us\": {VforkRoundTrip:F1}, \"clone3_rt_us\": {Clone3RoundTrip:F1}, ");
        j.Append(CultureInfo.InvariantCulture, $"\"forklift_call_us\": {ForkliftCall:F1}, \"raw_call_us\": {RawCall:F1}, \"vfork_call_us\": {VforkCall:F1}, \"stage_call_us\": {StageCall:F1}, \"forklift_managed_us\": {ForkliftManaged:F1}, \"process_start_call_us\": {ProcessStartCall:F1}, \"posix_spawn_call_us\": {PosixSpawnCall:F1}, ");
        j.Append(CultureInfo.InvariantCulture, $"\"forklift_alloc_bytes_per_spawn\": {ForkliftAllocatedBytes:F0}, \"process_start_alloc_bytes_per_spawn\": {ProcessStartAllocatedBytes:F0}, ");
        j.Append(CultureInfo.InvariantCulture, $"\"two_threads_forklift_per_s\": {TwoThreadsForkliftPerSecond:F0}, \"two_threads_process_per_s\": {TwoThreadsProcessStartPerSecond:F0}, \"two_threads_c_per_s\": {TwoThreadsCPerSecond:F0}, ");
        j.Append(CultureInfo.InvariantCulture, $"\"live_children\": {LiveChildren}, \"forklift_rt_us_idle\": {Number(ForkliftRoundTripIdle)}, \"forklift_rt_us_live_children\": {Number(ForkliftRoundTripBusy)}}}");
        return j.ToString();
    }

    private static void Row(TextWriter output, string name, double us, double baseline, string baselineName) =>
        output.WriteLine(Invariant($"    {name,-22} {us,9:F1} µs   {us / baseline,5:F2}x {baselineName}"));

    private static void Row(TextWriter output, string name, double us, double baseline, string baselineName, double other, string otherName) =>
        output.WriteLine(Invariant($"    {name,-22} {us,9:F1} µs   {us / baseline,5:F2}x {baselineName}, {us / other,5:F2}x {otherName}"));

    private static string Number(double? value) => value is { } v ? v.ToString("F1", CultureInfo.InvariantCulture) : "null";

    private static string Escape(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Spawn + wait of a trivial program for Forklift, System.Diagnostics.Process and libc posix_spawn (and the raw
/// clone3 and vfork paths, for reference) called from this same .NET process, interleaved in rounds (in a shuffled order each round) so every
/// contender sees the same machine state; then start-call times, allocations per spawn, two-thread throughput
/// against two threads running C, and the cost of one more spawn with many live children. Used by
/// <c>forklift bench spawn</c> and by <c>bench/Forklift.Bench spawn</c>.
/// </summary>
public static unsafe partial class SpawnBenchmark
{
    private const string Peers = "forklift_bench_peers";

    [LibraryImport(Peers, EntryPoint = "flb_posix_spawn_wait")]
    private static partial int PosixSpawnWait(byte* path, byte** argv, byte** envp, long* callNs);

    [LibraryImport(Peers, EntryPoint = "flb_vfork_wait")]
    private static partial int VforkWait(byte* path, byte** argv, byte** envp, long* callNs);

    [LibraryImport(Peers, EntryPoint = "flb_clone3_wait")]
    private static partial int Clone3Wait(byte* path, byte** argv, byte** envp, long* callNs);

    [LibraryImport(Peers, EntryPoint = "flb_posix_spawn_loop")]
    private static partial int PosixSpawnLoop(byte* path, byte** argv, byte** envp, int count);

    /// <summary>Runs the benchmark (seconds to minutes, depending on <paramref name="options"/>).</summary>
    /// <exception cref="InvalidOperationException">A contender's child did not exit with 0.</exception>
    public static SpawnBenchmarkResult Run(SpawnBenchmarkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Rounds, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.AllocationSpawns, 1);
        string program = options.Program;
        int rounds = options.Rounds;
        using var native = new NativeArgs(program);
        var command = new Command(program);
        var psi = new ProcessStartInfo(program) { UseShellExecute = false };

        // Warm up every path (JIT, page cache, the reactor thread, the stage's cached stack).
        for (int i = 0; i < options.Warmup; i++)
        {
            using (var c = command.Start()) { c.WaitForExit(); }
            using (var p = Process.Start(psi)!) { p.WaitForExit(); }
            PosixSpawnWait(native.Path, native.Argv, native.Envp, null);
            VforkWait(native.Path, native.Argv, native.Envp, null);
            Clone3Wait(native.Path, native.Argv, native.Envp, null);
        }

        var fRt = new List<double>(rounds); var pRt = new List<double>(rounds); var sRt = new List<double>(rounds); var vRt = new List<double>(rounds); var cRt = new List<double>(rounds);
        var fCall = new List<double>(rounds); var pCall = new List<double>(rounds); var sCall = new List<double>(rounds); var vCall = new List<double>(rounds); var cCall = new List<double>(rounds);
        var stageCall = new List<double>(rounds); var managed = new List<double>(rounds);
        var order = new[] { 0, 1, 2, 3, 4 };
        var rng = new Random(12345);
        for (int r = 0; r < rounds; r++)
        {
            rng.Shuffle(order);
            foreach (int which in order)
            {
                long t0 = Stopwatch.GetTimestamp();
                switch (which)
                {
                    case 0:
                        {
                            using var child = command.Start();
                            long t1 = Stopwatch.GetTimestamp();
                            var st = child.WaitForExit();
                            long t2 = Stopwatch.GetTimestamp();
                            Check(st.ExitCode == 0, program, "Forklift");
                            fCall.Add(Us(t0, t1));
                            fRt.Add(Us(t0, t2));
                            stageCall.Add(child.CloneCallDuration.TotalMicroseconds);
                            managed.Add(Us(t0, t1) - child.CloneCallDuration.TotalMicroseconds);
                            break;
                        }
                    case 1:
                        {
                            using var p = Process.Start(psi)!;
                            long t1 = Stopwatch.GetTimestamp();
                            p.WaitForExit();
                            long t2 = Stopwatch.GetTimestamp();
                            Check(p.ExitCode == 0, program, "Process.Start");
                            pCall.Add(Us(t0, t1));
                            pRt.Add(Us(t0, t2));
                            break;
                        }
                    case 2:
                        {
                            long callNs;
                            int st = PosixSpawnWait(native.Path, native.Argv, native.Envp, &callNs);
                            long t2 = Stopwatch.GetTimestamp();
                            Check(st == 0, program, "posix_spawn");
                            sCall.Add(callNs / 1000.0);
                            sRt.Add(Us(t0, t2));
                            break;
                        }
                    case 3:
                        {
                            long callNs;
                            int st = VforkWait(native.Path, native.Argv, native.Envp, &callNs);
                            long t2 = Stopwatch.GetTimestamp();
                            Check(st == 0, program, "vfork");
                            vCall.Add(callNs / 1000.0);
                            vRt.Add(Us(t0, t2));
                            break;
                        }
                    default:
                        {
                            long callNs;
                            int st = Clone3Wait(native.Path, native.Argv, native.Envp, &callNs);
                            long t2 = Stopwatch.GetTimestamp();
                            Check(st == 0, program, "clone3");
                            cCall.Add(callNs / 1000.0);
                            cRt.Add(Us(t0, t2));
                            break;
                        }
                }
            }
        }

        // Allocations per spawn (every thread: the reactor's work counts too).
        int allocRounds = options.AllocationSpawns;
        long a0 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < allocRounds; i++)
        {
            using var c = command.Start();
            c.WaitForExit();
        }
        long a1 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < allocRounds; i++)
        {
            using var p = Process.Start(psi)!;
            p.WaitForExit();
        }
        long a2 = GC.GetTotalAllocatedBytes(precise: true);

        // Two threads spawning for a fixed time: Forklift, Process, and C (posix_spawn loops on the same threads).
        var duration = options.ThreadDuration;
        double fTwo = TwoThreads(duration, () => { using var c = command.Start(); c.WaitForExit(); return 1; });
        double pTwo = TwoThreads(duration, () => { using var p = Process.Start(psi)!; p.WaitForExit(); return 1; });
        double cTwo = TwoThreads(duration, () => PosixSpawnLoop(native.Path, native.Argv, native.Envp, 50));

        // One more spawn with many live children.
        double? fIdle = null, fBusy = null;
        if (options.LiveChildren > 0)
        {
            fIdle = Median(Repeat(300, () => { long t = Stopwatch.GetTimestamp(); using var c = command.Start(); c.WaitForExit(); return Us(t, Stopwatch.GetTimestamp()); }));
            var sleepers = new List<ChildProcess>(options.LiveChildren);
            try
            {
                var sleeper = new Command("/bin/sleep").WithArguments("600");
                for (int i = 0; i < options.LiveChildren; i++)
                    sleepers.Add(sleeper.Start());
                fBusy = Median(Repeat(300, () => { long t = Stopwatch.GetTimestamp(); using var c = command.Start(); c.WaitForExit(); return Us(t, Stopwatch.GetTimestamp()); }));
            }
            finally
            {
                foreach (var s in sleepers)
                    s.Kill();
                foreach (var s in sleepers)
                {
                    s.WaitForExit();
                    s.Dispose();
                }
            }
        }

        return new SpawnBenchmarkResult
        {
            Program = program,
            Rounds = rounds,
            ForkliftRoundTrip = Median(fRt),
            ProcessStartRoundTrip = Median(pRt),
            PosixSpawnRoundTrip = Median(sRt),
            VforkRoundTrip = Median(vRt),
            Clone3RoundTrip = Median(cRt),
            ForkliftCall = Median(fCall),
            StageCall = Median(stageCall),
            ForkliftManaged = Median(managed),
            ProcessStartCall = Median(pCall),
            PosixSpawnCall = Median(sCall),
            RawCall = Median(cCall),
            VforkCall = Median(vCall),
            ForkliftAllocatedBytes = (a1 - a0) / (double)allocRounds,
            ProcessStartAllocatedBytes = (a2 - a1) / (double)allocRounds,
            TwoThreadsForkliftPerSecond = fTwo,
            TwoThreadsProcessStartPerSecond = pTwo,
            TwoThreadsCPerSecond = cTwo,
            ForkliftRoundTripIdle = fIdle,
            ForkliftRoundTripBusy = fBusy,
            LiveChildren = options.LiveChildren,
        };
    }

    // Two threads calling `batch` until the time is up; `batch` returns how many spawns it completed.
    private static double TwoThreads(TimeSpan duration, Func<int> batch)
    {
        long count = 0;
        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            long n = 0;
            while (Stopwatch.GetTimestamp() < until)
                n += batch();
            Interlocked.Add(ref count, n);
        })).ToArray();
        long t0 = Stopwatch.GetTimestamp();
        foreach (var t in threads)
            t.Start();
        foreach (var t in threads)
            t.Join();
        return count / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static List<double> Repeat(int n, Func<double> f)
    {
        var l = new List<double>(n);
        for (int i = 0; i < n; i++)
            l.Add(f());
        return l;
    }

    private static double Us(long t0, long t1) => (t1 - t0) * 1_000_000.0 / Stopwatch.Frequency;

    private static double Median(List<double> xs)
    {
        var a = xs.ToArray();
        Array.Sort(a);
        return a.Length == 0 ? double.NaN : a[a.Length / 2];
    }

    private static void Check(bool ok, string program, string who)
    {
        if (!ok)
            throw new InvalidOperationException($"{program} did not exit with 0 when started by {who}");
    }

    /// <summary>path, argv and envp (this process's environment) for the C peers, in unmanaged memory.</summary>
    private sealed class NativeArgs : IDisposable
    {
        public readonly byte* Path;
        public readonly byte** Argv;
        public readonly byte** Envp;

        public NativeArgs(string path)
        {
            Path = (byte*)Marshal.StringToCoTaskMemUTF8(path);
            Argv = (byte**)NativeMemory.AllocZeroed(2, (nuint)sizeof(byte*));
            Argv[0] = Path;
            var env = Environment.GetEnvironmentVariables();
            Envp = (byte**)NativeMemory.AllocZeroed((nuint)env.Count + 1, (nuint)sizeof(byte*));
            int i = 0;
            foreach (System.Collections.DictionaryEntry e in env)
                Envp[i++] = (byte*)Marshal.StringToCoTaskMemUTF8($"{e.Key}={e.Value}");
        }

        public void Dispose()
        {
            for (int i = 0; Envp[i] != null; i++)
                Marshal.FreeCoTaskMem((nint)Envp[i]);
            NativeMemory.Free(Envp);
            NativeMemory.Free(Argv);
            Marshal.FreeCoTaskMem((nint)Path);
        }
    }
}
