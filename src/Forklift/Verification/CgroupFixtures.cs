using System.Globalization;
using Forklift.Rules;

namespace Forklift.Verification;

/// <summary>
/// Real cgroups of every <see cref="CgroupKind"/> for verification, made under one uniquely named directory of
/// the cgroup2 hierarchy and removed on <see cref="Dispose"/> (even after a failure part-way). The only change
/// outside that directory: <see cref="CgroupKind.Busy"/> needs a domain controller that the root's
/// <c>cgroup.subtree_control</c> may not enable yet; it is enabled there and disabled again on dispose when
/// this object enabled it and nothing else uses it.
/// </summary>
public sealed class CgroupFixtures : IDisposable
{
    private readonly string _mount;
    private readonly string _top;
    private readonly List<string> _created = [];
    private string? _enabledAtRoot;
    private int _removedCounter;

    /// <summary>Creates the top directory; throws <see cref="InvalidOperationException"/> without a writable cgroup2 mount.</summary>
    public CgroupFixtures()
    {
        _mount = CgroupInspector.UnifiedMountPoint() ?? throw new InvalidOperationException("no cgroup2 hierarchy is mounted");
        string name = string.Create(CultureInfo.InvariantCulture, $"forklift-verify-{Environment.ProcessId}-{Guid.NewGuid():N}");
        _top = Path.Combine(_mount, name[..Math.Min(name.Length, 48)]);
        Make(_top);
    }

    /// <summary>The cgroup2 mount point.</summary>
    public string MountPoint => _mount;

    /// <summary>The unique directory everything lives in.</summary>
    public string Top => _top;

    /// <summary>A fresh, empty domain cgroup.</summary>
    public string Valid => _valid ??= Make(Path.Combine(_top, "valid"));
    private string? _valid;

    /// <summary>A threaded cgroup (its parent becomes a threaded root).</summary>
    public string Threaded
    {
        get
        {
            if (_threaded is null)
            {
                string root = Make(Path.Combine(_top, "troot"));
                string t = Make(Path.Combine(root, "threaded"));
                File.WriteAllText(Path.Combine(t, "cgroup.type"), "threaded");
                _threaded = t;
            }
            return _threaded;
        }
    }
    private string? _threaded;

    /// <summary>A "domain invalid" cgroup: a domain sibling of a threaded cgroup.</summary>
    public string DomainInvalid => _domainInvalid ??= MakeDomainInvalid();
    private string? _domainInvalid;

    private string MakeDomainInvalid()
    {
        _ = Threaded;
        string d = Make(Path.Combine(_top, "troot", "invalid"));
        string type = File.ReadAllText(Path.Combine(d, "cgroup.type")).Trim();
        if (type != "domain invalid")
        {
            throw new InvalidOperationException($"expected '{d}' to be 'domain invalid', the kernel says '{type}'");
        }
        return d;
    }

    /// <summary>
    /// A busy cgroup: a domain with a domain controller enabled in its <c>cgroup.subtree_control</c>; null when
    /// the hierarchy offers no domain controller.
    /// </summary>
    public string? Busy => _busyTried ? _busy : (_busy = MakeBusy());
    private string? _busy;
    private bool _busyTried;

    private string? MakeBusy()
    {
        _busyTried = true;
        var available = File.ReadAllText(Path.Combine(_mount, "cgroup.controllers")).Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries);
        string? controller = available.FirstOrDefault(c => !CgroupInspector.ThreadedControllers.Contains(c));
        if (controller is null)
        {
            return null;
        }
        var rootEnabled = File.ReadAllText(Path.Combine(_mount, "cgroup.subtree_control")).Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries);
        if (!rootEnabled.Contains(controller))
        {
            File.WriteAllText(Path.Combine(_mount, "cgroup.subtree_control"), "+" + controller);
            _enabledAtRoot = controller;
        }
        File.WriteAllText(Path.Combine(_top, "cgroup.subtree_control"), "+" + controller);
        string busy = Make(Path.Combine(_top, "busy"));
        File.WriteAllText(Path.Combine(busy, "cgroup.subtree_control"), "+" + controller);
        return busy;
    }

    /// <summary>A new directory for one "removed" request: the probe opens it, then removes it.</summary>
    public string NextRemoved() =>
        Make(Path.Combine(_top, "removed-" + Interlocked.Increment(ref _removedCounter).ToString(CultureInfo.InvariantCulture)));

    /// <summary>A cgroup v1 directory, or null on a machine without one.</summary>
    public static string? V1Directory()
    {
        foreach (var candidate in new[] { "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/systemd" })
        {
            if (File.Exists(Path.Combine(candidate, "cgroup.procs")) && !File.Exists(Path.Combine(candidate, "cgroup.controllers")))
            {
                return candidate;
            }
        }
        return null;
    }

    private string Make(string path)
    {
        Directory.CreateDirectory(path);
        lock (_created)
        {
            _created.Add(path);
        }
        return path;
    }

    /// <summary>Removes every cgroup made here, deepest first, and undoes the root controller change.</summary>
    public void Dispose()
    {
        List<string> dirs;
        lock (_created)
        {
            dirs = [.. _created];
            _created.Clear();
        }
        // Controllers must be disabled below before the directories go (rmdir does not care, but the root change does).
        foreach (var d in dirs.OrderByDescending(d => d.Length))
        {
            TryDisable(d);
        }
        foreach (var d in dirs.OrderByDescending(d => d.Count(ch => ch == '/')))
        {
            try
            {
                if (Directory.Exists(d))
                {
                    Directory.Delete(d);
                }
            }
            catch (IOException)
            {
                // A cgroup with a live process cannot be removed; the probe reaps everything before this runs.
            }
        }
        if (_enabledAtRoot is not null)
        {
            try
            {
                File.WriteAllText(Path.Combine(_mount, "cgroup.subtree_control"), "-" + _enabledAtRoot);
            }
            catch (IOException)
            {
                // EBUSY: another user enabled it below the root meanwhile; leave it on for them.
            }
            _enabledAtRoot = null;
        }
    }

    private static void TryDisable(string dir)
    {
        try
        {
            string file = Path.Combine(dir, "cgroup.subtree_control");
            if (!File.Exists(file))
            {
                return;
            }
            foreach (var c in File.ReadAllText(file).Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries))
            {
                File.WriteAllText(file, "-" + c);
            }
        }
        catch (IOException)
        {
        }
    }
}
