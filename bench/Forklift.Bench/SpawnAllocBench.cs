using System.Diagnostics;
using System.Globalization;
using Forklift.Interop;
using Forklift.Processes;
using Forklift.Spawning;

namespace Forklift.Bench;

/// <summary>
/// Where the bytes of one spawn go: the managed allocations of each phase of <c>Start</c> on this thread
/// (validate, clone check, capture, build, layout, each called afresh: Start itself skips the first two and the
/// build for a command it has started before), then the whole start and start+wait on every thread; and the
/// median time of each phase.
/// <c>forklift-bench spawn-alloc [--rounds N]</c>
/// </summary>
internal static class SpawnAllocBench
{
    public static int Run(string[] args)
    {
        int rounds = 500;
        int i = Array.IndexOf(args, "--rounds");
        if (i >= 0 && i + 1 < args.Length)
            rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        var command = new Command("/bin/true");
        var launcher = ProcessLauncher.Default;
        var parentFds = new Dictionary<int, int>();
        var ticks = new long[7][];
        for (int k = 0; k < ticks.Length; k++)
            ticks[k] = new long[rounds];
        long validate = 0, check = 0, capture = 0, build = 0, layout = 0, start = 0, total = 0;
        for (int r = 0; r < rounds + 20; r++)
        {
            bool count = r >= 20;
            long k0 = Stopwatch.GetTimestamp();
            long t0 = GC.GetAllocatedBytesForCurrentThread();
            CommandValidator.Validate(command);
            long k1 = Stopwatch.GetTimestamp();
            long t1 = GC.GetAllocatedBytesForCurrentThread();
            ProcessLauncher.CheckClone(command, fast: true, launcher.CallerContext);
            long k2 = Stopwatch.GetTimestamp();
            long t2 = GC.GetAllocatedBytesForCurrentThread();
            var inputs = SpawnInputs.Capture(LinuxSystemCalls.Instance.GetParentPid());
            long k3 = Stopwatch.GetTimestamp();
            long t3 = GC.GetAllocatedBytesForCurrentThread();
            var model = SpawnPlanBuilder.Build(command, inputs, parentFds, sync: false);
            long k4 = Stopwatch.GetTimestamp();
            long t4 = GC.GetAllocatedBytesForCurrentThread();
            SpawnPlan.Create(model).Dispose();
            long k5 = Stopwatch.GetTimestamp();
            long t5 = GC.GetAllocatedBytesForCurrentThread();
            if (count)
            {
                ticks[0][r - 20] = k1 - k0; ticks[1][r - 20] = k2 - k1; ticks[2][r - 20] = k3 - k2; ticks[3][r - 20] = k4 - k3; ticks[4][r - 20] = k5 - k4;
            }
            long g0 = GC.GetTotalAllocatedBytes(precise: true);
            long s0 = GC.GetAllocatedBytesForCurrentThread();
            long k6 = Stopwatch.GetTimestamp();
            using (var c = launcher.Start(command))
            {
                long s1 = GC.GetAllocatedBytesForCurrentThread();
                if (count)
                {
                    ticks[5][r - 20] = Stopwatch.GetTimestamp() - k6;
                    ticks[6][r - 20] = c.CloneCallDuration.Ticks * 100 * Stopwatch.Frequency / 1_000_000_000;
                }
                c.WaitForExit();
                if (count)
                    start += s1 - s0;
            }
            long g1 = GC.GetTotalAllocatedBytes(precise: true);
            if (count)
            {
                validate += t1 - t0; check += t2 - t1; capture += t3 - t2; build += t4 - t3; layout += t5 - t4; total += g1 - g0;
            }
        }
        long env = 0, cwd = 0;
        for (int r = 0; r < 100; r++)
        {
            long e0 = GC.GetAllocatedBytesForCurrentThread();
            _ = Environment.GetEnvironmentVariables();
            long e1 = GC.GetAllocatedBytesForCurrentThread();
            _ = Environment.CurrentDirectory;
            long e2 = GC.GetAllocatedBytesForCurrentThread();
            env += e1 - e0; cwd += e2 - e1;
        }
        void Line(string name, long bytes) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-34} {bytes / (double)rounds,8:N0} B"));
        Console.WriteLine($"allocated per spawn of /bin/true (inherited environment, {Environment.GetEnvironmentVariables().Count} variables), {rounds} rounds");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  (Environment.GetEnvironmentVariables() alone: {env / 100.0:N0} B; Environment.CurrentDirectory: {cwd / 100.0:N0} B)"));
        Line("validate (this thread)", validate);
        Line("clone check (this thread)", check);
        Line("capture inputs (this thread)", capture);
        Line("build plan model (this thread)", build);
        Line("lay out native block (this thread)", layout);
        Line("Start (this thread)", start);
        Line("Start + wait (all threads)", total);
        string[] names = ["validate", "clone check", "capture inputs", "build plan model", "lay out native block", "Start (whole call)", "  its native stage"];
        Console.WriteLine("median time per phase");
        for (int k = 0; k < ticks.Length; k++)
        {
            Array.Sort(ticks[k]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {names[k],-34} {ticks[k][rounds / 2] * 1e6 / Stopwatch.Frequency,8:F1} µs"));
        }
        return 0;
    }
}
