using System.Diagnostics;
using System.Globalization;
using Forklift.Simulation;

// The simulated kernel's benchmark: clone + exit + wait cycles per second with N live processes around, and the
// managed memory each live process costs. Usage: Forklift.Simulation.Bench [--max N] [--cycles N]
int max = 1_000_000;
int cycles = 2_000_000;
for (int i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--max") { max = int.Parse(args[i + 1], CultureInfo.InvariantCulture); }
    if (args[i] == "--cycles") { cycles = int.Parse(args[i + 1], CultureInfo.InvariantCulture); }
}

Console.WriteLine($"{"live",10} {"cycles/s",12} {"ns/cycle",9} {"bytes/process",14} {"build s",8}");
for (int live = 1_000; live <= max; live *= 10)
{
    Run(live, cycles);
}

static void Run(int live, int cycles)
{
    GC.Collect(2, GCCollectionMode.Forced, true, true);
    long before = GC.GetTotalMemory(true);
    var sw = Stopwatch.StartNew();
    var k = new SimKernel(new SimKernelOptions { PidMax = SimConst.PidMaxLimit });
    var init = k.Init;
    // `live` sleeping processes: children of init, each with its own (copied) tables, as fork gives them.
    for (int i = 0; i < live; i++)
    {
        var r = k.Fork(init);
        if (!r.Ok)
        {
            throw new InvalidOperationException($"fork {i}: {r}");
        }
    }
    double build = sw.Elapsed.TotalSeconds;
    GC.Collect(2, GCCollectionMode.Forced, true, true);
    long after = GC.GetTotalMemory(true);
    double perProcess = (after - before) / (double)live;

    // clone + exit + wait, with the live processes around (fork, the child exits, the parent reaps it by pid).
    // Warm up, then measure.
    Cycle(k, init, 20_000);
    sw.Restart();
    Cycle(k, init, cycles);
    double secs = sw.Elapsed.TotalSeconds;
    Console.WriteLine($"{live,10:N0} {cycles / secs,12:N0} {secs * 1e9 / cycles,9:N0} {perProcess,14:N0} {build,8:N2}");
    GC.KeepAlive(k);
}

static void Cycle(SimKernel k, SimTask init, int n)
{
    for (int i = 0; i < n; i++)
    {
        var r = k.Fork(init, out var child);
        k.Exit(child!, 0);
        var w = k.Wait4(init, (int)r.Value, 0, out _);
        if (w.Value != r.Value)
        {
            throw new InvalidOperationException($"wait4 returned {w}, expected {r.Value}");
        }
    }
}
