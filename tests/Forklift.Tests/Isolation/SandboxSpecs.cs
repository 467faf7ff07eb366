using Forklift.Isolation;
using Forklift.Spawning;
using Forklift.Tests.Spawning;
using Forklift.Tests.Support;

namespace Forklift.Tests.Isolation;

/// <summary>The sandbox preset, checked from inside the child on the real kernel.</summary>
public sealed class SandboxSpecs
{
    private static async Task<Dictionary<string, string>> Inspect(SandboxOptions? options, string? extra = null)
    {
        const string script = """
            echo "id=$(id -u):$(id -g)"
            echo "hostname=$(hostname)"
            for n in user pid mnt uts ipc net cgroup; do echo "ns_$n=$(readlink /proc/self/ns/$n)"; done
            echo "pids=$(ls /proc | grep '^[0-9]' | sort -n | tr '\n' ' ')"
            echo "self=$$"
            if touch /usr/forklift-probe 2>/dev/null; then echo usr=writable; else echo usr=readonly; fi
            if touch /tmp/forklift-probe 2>/dev/null; then echo tmp=writable; else echo tmp=readonly; fi
            echo "tmp_entries=$(ls -A /tmp | grep -v forklift-probe | wc -l)"
            echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ' ')"
            echo "capeff=$(grep CapEff /proc/self/status | cut -f2)"
            echo "capbnd=$(grep CapBnd /proc/self/status | cut -f2)"
            echo "nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)"
            echo "dev=$(ls /dev | sort | tr '\n' ' ')"
            echo "null=$(echo x > /dev/null && echo ok)"
            echo "urandom=$(head -c 4 /dev/urandom | wc -c)"
            """;
        var command = Sandbox.Apply(new Command("/bin/sh").WithArguments("-c", script + "\n" + (extra ?? "")), options);
        var result = await command.ExecuteBufferedAsync();
        Assert.True(result.ExitStatus.Succeeded, $"{result.ExitStatus}: {result.StandardError}");
        return result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1].Trim() : "");
    }

    private static string HostNs(string kind) => new FileInfo($"/proc/self/ns/{kind}").LinkTarget!;

    [KernelFact]
    public async Task The_default_sandbox_seen_from_inside()
    {
        var seen = await Inspect(null);
        Assert.Equal("0:0", seen["id"]);
        Assert.Equal("forklift", seen["hostname"]);
        foreach (var n in new[] { "user", "pid", "mnt", "uts", "ipc", "net", "cgroup" })
            Assert.NotEqual(HostNs(n), seen["ns_" + n]);
        Assert.Equal("2", seen["self"]);
        // forklift-init (1), the shell (2), and the short-lived commands of the pipeline
        Assert.StartsWith("1 2 ", seen["pids"]);
        Assert.Equal("readonly", seen["usr"]);
        Assert.Equal("writable", seen["tmp"]);
        Assert.Equal("0", seen["tmp_entries"]);
        Assert.Equal("lo", seen["ifaces"]);
        Assert.Equal("0000000000000000", seen["capeff"]);
        Assert.Equal("0000000000000000", seen["capbnd"]);
        Assert.Equal("1", seen["nnp"]);
        foreach (var node in new[] { "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin", "stdout", "stderr" })
            Assert.Contains(node, seen["dev"].Split(' '));
        Assert.Equal("ok", seen["null"]);
        Assert.Equal("4", seen["urandom"]);
    }

    [KernelFact]
    public async Task Share_network_binds_and_kept_capabilities()
    {
        var rw = Directory.CreateTempSubdirectory("forklift-sbx-rw");
        var ro = Directory.CreateTempSubdirectory("forklift-sbx-ro");
        try
        {
            File.WriteAllText(Path.Combine(ro.FullName, "data"), "hello");
            Assert.True(Forklift.Rules.Capabilities.TryParse("CAP_NET_BIND_SERVICE,CAP_CHOWN", out ulong keep, out _));
            var seen = await Inspect(new SandboxOptions
            {
                ShareNetwork = true,
                Binds = [(rw.FullName, "/mnt")],
                ReadOnlyBinds = [(ro.FullName, "/tmp/ro")],
                Capabilities = CapabilityPolicy.KeepOnly(keep),
                Hostname = "box2",
            }, """
            echo "rw=$(echo written > /mnt/out && echo ok)"
            echo "ro_read=$(cat /tmp/ro/data)"
            if echo x > /tmp/ro/new 2>/dev/null; then echo ro_write=yes; else echo ro_write=no; fi
            """);
            Assert.Equal(HostNs("net"), seen["ns_net"]);
            Assert.Equal("box2", seen["hostname"]);
            Assert.Equal("ok", seen["rw"]);
            Assert.Equal("written\n", File.ReadAllText(Path.Combine(rw.FullName, "out")));
            Assert.Equal("hello", seen["ro_read"]);
            Assert.Equal("no", seen["ro_write"]);
            Assert.Equal(keep.ToString("x16"), seen["capeff"]);
            Assert.Equal(keep.ToString("x16"), seen["capbnd"]);
        }
        finally
        {
            rw.Delete(recursive: true);
            ro.Delete(recursive: true);
        }
    }

    [KernelFact]
    public async Task Nothing_the_sandbox_writes_in_tmp_reaches_the_host_and_no_mount_leaks()
    {
        string marker = "forklift-leak-" + Guid.NewGuid().ToString("N");
        string mountsBefore = File.ReadAllText("/proc/self/mountinfo");
        var result = await Sandbox.Apply(new Command("/bin/sh").WithArguments("-c", $"echo x > /tmp/{marker}")).ExecuteBufferedAsync();
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        Assert.False(File.Exists("/tmp/" + marker));
        Assert.Equal(mountsBefore, File.ReadAllText("/proc/self/mountinfo"));
    }
}

