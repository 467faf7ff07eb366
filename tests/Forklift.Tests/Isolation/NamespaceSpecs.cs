using Forklift.Isolation;
using Forklift.Processes;
using Forklift.Spawning;
using Forklift.Tests.Support;
using Forklift.Tests.Spawning;

namespace Forklift.Tests.Isolation;

/// <summary>New namespaces, seen from inside the child, on the real kernel.</summary>
public sealed class NamespaceSpecs
{
    private static string Ns(string kind, string pid = "self") =>
        new FileInfo($"/proc/{pid}/ns/{kind}").LinkTarget!;

    private static Task<BufferedCommandResult> Sh(Command shaped, string script) =>
        shaped.WithProgram("/bin/sh").WithArguments("-c", script).ExecuteBufferedAsync();

    [Theory]
    [InlineData(Namespaces.User, "user")]
    [InlineData(Namespaces.Pid, "pid")]
    [InlineData(Namespaces.Mount, "mnt")]
    [InlineData(Namespaces.Uts, "uts")]
    [InlineData(Namespaces.Ipc, "ipc")]
    [InlineData(Namespaces.Net, "net")]
    [InlineData(Namespaces.Cgroup, "cgroup")]
    [InlineData(Namespaces.Time, "time")]
    public async Task Each_namespace_alone_is_new_and_the_others_are_shared(Namespaces kind, string proc)
    {
        var command = new Command("/bin/sh").WithNewNamespaces(kind);
        var result = await Sh(command, "for n in user pid mnt uts ipc net cgroup time; do echo $n $(readlink /proc/self/ns/$n); done");
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        foreach (var line in result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ');
            bool same = parts[1] == Ns(parts[0]);
            if (parts[0] == proc)
                Assert.False(same, $"{proc} should be new: {line}");
            else
                Assert.True(same, $"{parts[0]} should be shared with {kind}: {line} vs {Ns(parts[0])}");
        }
    }

    [KernelFact]
    public async Task Map_root_to_caller_makes_the_child_root_inside_and_written_by_the_child_itself()
    {
        var command = new Command("/bin/sh").WithIsolation(new Forklift.Isolation.Isolation
        {
            NewNamespaces = Namespaces.User,
            UserMapping = UserNamespaceMapping.RootToCaller(0, 0),
        });
        var result = await Sh(command, "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups");
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToArray();
        Assert.Equal(["0", "0", "0 0 1", "0 0 1", "deny"], lines);
    }

    [KernelFact]
    public async Task A_range_map_is_written_by_the_parent_while_the_child_waits()
    {
        var command = new Command("/bin/sh").WithIsolation(new Forklift.Isolation.Isolation
        {
            NewNamespaces = Namespaces.User,
            UserMapping = UserNamespaceMapping.Explicit([new IdMapRange(0, 100000, 65536)], [new IdMapRange(0, 100000, 65536)], SetgroupsPolicy.Allow),
        });
        var result = await Sh(command, "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups");
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToArray();
        Assert.Equal(["0 100000 65536", "0 100000 65536", "allow"], lines);
    }

    [KernelFact]
    public async Task With_a_pid_namespace_the_program_runs_under_forklift_init_as_pid_2()
    {
        var command = new Command("/bin/sh").WithIsolation(new Forklift.Isolation.Isolation
        {
            NewNamespaces = Namespaces.Pid | Namespaces.Mount,
            Mounts = [new MountOperation.Proc()],
        });
        var result = await Sh(command, "echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'");
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("2", lines[0]);
        Assert.Contains("forklift-init 2", lines[1]);
    }

    [KernelFact]
    public async Task With_ProgramIsPid1_the_program_is_pid_1()
    {
        var command = new Command("/bin/sh").WithIsolation(new Forklift.Isolation.Isolation
        {
            NewNamespaces = Namespaces.Pid | Namespaces.Mount,
            ProgramIsPid1 = true, // and /proc is remounted without asking
        });
        var result = await Sh(command, "echo $$; ls /proc | grep '^[0-9]' | sort -n | head -1");
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        Assert.Equal("1\n1\n", result.StandardOutput);
    }

    [KernelFact]
    public async Task The_init_exits_with_the_program_code_and_128_plus_the_signal()
    {
        var iso = new Forklift.Isolation.Isolation { NewNamespaces = Namespaces.Pid };
        var code = await Sh(new Command("/bin/sh").WithIsolation(iso), "exit 7");
        Assert.Equal(7, code.ExitStatus.ExitCode);
        var killed = await Sh(new Command("/bin/sh").WithIsolation(iso), "kill -TERM $$; sleep 5");
        Assert.Equal(128 + 15, killed.ExitStatus.ExitCode);
    }

