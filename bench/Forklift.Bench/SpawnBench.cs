using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Forklift.Processes;
using Forklift.Spawning;

namespace Forklift.Bench;

/// <summary>
/// Spawn + wait of a trivial program for Forklift, System.Diagnostics.Process and libc posix_spawn (and vfork, for
/// reference) called from this same .NET process, interleaved in rounds so every contender sees the same machine
/// state; then start-call times, allocations per spawn, two-thread throughput against two threads running C, and
/// the cost of one more spawn with 1,000 live children. Prints medians and ratios (and one JSON object with --json).
/// </summary>
public static unsafe partial class SpawnBench
{
    private const string Peers = "forklift_bench_peers";

    [LibraryImport(Peers, EntryPoint = "flb_posix_spawn_wait")]
    private static partial int PosixSpawnWait(byte* path, byte** argv, byte** envp, long* callNs);

    [LibraryImport(Peers, EntryPoint = "flb_vfork_wait")]
    private static partial int VforkWait(byte* path, byte** argv, byte** envp, long* callNs);

    [LibraryImport(Peers, EntryPoint = "flb_posix_spawn_loop")]
    private static partial int PosixSpawnLoop(byte* path, byte** argv, byte** envp, int count);

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
            {
                Envp[i++] = (byte*)Marshal.StringToCoTaskMemUTF8($"{e.Key}={e.Value}");
            }
        }

        public void Dispose()
        {
            for (int i = 0; Envp[i] != null; i++)
            {
                Marshal.FreeCoTaskMem((nint)Envp[i]);
            }
            NativeMemory.Free(Envp);
            NativeMemory.Free(Argv);
            Marshal.FreeCoTaskMem((nint)Path);
        }
    }

    public static int Run(string[] args)
    {
        bool json = args.Contains("--json");
        int rounds = IntArg(args, "--rounds", 2000);
        double seconds = IntArg(args, "--seconds", 3);
        string program = StringArg(args, "--program", "/bin/true");
        using var native = new NativeArgs(program);
        var command = new Command(program);
        var psi = new ProcessStartInfo(program) { UseShellExecute = false };

        // Warm up every path (JIT, page cache, the reactor thread, the stage's cached stack).
        for (int i = 0; i < 200; i++)
        {
            command.Start().WaitForExit();
            using (var p = Process.Start(psi)!) { p.WaitForExit(); }
            PosixSpawnWait(native.Path, native.Argv, native.Envp, null);
            VforkWait(native.Path, native.Argv, native.Envp, null);
        }

        var fRt = new List<double>(rounds); var pRt = new List<double>(rounds); var sRt = new List<double>(rounds); var vRt = new List<double>(rounds);
        var fCall = new List<double>(rounds); var pCall = new List<double>(rounds); var sCall = new List<double>(rounds); var vCall = new List<double>(rounds);
        var stageCall = new List<double>(rounds);
        var order = new[] { 0, 1, 2, 3 };
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
                            var child = command.Start();
                            long t1 = Stopwatch.GetTimestamp();
                            var st = child.WaitForExit();
                            long t2 = Stopwatch.GetTimestamp();
                            Check(st.ExitCode == 0, "forklift");
                            fCall.Add(Us(t0, t1));
                            fRt.Add(Us(t0, t2));
                            stageCall.Add(child.CloneCallDuration.TotalMicroseconds);
                            child.Dispose();
                            break;
                        }
                    case 1:
                        {
                            var p = Process.Start(psi)!;
                            long t1 = Stopwatch.GetTimestamp();
                            p.WaitForExit();
                            long t2 = Stopwatch.GetTimestamp();
                            Check(p.ExitCode == 0, "Process.Start");
                            p.Dispose();
                            pCall.Add(Us(t0, t1));
                            pRt.Add(Us(t0, t2));
                            break;
                        }
                    case 2:
                        {
                            long callNs;
                            int st = PosixSpawnWait(native.Path, native.Argv, native.Envp, &callNs);
                            long t2 = Stopwatch.GetTimestamp();
                            Check(st == 0, "posix_spawn");
                            sCall.Add(callNs / 1000.0);
                            sRt.Add(Us(t0, t2));
                            break;
                        }
                    default:
                        {
                            long callNs;
                            int st = VforkWait(native.Path, native.Argv, native.Envp, &callNs);
                            long t2 = Stopwatch.GetTimestamp();
                            Check(st == 0, "vfork");
                            vCall.Add(callNs / 1000.0);
                            vRt.Add(Us(t0, t2));
                            break;
                        }
                }
            }
        }

        // Allocations per spawn (every thread: the reactor's work counts too).
        const int allocRounds = 500;
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
        double fAlloc = (a1 - a0) / (double)allocRounds, pAlloc = (a2 - a1) / (double)allocRounds;

        // Two threads spawning for a fixed time: Forklift, Process, and C (posix_spawn loops on the same threads).
        double fTwo = TwoThreads(seconds, () => { using var c = command.Start(); c.WaitForExit(); return 1; });
        double pTwo = TwoThreads(seconds, () => { using var p = Process.Start(psi)!; p.WaitForExit(); return 1; });
        double cTwo = TwoThreads(seconds, () => PosixSpawnLoop(native.Path, native.Argv, native.Envp, 50));

        // One more spawn with 1,000 live children.
        double fIdle = Median(Repeat(300, () => { long t = Stopwatch.GetTimestamp(); using var c = command.Start(); c.WaitForExit(); return Us(t, Stopwatch.GetTimestamp()); }));
        var sleepers = new List<ChildProcess>(1000);
        double fBusy;
        try
        {
            var sleeper = new Command("/bin/sleep").WithArguments("600");
            for (int i = 0; i < 1000; i++)
            {
                sleepers.Add(sleeper.Start());
            }
            fBusy = Median(Repeat(300, () => { long t = Stopwatch.GetTimestamp(); using var c = command.Start(); c.WaitForExit(); return Us(t, Stopwatch.GetTimestamp()); }));
        }
        finally
        {
            foreach (var s in sleepers)
            {
                s.Kill();
            }
            foreach (var s in sleepers)
            {
                s.WaitForExit();
                s.Dispose();
            }
        }

        double fr = Median(fRt), pr = Median(pRt), sr = Median(sRt), vr = Median(vRt);
        double fc = Median(fCall), pc = Median(pCall), sc = Median(sCall), vc = Median(vCall), stc = Median(stageCall);
        if (json)
        {
            var j = new StringBuilder();
            j.Append(CultureInfo.InvariantCulture, $"{{\"program\": \"{program}\", \"rounds\": {rounds}, ");
            j.Append(CultureInfo.InvariantCulture, $"\"forklift_rt_us\": {fr:F1}, \"process_start_rt_us\": {pr:F1}, \"posix_spawn_rt_us\": {sr:F1}, \"vfork_rt_us\": {vr:F1}, ");
            j.Append(CultureInfo.InvariantCulture, $"\"forklift_call_us\": {fc:F1}, \"raw_call_us\": {vc:F1}, \"stage_call_us\": {stc:F1}, \"process_start_call_us\": {pc:F1}, \"posix_spawn_call_us\": {sc:F1}, ");
            j.Append(CultureInfo.InvariantCulture, $"\"forklift_alloc_bytes_per_spawn\": {fAlloc:F0}, \"process_start_alloc_bytes_per_spawn\": {pAlloc:F0}, ");
            j.Append(CultureInfo.InvariantCulture, $"\"two_threads_forklift_per_s\": {fTwo:F0}, \"two_threads_process_per_s\": {pTwo:F0}, \"two_threads_c_per_s\": {cTwo:F0}, ");
            j.Append(CultureInfo.InvariantCulture, $"\"forklift_rt_us_idle\": {fIdle:F1}, \"forklift_rt_us_1000_children\": {fBusy:F1}}}");
            Console.WriteLine(j.ToString());
            return 0;
        }
        Console.WriteLine($"spawn + wait of {program}, {rounds} interleaved rounds, medians");
        Console.WriteLine("  round trip (start + wait)");
        Row("forklift", fr, sr, "posix_spawn");
        Row("Process.Start", pr, sr, "posix_spawn");
        Row("posix_spawn (C)", sr, sr, "posix_spawn");
        Row("vfork+exec (C)", vr, sr, "posix_spawn");
        Console.WriteLine("  the start call (until the start function returns)");
        Row("forklift Start", fc, vc, "raw vfork+exec");
        Row("  its native stage", stc, vc, "raw vfork+exec");
        Row("Process.Start", pc, vc, "raw vfork+exec");
        Row("posix_spawn (C)", sc, vc, "raw vfork+exec");
        Row("raw vfork+exec (C)", vc, vc, "raw vfork+exec");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  allocated per spawn: forklift {fAlloc:N0} B, Process.Start {pAlloc:N0} B"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  two threads, spawns/s: forklift {fTwo:N0} ({fTwo / cTwo:P0} of C), Process.Start {pTwo:N0} ({pTwo / cTwo:P0} of C), C {cTwo:N0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  with 1,000 live children: {fBusy:F1} µs vs {fIdle:F1} µs idle ({fBusy / fIdle:F2}x)"));
        return 0;
    }

    private static void Row(string name, double us, double baseline, string baselineName) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {name,-22} {us,9:F1} µs   {us / baseline,5:F2}x {baselineName}"));

    // Two threads calling `batch` until the time is up; `batch` returns how many spawns it completed.
    private static double TwoThreads(double seconds, Func<int> batch)
    {
        long count = 0;
        var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            long n = 0;
            while (Stopwatch.GetTimestamp() < until)
            {
                n += batch();
            }
            Interlocked.Add(ref count, n);
        })).ToArray();
        long t0 = Stopwatch.GetTimestamp();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        return count / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static List<double> Repeat(int n, Func<double> f)
    {
        var l = new List<double>(n);
        for (int i = 0; i < n; i++)
        {
            l.Add(f());
        }
        return l;
    }

    private static double Us(long t0, long t1) => (t1 - t0) * 1_000_000.0 / Stopwatch.Frequency;

    private static double Median(List<double> xs)
    {
        var a = xs.ToArray();
        Array.Sort(a);
        return a.Length == 0 ? double.NaN : a[a.Length / 2];
    }

    private static void Check(bool ok, string who)
    {
        if (!ok)
        {
            throw new InvalidOperationException($"{who}: the benchmark program did not exit with 0");
        }
    }

    private static int IntArg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string StringArg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