/// <summary>Bad sandbox and isolation requests are refused before anything is created.</summary>
public sealed class IsolationRefusalSpecs
{
    [KernelFact]
    public void A_bind_to_a_missing_path_on_the_read_only_view_is_refused_naming_the_option()
    {
        var command = Sandbox.Apply(new Command("/bin/true"), new SandboxOptions { Binds = [("/tmp", "/no/such/dir")] });
        var e = Assert.Throws<CommandException>(() => Forklift.Processes.ProcessLauncher.Default.Start(command));
        Assert.Equal("Isolation.Mounts", e.Option);
        Assert.Contains("/no/such/dir", e.Message);
    }

    [KernelFact]
    public void A_bind_inside_the_private_tmp_is_allowed()
    {
        var command = Sandbox.Apply(new Command("/bin/true"), new SandboxOptions { ReadOnlyBinds = [("/etc", "/tmp/a/b/etc")] });
        Forklift.Isolation.IsolationPlanner.Validate(command);
    }

    public static TheoryData<Forklift.Isolation.Isolation, string, string> Conflicts => new()
    {
        { new() { UserMapping = UserNamespaceMapping.RootToCaller(0, 0) }, "Isolation.UserMapping", "new user namespace" },
        { new() { NewNamespaces = Namespaces.User, UserMapping = UserNamespaceMapping.Explicit([new(0, 1000, 10), new(5, 2000, 1)], []) }, "Isolation.UserMapping", "same inside id twice" },
        { new() { NewNamespaces = Namespaces.User, UserMapping = UserNamespaceMapping.Explicit([new(0, 1000, 10), new(20, 1005, 1)], []) }, "Isolation.UserMapping", "same outside id twice" },
        { new() { NewNamespaces = Namespaces.User, UserMapping = UserNamespaceMapping.Explicit([new(0, 1000, 0)], []) }, "Isolation.UserMapping", "count of at least 1" },
        { new() { TimeOffsets = new TimeOffsets(TimeSpan.FromSeconds(1), default) }, "Isolation.TimeOffsets", "time namespace" },
        { new() { NewNamespaces = Namespaces.Pid, SetTid = [5] }, "Isolation.SetTid", "must be 1" },
        { new() { Hostname = "x" }, "Isolation.Hostname", "UTS" },
        { new() { NewNamespaces = Namespaces.Uts, Hostname = new string('h', 65) }, "Isolation.Hostname", "64 bytes" },
        { new() { Mounts = [new MountOperation.Proc()] }, "Isolation.Mounts", "mount namespace" },
        { new() { ProgramIsPid1 = true }, "Isolation.ProgramIsPid1", "pid namespace" },
        { new() { NewNamespaces = Namespaces.Net, Joins = [NamespaceJoin.FromPath(Namespaces.Net, "/proc/1/ns/net")] }, "Isolation.Joins", "both creates and joins" },
        { new() { NewNamespaces = Namespaces.Mount, Mounts = [new MountOperation.Tmpfs("relative")] }, "Isolation.Mounts", "absolute" },
    };

