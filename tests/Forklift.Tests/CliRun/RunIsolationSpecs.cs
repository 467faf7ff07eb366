using Forklift.Isolation;
using Forklift.Spawning;
using Forklift.Tests.Cli;
using Forklift.Tests.Spawning;
using Forklift.Tests.Support;

namespace Forklift.Tests.CliRun;

/// <summary><c>forklift run</c>'s isolation options, on the real kernel.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RunIsolationSpecs
{
    /// <summary>Runs the CLI in-process; the child's stdout goes to a file (opened as this process sees it, also in a sandbox).</summary>
    private static async Task<CliOutcome> Sh(string[] options, string script)
    {
        using var dir = new TempDir();
        var o = await RunKit.InProcess(["run", "--stdout", dir.File("out"), .. options, "--", "/bin/sh", "-c", script]);
        return o with { Out = File.Exists(dir.File("out")) ? dir.Read("out") : "" };
    }

    private static string[] Lines(CliOutcome o) => o.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [KernelFact]
    public async Task Sandbox_with_hostname_tmpfs_and_binds()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("in"), "from host\n");
        var o = (await Sh(["--sandbox", "--hostname", "cli-box", "--tmpfs", "/tmp/small:1M", "--ro-bind", $"{dir.Path}:/tmp/in",
            "--bind", $"{dir.Path}:/mnt"],
            "hostname; cat /tmp/in/in; echo out > /mnt/out && echo wrote; df -k /tmp/small | tail -1 | awk '{print $2}'")).Exits(0);
        Assert.Equal(["cli-box", "from host", "wrote", "1024"], Lines(o));
        Assert.Equal("out\n", dir.Read("out"));
    }

    [KernelFact]
    public async Task Unshare_with_map_root_and_explicit_maps()
    {
        var root = (await Sh(["--unshare", "user", "--map-root"], "id -u; cat /proc/self/setgroups")).Exits(0);
        Assert.Equal(["0", "deny"], Lines(root));
        var maps = (await Sh(["--uid-map", "0:200000:1000", "--uid-map", "1000:0:1", "--gid-map", "0:200000:1000", "--setgroups", "allow"],
            "cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'")).Exits(0);
        Assert.Equal(["0 200000 1000", "1000 0 1"], Lines(maps));
    }

    [KernelFact]
    public async Task Join_ns_enters_another_process_namespaces()
    {
        // a holder in new uts and net namespaces, then a second program joins them by path
        var holder = ProcessLauncher().Start(new Command("/bin/sleep").WithArguments("30")
            .WithIsolation(new Forklift.Isolation.Isolation { NewNamespaces = Namespaces.Uts | Namespaces.Net, Hostname = "holder" }));
        try
        {
            var o = (await Sh(["--join-ns", $"uts=/proc/{holder.Pid}/ns/uts", "--join-ns", $"net=/proc/{holder.Pid}/ns/net"],
                "hostname; readlink /proc/self/ns/net")).Exits(0);
            var lines = Lines(o);
            Assert.Equal("holder", lines[0]);
            Assert.Equal(new FileInfo($"/proc/{holder.Pid}/ns/net").LinkTarget, lines[1]);
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync();
            holder.Dispose();
        }
    }

    [KernelFact]
    public async Task Join_a_pid_namespace_runs_the_program_as_a_child_inside_it()
    {
        var holder = ProcessLauncher().Start(new Command("/bin/sleep").WithArguments("30")
            .WithIsolation(new Forklift.Isolation.Isolation { NewNamespaces = Namespaces.Pid, ProgramIsPid1 = true }));
        try
        {
            var o = (await Sh(["--join-ns", $"pid=/proc/{holder.Pid}/ns/pid"], "readlink /proc/self/ns/pid; grep NSpid /proc/$$/status")).Exits(0);
            var lines = Lines(o);
            Assert.Equal(new FileInfo($"/proc/{holder.Pid}/ns/pid").LinkTarget, lines[0]);
            // two levels: the host's pid and the pid inside the holder's namespace (2, after the holder's 1)
            Assert.EndsWith("\t2", lines[1]);
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync();
            holder.Dispose();
        }
    }

    [KernelFact]
    public async Task Set_tid_chooses_the_pid_in_the_outer_namespace()
    {
        // pid 1 in the new namespace, a chosen pid in ours: pick a free one far from the allocator's cursor
        int wanted = FreePid();
        var o = (await Sh(["--unshare", "pid", "--pid1", "--set-tid", $"1,{wanted}"], "exec grep NSpid /proc/self/status")).Exits(0);
        Assert.Equal($"NSpid:\t{wanted}\t1", Lines(o)[0]);
    }

    [KernelFact]
    public async Task Cap_drop_removes_a_capability_from_every_set()
    {
        var o = (await Sh(["--cap-drop", "CAP_NET_RAW,CAP_SYS_ADMIN"], "grep -E 'CapEff|CapBnd' /proc/self/status | cut -f2")).Exits(0);
        foreach (var line in Lines(o))
        {
            ulong set = Convert.ToUInt64(line, 16);
            Assert.Equal(0UL, set & (1UL << 13 | 1UL << 21));
            Assert.NotEqual(0UL, set & (1UL << 0)); // CAP_CHOWN stays
        }
    }

    [KernelFact]
    public async Task Time_offsets_shift_the_monotonic_clock()
    {
        var o = (await Sh(["--time-offset", "monotonic=86400000", "--unshare", "user", "--map-root"], "cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime")).Exits(0);
        Assert.Matches(@"^monotonic\s+86400000\s+0$", Lines(o)[0]);
        Assert.True(long.Parse(Lines(o)[2], System.Globalization.CultureInfo.InvariantCulture) < 86400000, "boottime is not shifted by a monotonic offset");
    }

    [KernelFact]
    public async Task Bad_isolation_options_are_refused_with_exit_2_naming_the_option()
    {
        RunKit.FailsWith(await Sh(["--unshare", "user,bogus"], "true"), 2, "forklift: --unshare 'user,bogus': unknown namespace 'bogus'");
        RunKit.FailsWith(await Sh(["--pid1"], "true"), 2, "forklift: --pid1 needs a new pid namespace");
        RunKit.FailsWith(await Sh(["--uid-map", "0:1000"], "true"), 2, "forklift: --uid-map '0:1000'");
        RunKit.FailsWith(await Sh(["--sandbox", "--cap-drop", "all"], "true"), 2, "forklift: --cap-drop with --sandbox");
        RunKit.FailsWith(await Sh(["--time-offset", "realtime=5"], "true"), 2, "forklift: --time-offset 'realtime=5'");
        RunKit.FailsWith(await Sh(["--share-net"], "true"), 2, "forklift: --share-net is for --sandbox");
        RunKit.FailsWith(await Sh(["--map-root", "--map-user"], "true"), 2, "forklift: --map-root and --map-user contradict");
        RunKit.FailsWith(await Sh(["--uid-map", "0:1000:10", "--uid-map", "5:2000:1"], "true"), 2, "forklift: --uid-map/--gid-map/--map-root/--map-user: uid map lines");
    }

    [KernelFact]
    public async Task Set_tid_longer_than_the_namespace_depth_is_refused_by_the_clone_model_before_the_call()
    {
        var line = RunKit.FailsWith(await Sh(["--unshare", "pid", "--set-tid", "1,5000,6000"], "true"), 125, "forklift: Clone3: EINVAL: the clone model refused");
        Assert.Contains("set_tid names more pids than there are pid namespaces", line);
    }

    [UnprivilegedSandboxFact]
    public async Task A_sandbox_as_an_unprivileged_user()
    {
        // a throwaway process drops to nobody and runs the CLI as a process of its own
        var o = await RunKit.Capture(RunKit.Forklift("run", "--sandbox", "--", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '; grep CapEff /proc/self/status | cut -f2")
            .WithUser(65534).WithGroup(65534).WithSupplementaryGroups().WithEnvironmentVariable("HOME", "/tmp")
            .WithEnvironmentVariable("DOTNET_CLI_HOME", "/tmp").WithWorkingDirectory("/"));
        o.Exits(0);
        var lines = Lines(o);
        Assert.Equal("0", lines[0]);
        Assert.Equal(" 0 65534 1", lines[1]);
        Assert.Equal("0000000000000000", lines[2]);
    }

    private static int FreePid()
    {
        int max = int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var rng = new Random();
        for (int i = 0; i < 1000; i++)
        {
            int candidate = rng.Next(Math.Max(300, max / 2), max - 1);
            if (!Directory.Exists($"/proc/{candidate}"))
                return candidate;
        }
        throw new InvalidOperationException("no free pid found");
    }

    private static Forklift.Processes.ProcessLauncher ProcessLauncher() => Forklift.Processes.ProcessLauncher.Default;
}

/// <summary>Runs when uid 65534 can run the CLI from this checkout and unprivileged user namespaces are enabled.</summary>
public sealed class UnprivilegedSandboxFactAttribute : FactAttribute
{
    public UnprivilegedSandboxFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
            Skip = "needs root (to drop to uid 65534 in a throwaway process)";
        else if (!WorldReadable(RunKit.CliDll))
            Skip = $"uid 65534 cannot read {RunKit.CliDll}: the checkout is not world-readable";
        else if (File.ReadAllText("/proc/sys/user/max_user_namespaces").Trim() == "0")
            Skip = "user.max_user_namespaces is 0: unprivileged user namespaces are disabled";
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static bool WorldReadable(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists || (info.UnixFileMode & UnixFileMode.OtherRead) == 0)
            return false;
        for (var d = info.Directory; d is not null; d = d.Parent)
            if ((d.UnixFileMode & UnixFileMode.OtherExecute) == 0)
                return false;
        return true;
    }
}
