using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Forklift.Isolation;
using Forklift.Spawning;

namespace Forklift.Bench;

/// <summary>
/// Spawn + wait of <c>/bin/true</c> in new namespaces: Forklift in this process (the Sandbox preset, and the bare
/// six namespaces with root mapped) against the raw clone3 path in C called from this same process, and against
/// bubblewrap, unshare(1), crun and the <c>forklift run --sandbox</c> CLI run as commands; then each namespace's
/// added cost on its own. Contenders of a group run interleaved in rounds, in a shuffled order each round, so all
/// of them see the same machine state; the figures are medians (with the quartiles, to show the noise).
/// <c>dotnet run -c Release --project bench/Forklift.Bench -- sandbox [--json] [--rounds N] [--cli-rounds N]
/// [--ns-rounds N] [--cli PATH] [--cli-aot PATH] [--no-install]</c>.
/// </summary>
public static unsafe partial class SandboxBench
{
    private const string Peers = "forklift_bench_peers";

    // include/uapi/linux/sched.h
    private const ulong CloneNewNs = 0x00020000, CloneNewCgroup = 0x02000000, CloneNewUts = 0x04000000,
        CloneNewIpc = 0x08000000, CloneNewUser = 0x10000000, CloneNewPid = 0x20000000, CloneNewNet = 0x40000000,
        CloneNewTime = 0x00000080;

    private const ulong SixFlags = CloneNewUser | CloneNewPid | CloneNewNs | CloneNewUts | CloneNewIpc | CloneNewNet;

    private const Namespaces Six = Namespaces.User | Namespaces.Pid | Namespaces.Mount | Namespaces.Uts | Namespaces.Ipc | Namespaces.Net;

    [LibraryImport(Peers, EntryPoint = "flb_clone3_ns_wait")]
    private static partial int Clone3NsWait(ulong nsFlags, byte* path, byte** argv, byte** envp, byte* uidMap, byte* gidMap, long* callNs);

    /// <summary>One way to run /bin/true; <see cref="Once"/> returns the microseconds from start to exit.</summary>
    private sealed record Contender(string Key, string Label, Func<double> Once);

    /// <summary>Medians and quartiles of one contender in one group, and its samples in round order (for paired statistics).</summary>
    private sealed record Figure(string Key, string Label, double Median, double P25, double P75, List<double> Samples);

    /// <summary>A ratio a/b of two contenders of one group: of the medians, and the median of the per-round ratios.</summary>
    private sealed record Ratio(string Name, double OfMedians, double Paired, string Target);