    [Theory]
    [MemberData(nameof(Conflicts))]
    public void Conflicting_requests_are_refused(Forklift.Isolation.Isolation isolation, string option, string words)
    {
        var e = Assert.Throws<CommandException>(() => Forklift.Processes.ProcessLauncher.Default.Start(new Command("/bin/true").WithIsolation(isolation)));
        Assert.Equal(option, e.Option);
        Assert.Contains(words, e.Message);
    }
}

/// <summary>Failures inside an isolated child: the step, the object, and nothing left behind.</summary>
[Collection(Forklift.Tests.Interop.HostResourceCollection.Name)]
public sealed class IsolationFailureSpecs
{
    [KernelFact]
    public async Task A_sandboxed_exec_failure_names_the_step_and_leaves_no_process_and_no_mount()
    {
        await using var guard = SpawnGuard.Start();
        string mounts = File.ReadAllText("/proc/self/mountinfo");
        var e = Assert.Throws<SpawnException>(() => Forklift.Processes.ProcessLauncher.Default.Start(
            Sandbox.Apply(new Command("/no/such/program"))));
        Assert.Equal("Execve", e.Step);
        Assert.Equal(Forklift.Abi.Errno.ENOENT, e.Errno);
        Assert.Equal(mounts, File.ReadAllText("/proc/self/mountinfo"));
    }

    [KernelFact]
    public async Task A_failing_mount_step_names_the_step_the_path_and_the_errno()
    {
        await using var guard = SpawnGuard.Start();
        // a bind of a source that vanished between the check and the spawn
        var dir = Directory.CreateTempSubdirectory("forklift-vanish");
        var command = new Command("/bin/true").WithIsolation(new Forklift.Isolation.Isolation
        {
            NewNamespaces = Namespaces.User | Namespaces.Mount,
            UserMapping = UserNamespaceMapping.RootToCaller(0, 0),
            Mounts = [new MountOperation.Bind(dir.FullName + "/gone", "/mnt")],
        });
        dir.Delete();
        var e = Assert.Throws<SpawnException>(() => Forklift.Processes.ProcessLauncher.Default.Start(command));
        Assert.Equal("OpenTree", e.Step);
        Assert.Equal(Forklift.Abi.Errno.ENOENT, e.Errno);
        Assert.Equal(dir.FullName + "/gone", e.Object);
        Assert.Contains("bind source does not exist", e.Message);
    }

    [KernelFact]
    public async Task Joining_by_pidfd_enters_several_namespaces_of_a_process_at_once()
    {
        await using var guard = SpawnGuard.Start();
        using var holder = Forklift.Processes.ProcessLauncher.Default.Start(new Command("/bin/sleep").WithArguments("30")
            .WithIsolation(new Forklift.Isolation.Isolation { NewNamespaces = Namespaces.Uts | Namespaces.Ipc, Hostname = "by-pidfd" }));
        try
        {
            var result = await new Command("/bin/sh").WithArguments("-c", "hostname; readlink /proc/self/ns/ipc")
                .WithIsolation(new Forklift.Isolation.Isolation { Joins = [NamespaceJoin.FromProcess(holder.Pidfd, Namespaces.Uts | Namespaces.Ipc)] })
                .ExecuteBufferedAsync();
            Assert.True(result.ExitStatus.Succeeded, result.StandardError);
            var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("by-pidfd", lines[0]);
            Assert.Equal(new FileInfo($"/proc/{holder.Pid}/ns/ipc").LinkTarget, lines[1]);
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync();
        }
    }
}

/// <summary>The sandbox with limits: the program sees them, and one call ends everything in it.</summary>
public sealed class SandboxLimitSpecs
{
    [KernelFact]
    public async Task Limits_apply_inside_the_sandbox_and_kill_ends_it()
    {
        using var group = ControlGroup.Create(new CgroupLimits { MemoryMax = 64UL << 20, PidsMax = 32 });
        using var child = Forklift.Processes.ProcessLauncher.Default.Start(Sandbox.Apply(
            new Command("/bin/sh").WithArguments("-c", "sleep 1000 & sleep 1000 & wait"),
            new SandboxOptions { Cgroup = group }));
        Assert.True(await Forklift.Tests.Spawning.Eventually.True(() => group.ReadStatistics().PidsCurrent >= 4),
            "init, shell and two sleeps in the group");
        group.Kill();
        var status = await child.WaitForExitAsync();
        Assert.Equal(9, status.Signal);
    }
}
