using System.Diagnostics;
using System.Globalization;
using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Bench;

/// <summary>
/// Forklift's benchmarks, run side by side in one process and printed with ratios.
/// <c>dotnet run -c Release --project bench/Forklift.Bench -- rules|spawn|spawn-alloc|cgroup|sandbox [--json]</c>
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string what = args.Length > 0 ? args[0] : "rules";
        bool json = args.Contains("--json");
        switch (what)
        {
            case "rules":
                return RulesBench.Run(json);
            case "spawn":
                return SpawnBench.Run(args);
            case "spawn-alloc":
                return SpawnAllocBench.Run(args);
            case "cgroup":
                return CgroupBench.Run(args);
            case "sandbox":
                return SandboxBench.Run(args);
            default:
                Console.Error.WriteLine($"unknown benchmark '{what}' (known: rules, spawn, spawn-alloc, cgroup, sandbox)");
                return 2;
        }
    }
}

/// <summary>
/// Evaluations per second of the clone rules on one thread, and bytes allocated per evaluation, over a mix of
/// requests that stop at every phase (and some that pass every rule).
/// </summary>
public static class RulesBench
{
    public static int Run(bool json)
    {
        var ctx = CallerContext.Root with { PidsInUse = [new HashSet<int> { 1, 2, 3 }] };
        var unprivileged = ctx with { Uid = 1000, IsGlobalRoot = false, Capabilities = 0 };
        CloneCall[] calls =
        [
            CloneCall.Clone3(new CloneArgs { Flags = CloneFlags.Vm | CloneFlags.Vfork | CloneFlags.Pidfd, Pidfd = UserPointer.Valid(1) }),
            CloneCall.Clone3(new CloneArgs { Flags = CloneFlags.NewUser | CloneFlags.NewPid | CloneFlags.NewNs | CloneFlags.NewNet }),
            CloneCall.Clone3(new CloneArgs { Flags = CloneFlags.Sighand }),
            CloneCall.Clone3(new CloneArgs { Flags = CloneFlags.Parent, ExitSignal = 17 }),
            CloneCall.Clone3(new CloneArgs(), 4097),
            CloneCall.Clone3(new CloneArgs { SetTid = UserPointer.Valid(4), SetTidSize = 1, SetTidValues = [5000] }),
            CloneCall.Legacy(new LegacyCloneRegisters((ulong)(CloneFlags.Pidfd | CloneFlags.ParentSetTid) | 17, ParentTid: UserPointer.Valid(3))),
            CloneCall.Fork(),
        ];
        var contexts = new[] { ctx, unprivileged };
        var verdicts = new CloneVerdict[calls.Length * contexts.Length];
        // Warm up (tiered JIT to its final code).
        for (int w = 0; w < 3; w++)
        {
            Loop(calls, contexts, 2_000_000, verdicts);
        }
        const int iterations = 20_000_000;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        int allowed = Loop(calls, contexts, iterations, verdicts);
        sw.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        double perSecond = iterations / sw.Elapsed.TotalSeconds;
        double nsPer = sw.Elapsed.TotalNanoseconds / iterations;

        long effBefore = GC.GetAllocatedBytesForCurrentThread();
        var esw = Stopwatch.StartNew();
        int shared = 0;
        for (int i = 0; i < iterations / 4; i++)
        {
            var e = CloneEffects.Of(calls[i & 1], ctx);
            shared += e.AddressSpace == Effect.Shared ? 1 : 0;
        }
        esw.Stop();
        long effAllocated = GC.GetAllocatedBytesForCurrentThread() - effBefore;
        double effPerSecond = iterations / 4 / esw.Elapsed.TotalSeconds;

        if (json)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{{\"evaluations_per_second\": {perSecond:F0}, \"ns_per_evaluation\": {nsPer:F1}, \"bytes_allocated_per_evaluation\": {(double)allocated / iterations:F4}, \"effects_per_second\": {effPerSecond:F0}, \"bytes_allocated_per_effects\": {(double)effAllocated / (iterations / 4):F4}, \"allowed\": {allowed}, \"shared\": {shared}}}"));
        }
        else
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"clone rules, one thread, {iterations:N0} evaluations over {calls.Length * contexts.Length} request/caller pairs"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  evaluations/s      {perSecond,14:N0}   ({nsPer:F1} ns each; goal 10,000,000/s: {perSecond / 10_000_000:F2}x the goal)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  bytes allocated    {allocated,14:N0}   ({(double)allocated / iterations:F4} per evaluation)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  effects/s          {effPerSecond,14:N0}   ({effAllocated:N0} bytes allocated in all)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  (allowed in the mix: {allowed:N0}; checksum {shared})"));
        }
        return 0;
    }

    private static int Loop(CloneCall[] calls, CallerContext[] contexts, int iterations, CloneVerdict[] sink)
    {
        int allowed = 0;
        int n = calls.Length;
        for (int i = 0; i < iterations; i++)
        {
            int k = i % (n * 2);
            var v = CloneRules.Evaluate(calls[k % n], contexts[k / n]);
            allowed += v.Allowed ? 1 : 0;
            sink[k] = v;
        }
        return allowed;
    }
}