    public static int Run(string[] args)
    {
        if (args.Contains("--startup-floor"))
            return 0; // the CLI group's floor: the .NET host and runtime starting this assembly, and nothing else
        bool json = args.Contains("--json");
        int rounds = IntArg(args, "--rounds", 300);
        int cliRounds = IntArg(args, "--cli-rounds", 40);
        int nsRounds = IntArg(args, "--ns-rounds", 200);
        bool install = !args.Contains("--no-install");
        TextWriter log = json ? Console.Error : Console.Out;

        uint uid = HostFacts.EffectiveUserId(), gid = HostFacts.EffectiveGroupId();
        string mapLine = $"0 {uid} 1\n";
        var skipped = new SortedDictionary<string, string>(StringComparer.Ordinal);
        string load = File.ReadAllText("/proc/loadavg").Trim();

        using var raw = new RawPeer("/bin/true", mapLine, string.Create(CultureInfo.InvariantCulture, $"0 {gid} 1\n"));
        var rootMap = UserNamespaceMapping.RootToCaller(uid, gid);
        var trueCommand = new Command("/bin/true");

        // 1. In-process: Forklift against the raw clone3 path with the same flags
        var preset = Sandbox.Apply(trueCommand, new SandboxOptions { NewCgroupNamespace = false });
        var presetDefault = Sandbox.Apply(trueCommand);
        var bare = trueCommand.WithIsolation(new Isolation.Isolation
        {
            NewNamespaces = Six, UserMapping = rootMap, ProgramIsPid1 = true, LoopbackUp = false,
        });
        var bareDefaults = trueCommand.WithIsolation(new Isolation.Isolation { NewNamespaces = Six, UserMapping = rootMap });
        var inProcess = new List<Contender>
        {
            new("forklift_preset", "forklift Sandbox preset (6 ns)", () => Spawn(preset)),
            new("forklift_preset_cgroup", "  the preset as is (+cgroup ns)", () => Spawn(presetDefault)),
            new("forklift_six", "forklift 6 ns, root mapped", () => Spawn(bare)),
            new("forklift_six_init_lo", "  + forklift-init + loopback up", () => Spawn(bareDefaults)),
            new("raw_clone3", "raw clone3 in C (6 ns, maps)", () => raw.Once(SixFlags, maps: true)),
        };

        // 2. Tools run as commands (spawned by Forklift without isolation, timed from start to exit)
        var tools = new List<Contender>();
        if (Tool("bwrap", "bubblewrap", install, skipped, log) is { } bwrap)
            tools.Add(CommandContender("bwrap", "bwrap --unshare-all --ro-bind / /", new Command(bwrap).WithArguments("--unshare-all", "--ro-bind", "/", "/", "true")));
        if (Tool("unshare", "util-linux", install, skipped, log) is { } unshare)
        {
            tools.Add(CommandContender("unshare_rpf_proc", "unshare -U -r -p -f --mount-proc", new Command(unshare).WithArguments("-U", "-r", "-p", "-f", "--mount-proc", "true")));
            tools.Add(CommandContender("unshare_all6", "unshare -Urpfmnui", new Command(unshare).WithArguments("-Urpfmnui", "true")));
        }
        if (Crun(install, uid, gid, skipped, log) is { } crun)
            tools.Add(crun);

        // 3. The CLI as a command: the build's dll through the dotnet host, a native AOT publish when there is one,
        // and two floors: this bench's own dll returning at once (the runtime's start), and `forklift --version`
        // (the runtime plus the CLI's argument parsing)
        var cli = new List<Contender>();
        string root = RepoRoot();
        string cliPath = StringArg(args, "--cli", Metadata("ForkliftCliDll") ?? Path.Combine(root, "src/Forklift.Cli/bin/Release/net10.0/Forklift.Cli.dll"));
        string aotPath = StringArg(args, "--cli-aot", Path.Combine(root, "artifacts/cli-aot/Forklift.Cli"));
        if (File.Exists(cliPath))
        {
            cli.Add(CommandContender("forklift_cli", "forklift run --sandbox (dotnet dll)", CliCommand(cliPath, "run", "--sandbox", "--", "true")));
            cli.Add(CommandContender("cli_version", "  floor: forklift --version", CliCommand(cliPath, "--version").WithStandardOutput(Stdio.Null)));
            cli.Add(CommandContender("dotnet_floor", "  floor: an empty .NET Main", CliCommand(typeof(SandboxBench).Assembly.Location, "sandbox", "--startup-floor")));
        }
        else
        {
            skipped["forklift_cli"] = $"{cliPath} is missing (build src/Forklift.Cli in Release, or pass --cli PATH)";
        }
        if (File.Exists(aotPath))
            cli.Add(CommandContender("forklift_cli_aot", "forklift run --sandbox (native AOT)", CliCommand(aotPath, "run", "--sandbox", "--", "true")));
        else
            skipped["forklift_cli_aot"] = $"{aotPath} is missing; publish it with: dotnet publish src/Forklift.Cli -c Release -r linux-x64 -o artifacts/cli-aot (or pass --cli-aot PATH)";

        // 4. One namespace at a time, Forklift and the raw path
        var perNamespace = new List<(string Name, Command Forklift, ulong RawFlags, bool RawMaps)>
        {
            ("none", trueCommand, 0, false),
            ("user (root mapped)", trueCommand.WithIsolation(new Isolation.Isolation { NewNamespaces = Namespaces.User, UserMapping = rootMap }), CloneNewUser, true),
            ("pid (program is pid 1)", trueCommand.WithIsolation(new Isolation.Isolation { NewNamespaces = Namespaces.Pid, ProgramIsPid1 = true }), CloneNewPid, false),
            ("pid + forklift-init", trueCommand.WithIsolation(new Isolation.Isolation { NewNamespaces = Namespaces.Pid }), CloneNewPid, false),
            ("mount", trueCommand.WithNewNamespaces(Namespaces.Mount), CloneNewNs, false),
            ("uts", trueCommand.WithNewNamespaces(Namespaces.Uts), CloneNewUts, false),
            ("ipc", trueCommand.WithNewNamespaces(Namespaces.Ipc), CloneNewIpc, false),
            ("net (loopback down)", trueCommand.WithIsolation(new Isolation.Isolation { NewNamespaces = Namespaces.Net, LoopbackUp = false }), CloneNewNet, false),
            ("net + loopback up", trueCommand.WithNewNamespaces(Namespaces.Net), CloneNewNet, false),
            ("cgroup", trueCommand.WithNewNamespaces(Namespaces.Cgroup), CloneNewCgroup, false),
            ("time", trueCommand.WithNewNamespaces(Namespaces.Time), CloneNewTime, false),
        };
        var nsContenders = new List<Contender>();
        var rawDone = new HashSet<ulong>();
        foreach (var (name, command, flags, maps) in perNamespace)
        {
            nsContenders.Add(new("ns:" + name, name, () => Spawn(command)));
            if (rawDone.Add(flags))
                nsContenders.Add(new("raw:" + flags.ToString(CultureInfo.InvariantCulture), name, () => raw.Once(flags, maps)));
        }

        // Warm up every path (JIT, page cache, the reactor thread, the stage's stack, the tools' binaries)
        foreach (var c in inProcess.Concat(tools).Concat(nsContenders))
            for (int i = 0; i < 10; i++)
                c.Once();
        foreach (var c in cli)
            for (int i = 0; i < 3; i++)
                c.Once();

        log.WriteLine($"sandbox bench: load average {load} on {Environment.ProcessorCount} cores; measuring...");
        var sw = Stopwatch.StartNew();
        var main = Measure([.. inProcess, .. tools], rounds, 20, TimeSpan.FromSeconds(16), out int mainRounds);
        int cliDone = 0;
        var cliGroup = cli.Count > 0 ? Measure([.. cli, .. tools], cliRounds, 10, TimeSpan.FromSeconds(20), out cliDone) : [];
        var ns = Measure(nsContenders, nsRounds, 20, TimeSpan.FromSeconds(10), out int nsDone);
        double seconds = sw.Elapsed.TotalSeconds;

        // The added cost of a namespace: the median over rounds of (with it - without it) in the same round, so a
        // round that the machine slowed as a whole cancels out
        var table = new List<(string Name, double Forklift, double ForkliftAdded, double Raw, double RawAdded)>();
        var fNone = ns["ns:none"];
        var rNone = ns["raw:0"];
        foreach (var (name, _, flags, _) in perNamespace)
        {
            var f = ns["ns:" + name];
            var r = ns["raw:" + flags.ToString(CultureInfo.InvariantCulture)];
            table.Add((name, f.Median, PairedMedian(f, fNone, (a, b) => a - b), r.Median, PairedMedian(r, rNone, (a, b) => a - b)));
        }

        double Med(Dictionary<string, Figure> g, string key) => g.TryGetValue(key, out var f) ? f.Median : double.NaN;
        var ratios = new List<Ratio>();
        void Add(Dictionary<string, Figure> g, string a, string b, string target = "")
        {
            if (g.TryGetValue(a, out var fa) && g.TryGetValue(b, out var fb))
                ratios.Add(new Ratio($"{a} / {b}", fa.Median / fb.Median, PairedMedian(fa, fb, (x, y) => x / y), target));
        }
        Add(main, "forklift_six", "raw_clone3", "<= 1.15");
        Add(main, "forklift_preset", "raw_clone3");
        Add(main, "forklift_preset_cgroup", "raw_clone3");
        Add(main, "forklift_six_init_lo", "raw_clone3");
        Add(main, "bwrap", "forklift_preset", ">= 2");
        Add(main, "bwrap", "forklift_preset_cgroup", ">= 2");
        Add(main, "unshare_rpf_proc", "forklift_preset");
        Add(main, "unshare_all6", "forklift_six");
        Add(main, "crun", "forklift_preset");
        Add(cliGroup, "forklift_cli", "bwrap");
        Add(cliGroup, "forklift_cli", "unshare_rpf_proc");
        Add(cliGroup, "forklift_cli", "unshare_all6");
        Add(cliGroup, "forklift_cli", "cli_version");
        Add(cliGroup, "forklift_cli", "dotnet_floor");
        Add(cliGroup, "forklift_cli_aot", "bwrap");
        Add(cliGroup, "forklift_cli_aot", "unshare_rpf_proc");
        Add(cliGroup, "forklift_cli", "forklift_cli_aot");

        if (json)
        {
            var j = new StringBuilder();
            j.Append(CultureInfo.InvariantCulture, $"{{\"program\": \"/bin/true\", \"uid\": {uid}, \"loadavg\": \"{load}\", \"seconds\": {seconds:F1}, ");
            j.Append(CultureInfo.InvariantCulture, $"\"rounds\": {{\"in_process_and_tools\": {mainRounds}, \"cli\": {cliDone}, \"per_namespace\": {nsDone}}}, ");
            j.Append("\"median_us\": {");
            j.AppendJoin(", ", main.Values.Select(f => string.Create(CultureInfo.InvariantCulture, $"\"{f.Key}\": {f.Median:F1}")));
            j.Append("}, \"quartiles_us\": {");
            j.AppendJoin(", ", main.Values.Select(f => string.Create(CultureInfo.InvariantCulture, $"\"{f.Key}\": [{f.P25:F1}, {f.P75:F1}]")));
            j.Append("}, \"cli_group_median_us\": {");
            j.AppendJoin(", ", cliGroup.Values.Select(f => string.Create(CultureInfo.InvariantCulture, $"\"{f.Key}\": {f.Median:F1}")));
            j.Append("}, \"ratios\": {");
            j.AppendJoin(", ", ratios.Select(r => string.Create(CultureInfo.InvariantCulture, $"\"{r.Name}\": {r.OfMedians:F3}")));
            j.Append("}, \"paired_ratios\": {");
            j.AppendJoin(", ", ratios.Select(r => string.Create(CultureInfo.InvariantCulture, $"\"{r.Name}\": {r.Paired:F3}")));
            j.Append("}, \"namespace_cost_us\": {");
            j.AppendJoin(", ", table.Select(t => string.Create(CultureInfo.InvariantCulture,
                $"\"{JsonName(t.Name)}\": {{\"forklift\": {t.Forklift:F1}, \"forklift_added\": {t.ForkliftAdded:F1}, \"raw\": {t.Raw:F1}, \"raw_added\": {t.RawAdded:F1}}}")));
            j.Append("}, \"skipped\": {");
            j.AppendJoin(", ", skipped.Select(s => $"\"{s.Key}\": \"{s.Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\""));
            j.Append("}}");
            Console.WriteLine(j.ToString());
            return 0;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"spawn + wait of /bin/true in new namespaces (uid {uid}); {seconds:F0} s; medians [quartiles] in µs"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  in-process and tools as commands, {mainRounds} interleaved rounds"));
        double rawMedian = Med(main, "raw_clone3");
        foreach (var f in main.Values)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {f.Label,-36} {f.Median,9:F1} [{f.P25,7:F0} {f.P75,7:F0}]  {f.Median / rawMedian,6:F2}x raw"));
        if (cliGroup.Count > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  the CLI as a command, {cliDone} interleaved rounds (with the tools again)"));
            double bw = Med(cliGroup, "bwrap");
            foreach (var f in cliGroup.Values)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {f.Label,-36} {f.Median,9:F1} [{f.P25,7:F0} {f.P75,7:F0}]  {f.Median / bw,6:F2}x bwrap"));
        }
        Console.WriteLine($"  ratios {"",-34} {"medians",8} {"paired",7}   (paired: the median of the per-round ratios)");
        foreach (var r in ratios)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {r.Name,-40} {r.OfMedians,8:F2} {r.Paired,7:F2}{(r.Target.Length > 0 ? "   target " + r.Target : "")}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  one namespace at a time, {nsDone} interleaved rounds: spawn + wait (median), and the cost added to none (median of the per-round differences)"));
        Console.WriteLine($"    {"namespace",-24} {"forklift",9} {"added",8}   {"raw C",9} {"added",8}");
        foreach (var t in table)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {t.Name,-24} {t.Forklift,9:F1} {t.ForkliftAdded,8:F1}   {t.Raw,9:F1} {t.RawAdded,8:F1}"));
        foreach (var (key, why) in skipped)
            Console.WriteLine($"  skipped {key}: {why}");
        return 0;
    }

    /// <summary>Runs every contender once per round, in a new shuffled order each round, until the rounds or the time are used up.</summary>
    private static Dictionary<string, Figure> Measure(List<Contender> contenders, int rounds, int minRounds, TimeSpan budget, out int done)
    {
        var samples = contenders.Select(_ => new List<double>(rounds)).ToArray();
        var order = Enumerable.Range(0, contenders.Count).ToArray();
        var rng = new Random(4242);
        var until = Stopwatch.GetTimestamp() + (long)(budget.TotalSeconds * Stopwatch.Frequency);
        done = 0;
        // at least minRounds, however slow the machine
        while (done < rounds && (done < minRounds || Stopwatch.GetTimestamp() < until))
        {
            rng.Shuffle(order);
            foreach (int i in order)
                samples[i].Add(contenders[i].Once());
            done++;
        }
        var figures = new Dictionary<string, Figure>(StringComparer.Ordinal);
        for (int i = 0; i < contenders.Count; i++)
        {
            var a = samples[i].ToArray();
            Array.Sort(a);
            figures[contenders[i].Key] = new Figure(contenders[i].Key, contenders[i].Label, a[a.Length / 2], a[a.Length / 4], a[a.Length * 3 / 4], samples[i]);
        }
        return figures;
    }

    /// <summary>The median over rounds of f(a's sample, b's sample) in the same round.</summary>
    private static double PairedMedian(Figure a, Figure b, Func<double, double, double> f)
    {
        var v = a.Samples.Zip(b.Samples, f).ToArray();
        Array.Sort(v);
        return v.Length == 0 ? double.NaN : v[v.Length / 2];
    }

    private static double Spawn(Command command)
    {
        long t0 = Stopwatch.GetTimestamp();
        using var child = command.Start();
        var status = child.WaitForExit();
        long t1 = Stopwatch.GetTimestamp();
        if (status.ExitCode != 0)
            throw new InvalidOperationException($"{command.Program} {string.Join(' ', command.Arguments)} ({command.Isolation}) exited with {status}");
        return Us(t0, t1);
    }

    private static Contender CommandContender(string key, string label, Command command) => new(key, label, () => Spawn(command));

    /// <summary>The path of a tool, installing its package with apt-get when it is missing (and allowed); null with the reason in <paramref name="skipped"/>.</summary>
    private static string? Tool(string name, string package, bool install, SortedDictionary<string, string> skipped, TextWriter log)
    {
        if (Which(name) is { } found)
            return found;
        if (!install)
        {
            skipped[name] = $"{name} is not installed (--no-install)";
            return null;
        }
        log.WriteLine($"sandbox bench: {name} is missing; apt-get install {package}...");
        string? error = AptInstall(package);
        if (Which(name) is { } installed)
            return installed;
        skipped[name] = $"{name} is not installed and apt-get install {package} failed: {error ?? "no such program afterwards"}";
        return null;
    }

    /// <summary>apt-get update (once) and install; null on success, else the last line apt printed.</summary>
    private static string? AptInstall(string package)
    {
        if (Which("apt-get") is not { } apt)
            return "there is no apt-get";
        if (!s_aptUpdated)
        {
            s_aptUpdated = true;
            RunQuiet(apt, "update");
        }
        var (code, output) = RunQuiet(apt, "install", "-y", "--no-install-recommends", package);
        return code == 0 ? null : output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? $"exit code {code}";
    }

    private static bool s_aptUpdated;

    /// <summary>
    /// crun running /bin/true from a bundle whose root is the host's / read-only, in the same six namespaces, root
    /// mapped to the caller, /proc, /dev and /tmp mounted as the Forklift preset does, no capabilities, no cgroup
    /// (--cgroup-manager=disabled). Tried once; skipped with crun's own message when it cannot run here.
    /// </summary>
    private static Contender? Crun(bool install, uint uid, uint gid, SortedDictionary<string, string> skipped, TextWriter log)
    {
        if (Tool("crun", "crun", install, skipped, log) is not { } crun)
            return null;
        string bundle = Path.Combine(Path.GetTempPath(), $"forklift-bench-crun-{Environment.ProcessId}");
        Directory.CreateDirectory(bundle);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(bundle, recursive: true); } catch (IOException) { } };
        File.WriteAllText(Path.Combine(bundle, "config.json"), string.Create(CultureInfo.InvariantCulture, $$$"""
            {"ociVersion": "1.0.0",
             "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"], "env": ["PATH=/usr/bin:/bin"], "cwd": "/",
               "noNewPrivileges": true, "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []}},
             "root": {"path": "/", "readonly": true},
             "hostname": "crun",
             "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755", "size=1m"]},
               {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}],
             "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "user"}, {"type": "mount"}],
               "uidMappings": [{"containerID": 0, "hostID": {{{uid}}}, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": {{{gid}}}, "size": 1}]}}
            """));
        string state = Path.Combine(bundle, "state");
        int n = 0;
        Command Next() => new Command(crun).WithArguments("--root", state, "--cgroup-manager=disabled", "run", "--bundle", bundle,
            string.Create(CultureInfo.InvariantCulture, $"b{Environment.ProcessId}-{n++}"));
        var (code, output) = RunQuiet(crun, "--root", state, "--cgroup-manager=disabled", "run", "--bundle", bundle, "probe");
        if (code != 0)
        {
            skipped["crun"] = $"crun cannot run a container here: {output.Trim().ReplaceLineEndings(" ")}";
            return null;
        }
        return new Contender("crun", "crun run (OCI bundle, root = /)", () => Spawn(Next()));
    }

    private static (int Code, string Output) RunQuiet(string program, params string[] arguments)
    {
        var psi = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.GetAwaiter().GetResult());
    }

    private static string? Which(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string p = Path.Combine(dir, name);
            if (File.Exists(p))
                return p;
        }
        return null;
    }

    /// <summary>The repository's root, recorded by the build (the bench project builds the CLI first: see the csproj).</summary>
    private static string RepoRoot() => Metadata("ForkliftRoot") ?? ".";

    private static string? Metadata(string key) =>
        typeof(SandboxBench).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value;

    /// <summary>A dll runs through the dotnet host; anything else is an executable (an apphost, a native AOT binary).</summary>
    private static Command CliCommand(string path, params string[] arguments) =>
        path.EndsWith(".dll", StringComparison.Ordinal)
            ? new Command("dotnet").WithArguments([path, .. arguments])
            : new Command(path).WithArguments(arguments);

    private static string JsonName(string name) =>
        new string([.. name.Select(ch => char.IsAsciiLetterOrDigit(ch) ? ch : '_')]).Replace("__", "_", StringComparison.Ordinal).Trim('_');

    private static double Us(long t0, long t1) => (t1 - t0) * 1_000_000.0 / Stopwatch.Frequency;

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

    /// <summary>The raw clone3 peer's arguments, in native memory for the benchmark's whole run.</summary>
    private sealed class RawPeer : IDisposable
    {
        private readonly byte* _path, _uidMap, _gidMap;
        private readonly byte** _argv, _envp;
        private readonly List<nint> _strings = [];

        public RawPeer(string path, string uidMap, string gidMap)
        {
            _path = Utf8(path);
            _uidMap = Utf8(uidMap);
            _gidMap = Utf8(gidMap);
            _argv = (byte**)NativeMemory.AllocZeroed(2, (nuint)sizeof(byte*));
            _argv[0] = _path;
            var env = Environment.GetEnvironmentVariables();
            _envp = (byte**)NativeMemory.AllocZeroed((nuint)env.Count + 1, (nuint)sizeof(byte*));
            int i = 0;
            foreach (System.Collections.DictionaryEntry e in env)
                _envp[i++] = Utf8($"{e.Key}={e.Value}");
        }

        /// <summary>One clone3 + wait; the microseconds it took.</summary>
        public double Once(ulong flags, bool maps)
        {
            long t0 = Stopwatch.GetTimestamp();
            int r = Clone3NsWait(flags, _path, _argv, _envp, maps ? _uidMap : null, maps ? _gidMap : null, null);
            long t1 = Stopwatch.GetTimestamp();
            if (r != 0)
                throw new InvalidOperationException($"raw clone3 (flags 0x{flags:x}) returned {r} (negative: -errno)");
            return Us(t0, t1);
        }

        private byte* Utf8(string s)
        {
            nint p = Marshal.StringToCoTaskMemUTF8(s);
            _strings.Add(p);
            return (byte*)p;
        }

        public void Dispose()
        {
            foreach (var p in _strings)
                Marshal.FreeCoTaskMem(p);
            NativeMemory.Free(_argv);
            NativeMemory.Free(_envp);
        }
    }
}