    [KernelFact]
    public async Task Hostname_loopback_and_time_offsets()
    {
        var command = new Command("/bin/sh").WithIsolation(new Forklift.Isolation.Isolation
        {
            NewNamespaces = Namespaces.User | Namespaces.Uts | Namespaces.Net | Namespaces.Time,
            UserMapping = UserNamespaceMapping.RootToCaller(0, 0),
            Hostname = "forklift-box",
            DomainName = "example.test",
            TimeOffsets = new TimeOffsets(TimeSpan.FromDays(1000), TimeSpan.FromDays(2000)),
        });
        var result = await Sh(command, "hostname; cat /proc/sys/kernel/domainname; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags; cat /proc/uptime; cat /proc/self/timens_offsets");
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("forklift-box", lines[0]);
        Assert.Equal("example.test", lines[1]);
        Assert.True((Convert.ToInt32(lines[3], 16) & 1) == 1, $"lo flags {lines[3]}");
        double uptime = double.Parse(lines[4].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(uptime > 2000 * 86400, $"boottime offset applied: uptime {uptime}");
    }
}

/// <summary>Mount operations, joins by fd, and capabilities kept across a uid change, on the real kernel.</summary>
public sealed class IsolationOperationSpecs
{
    [KernelFact]
    public async Task Remount_read_only_and_mkdir_inside_a_tmpfs()
    {
        var command = new Command("/bin/sh").WithArguments("-c",
            "test -d /tmp/made/deep && echo made; if touch /tmp/ro/x 2>/dev/null; then echo ro=no; else echo ro=yes; fi; touch /tmp/made/deep/f && echo rw")
            .WithIsolation(new Forklift.Isolation.Isolation
            {
                NewNamespaces = Namespaces.User | Namespaces.Mount,
                UserMapping = UserNamespaceMapping.RootToCaller(0, 0),
                Mounts =
                [
                    new MountOperation.Tmpfs("/tmp", 1 << 20),
                    new MountOperation.MakeDirectory("/tmp/made/deep"),
                    new MountOperation.Tmpfs("/tmp/ro"),
                    new MountOperation.RemountReadOnly("/tmp/ro"),
                ],
            });
        var result = await command.ExecuteBufferedAsync();
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        Assert.Equal("made\nro=yes\nrw\n", result.StandardOutput);
    }

    [KernelFact]
    public async Task Join_by_an_open_namespace_fd()
    {
        using var holder = Forklift.Processes.ProcessLauncher.Default.Start(new Command("/bin/sleep").WithArguments("30")
            .WithIsolation(new Forklift.Isolation.Isolation { NewNamespaces = Namespaces.Uts, Hostname = "by-fd" }));
        try
        {
            using var ns = File.OpenHandle($"/proc/{holder.Pid}/ns/uts");
            var result = await new Command("/bin/hostname")
                .WithIsolation(new Forklift.Isolation.Isolation { Joins = [NamespaceJoin.FromHandle(Namespaces.Uts, ns)] })
                .ExecuteBufferedAsync();
            Assert.True(result.ExitStatus.Succeeded, result.StandardError);
            Assert.Equal("by-fd\n", result.StandardOutput);
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync();
        }
    }

    [KernelFact]
    public async Task A_kept_capability_survives_a_uid_change_through_the_ambient_set()
    {
        Assert.True(Forklift.Rules.Capabilities.TryParse("CAP_NET_BIND_SERVICE", out ulong keep, out _));
        var result = await new Command("/bin/sh").WithArguments("-c", "id -u; grep -E 'CapEff|CapAmb|CapBnd' /proc/self/status | cut -f2")
            .WithUser(65534).WithGroup(65534).WithSupplementaryGroups()
            .WithIsolation(new Forklift.Isolation.Isolation { Capabilities = CapabilityPolicy.KeepOnly(keep) })
            .ExecuteBufferedAsync();
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("65534", lines[0]);
        foreach (var set in lines.Skip(1))
            Assert.Equal(keep.ToString("x16"), set);
    }
}

/// <summary>forklift-init is reached even when the child's mounts cover the directory it lives in.</summary>
public sealed class InitUnderMountsSpecs
{
    [KernelFact]
    public async Task A_tmpfs_over_the_application_directory_does_not_hide_the_init()
    {
        string appDir = AppContext.BaseDirectory.TrimEnd('/');
        var result = await new Command("/bin/sh").WithArguments("-c", "echo $$; ls -A " + appDir + " | wc -l")
            .WithIsolation(new Forklift.Isolation.Isolation
            {
                NewNamespaces = Namespaces.User | Namespaces.Pid | Namespaces.Mount,
                UserMapping = UserNamespaceMapping.RootToCaller(0, 0),
                Mounts = [new MountOperation.Tmpfs(appDir)],
            })
            .ExecuteBufferedAsync();
        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        Assert.Equal("2\n0\n", result.StandardOutput);
    }
}
