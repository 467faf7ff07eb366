using System.Diagnostics;
using Forklift.Interop;
using Xunit;
using Xunit.Abstractions;
using static Forklift.Tests.Interop.K;

namespace Forklift.Tests.Interop;

/// <summary>Runs alone: it counts the test host's children and fds, which any parallel test would disturb.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HostResourceCollection
{
    public const string Name = "Host resources (not parallel)";
}

/// <summary>The probe leaves no process, zombie or fd behind in the test host, whatever the call did.</summary>
[Collection(HostResourceCollection.Name)]
public sealed unsafe class ProbeLeakSpecs(ITestOutputHelper output)
{
    [RootFact]
    public void Probe_leaves_no_child_and_no_fd_behind_after_200_probes()
    {
        var mix = Mix();
        NativeProbe.Run(mix); // warm-up: library load, first-use allocations of the runtime
        var childrenBefore = HostChildren();
        var fdsBefore = HostFds();

        var stopwatch = Stopwatch.StartNew();
        var results = new List<ProbeResult>();
        for (var i = 0; i < 150; i += mix.Length) // batches: one keeper each
            results.AddRange(NativeProbe.Run(mix));
        for (var i = 0; results.Count < 200; i++) // single requests: one keeper each
            results.Add(NativeProbe.Run(in mix[i % mix.Length]));
        stopwatch.Stop();

        Assert.Equal(200, results.Count);
        Assert.DoesNotContain(results, r => r.Outcome == ProbeOutcome.ProbeFailed);
        // Other tests' background work (a detached child being reaped, its pidfd closed) may only shrink these
        // sets while this runs; anything the probes added would show up as a new child or a new fd.
        Assert.Empty(HostChildren().Except(childrenBefore));
        Assert.Empty(HostFds().Except(fdsBefore));
        output.WriteLine($"200 mixed probes (namespaces, threads, CLONE_PARENT, SIGKILL/SIGSTOP exit signals) " +
                         $"in {stopwatch.Elapsed.TotalMilliseconds:F0} ms");
    }

    [RootFact]
    public void Probe_throughput_is_measured()
    {
        var plain = Enumerable.Repeat(Probe.Clone3(0), 200).ToArray();
        NativeProbe.Run(plain.AsSpan(0, 5));

        var batch = Stopwatch.StartNew();
        var results = NativeProbe.Run(plain);
        batch.Stop();
        var single = Stopwatch.StartNew();
        for (var i = 0; i < 50; i++)
            NativeProbe.Run(in plain[i]);
        single.Stop();

        Assert.All(results, Probe.Succeeded);
        output.WriteLine($"plain clone3 probes: {200 / batch.Elapsed.TotalSeconds:F0}/s in one batch, " +
                         $"{50 / single.Elapsed.TotalSeconds:F0}/s one per fl_probe_run");
    }

    private static ProbeRequest[] Mix()
    {
        var pidfd = Probe.Clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD);
        pidfd.PidfdKind = ProbePointerKind.Valid;
        var legacyPidfd = Probe.LegacyClone(CLONE_PIDFD | SIGCHLD);
        legacyPidfd.ParentTidKind = ProbePointerKind.Valid;
        var nestedParent = Probe.Clone3(CLONE_PARENT, exitSignal: 0);
        nestedParent.Context.PidNsNesting = 2; // the CLONE_PARENT child belongs to an intermediate init
        var newUser = Probe.Clone3(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWUTS);
        newUser.Context.UserNsMode = ProbeUserNsMode.Mapped;
        var unsharedPid = Probe.Fork();
        unsharedPid.Context.UnsharePid = 1; // the child is init of a new namespace
        var asInit = Probe.Clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD);
        asInit.PidfdKind = ProbePointerKind.Valid;
        asInit.Context.AsInit = 1;
        var setupFails = Probe.Fork();
        setupFails.Context.SetChrootPath("/nonexistent-forklift-probe");
        return
        [
            Probe.Clone3(0, size: 64),
            Probe.Clone3(CLONE_SIGHAND), // EINVAL
            pidfd,
            legacyPidfd,
            Probe.Clone3(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, exitSignal: 0),
            Probe.Clone3(CLONE_PARENT, exitSignal: 0),
            nestedParent,
            Probe.Clone3(CLONE_VM | CLONE_VFORK, exitSignal: SIGKILL),
            Probe.Clone3(0, exitSignal: SIGKILL),
            Probe.Clone3(0, exitSignal: SIGSTOP),
            Probe.LegacyClone(65),
            Probe.Fork(),
            ProbeRequest.Create(ProbeCall.Vfork),
            newUser,
            unsharedPid,
            asInit,
            setupFails,
        ];
    }

    /// <summary>Every child of every thread of the test host (zombies included).</summary>
    private static HashSet<int> HostChildren()
    {
        var children = new HashSet<int>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                foreach (var pid in File.ReadAllText(Path.Combine(task, "children"))
                             .Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    children.Add(int.Parse(pid));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the thread ended meanwhile
            }
        }
        return children;
    }

    // Each open fd as "number -> target", so a closed fd reopened as something else still counts as new. Not the
    // assemblies: the runtime keeps an fd open on every assembly it loads, and tests of other collections running
    // meanwhile load them when they first need them.
    private static HashSet<string> HostFds()
    {
        var fds = new HashSet<string>();
        foreach (var entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                string? target = new FileInfo(entry).LinkTarget;
                if (target is not null && !target.EndsWith("/fd", StringComparison.Ordinal) && !target.EndsWith(".dll", StringComparison.Ordinal))
                {
                    fds.Add(Path.GetFileName(entry) + " -> " + target);
                }
            }
            catch (IOException)
            {
                // closed while listing: the directory's own fd, or another thread's
            }
        }
        return fds;
    }
}
