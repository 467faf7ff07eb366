using System.Text;
using Forklift.Processes;
using Forklift.Spawning;

namespace Forklift.Tests.Spawning;

/// <summary>The repo's dummy child program (tests/testee/testee.c), copied next to the test assembly by the build.</summary>
internal static class Testee
{
    public static readonly string Path = System.IO.Path.Combine(AppContext.BaseDirectory, "forklift-testee");

    /// <summary>A command running the testee in <paramref name="mode"/>.</summary>
    public static Command Run(params string[] mode) => new Command(Path).WithArguments(mode);

    /// <summary>Runs it, captures both streams, and returns standard output (asserting exit 0).</summary>
    public static async Task<string> OutputOf(Command command)
    {
        var result = await command.ExecuteBufferedAsync();
        Assert.True(result.ExitStatus.Succeeded, $"{command}: {result.ExitStatus}; stderr: {result.StandardError}");
        return result.StandardOutput.TrimEnd('\n');
    }
}

/// <summary>
/// Snapshots the test host's children and its pipe and pidfd fds, and at the end checks (waiting a little for the
/// reactor to reap) that no child and no such fd is left over. Spawn tests run in a non-parallel collection, so
/// nothing else changes these meanwhile.
/// </summary>
internal sealed class SpawnGuard : IAsyncDisposable
{
    private static readonly Lazy<bool> s_warm = new(() =>
    {
        // First use: the reactor's epoll fd and thread, the library load, the caller context.
        Testee.Run("exit", "0").ExecuteAsync().GetAwaiter().GetResult();
        return true;
    });

    private readonly HashSet<int> _children;
    private readonly Dictionary<int, string> _fds;

    private SpawnGuard()
    {
        _children = Host.Children();
        _fds = Host.WatchedFds();
    }

    public static SpawnGuard Start()
    {
        _ = s_warm.Value;
        return new SpawnGuard();
    }

    public async ValueTask DisposeAsync()
    {
        HashSet<int> extraChildren = [];
        List<string> extraFds = [];
        for (int i = 0; i < 100; i++)
        {
            extraChildren = Host.Children();
            extraChildren.ExceptWith(_children);
            extraFds = Host.WatchedFds().Where(kv => !_fds.ContainsKey(kv.Key)).Select(kv => $"{kv.Key} -> {kv.Value}").ToList();
            if (extraChildren.Count == 0 && extraFds.Count == 0)
                return;
            await Task.Delay(50);
        }
        Assert.Fail($"left over: children [{string.Join(", ", extraChildren.Select(Host.Describe))}], fds [{string.Join(", ", extraFds)}]");
    }
}

/// <summary>The test host as /proc shows it.</summary>
internal static class Host
{
    /// <summary>Every child of every thread of this process (zombies included).</summary>
    public static HashSet<int> Children()
    {
        var children = new HashSet<int>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                foreach (var pid in File.ReadAllText(System.IO.Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    children.Add(int.Parse(pid));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the thread ended meanwhile
            }
        }
        return children;
    }

    /// <summary>The fds Forklift creates in the parent: pipe ends and pidfds (by number, with their link text).</summary>
    public static Dictionary<int, string> WatchedFds()
    {
        var result = new Dictionary<int, string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                var target = new FileInfo(entry).LinkTarget ?? "";
                if (target.StartsWith("pipe:", StringComparison.Ordinal) || target.Contains("pidfd", StringComparison.Ordinal))
                    result[int.Parse(System.IO.Path.GetFileName(entry))] = target;
            }
            catch (IOException)
            {
                // closed meanwhile (the enumeration's own fd, among others)
            }
        }
        return result;
    }

    /// <summary>Every open fd of this process.</summary>
    public static int FdCount() => Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();

    /// <summary>pid (state comm) for messages.</summary>
    public static string Describe(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return $"{pid} {stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0]} {stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')]}";
        }
        catch (IOException)
        {
            return pid.ToString();
        }
    }

    /// <summary>True while /proc/PID exists (a zombie included).</summary>
    public static bool Exists(int pid) => Directory.Exists($"/proc/{pid}");
}

/// <summary>Byte patterns the testee writes.</summary>
internal static class Pattern
{
    public static byte[] Make(char first, int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
            bytes[i] = (byte)(first + i % 26);
        return bytes;
    }

    /// <summary>True when every byte i of <paramref name="data"/> is first + i % 26.</summary>
    public static bool Matches(byte[] data, char first)
    {
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] != (byte)(first + i % 26))
                return false;
        }
        return true;
    }

    public static string Text(char first, int length) => Encoding.ASCII.GetString(Make(first, length));
}

/// <summary>Waits for a condition, for tests of asynchronous effects.</summary>
internal static class Eventually
{
    public static async Task<bool> True(Func<bool> condition, int timeoutMs = 5000)
    {
        for (int waited = 0; waited < timeoutMs; waited += 20)
        {
            if (condition())
                return true;
            await Task.Delay(20);
        }
        return condition();
    }
}
