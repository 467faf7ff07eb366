using System.Diagnostics;
using Xunit;

namespace Forklift.Tests.Native;

/// <summary>
/// The native stage calls only what native/allowed-symbols.txt allows (each entry justified there as
/// async-signal-safe), and exports only the fl_ ABI.
/// </summary>
public sealed class NativeSymbolsSpecs
{
    private static readonly string Library = Path.Combine(AppContext.BaseDirectory, "libforklift_native.so");

    [NmFact]
    public void The_native_library_imports_only_allowed_symbols()
    {
        var allowed = File.ReadAllLines(FindAllowList())
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .ToHashSet(StringComparer.Ordinal);

        var imported = Nm("--undefined-only");

        var forbidden = imported.Where(symbol => !allowed.Contains(symbol)).ToList();
        Assert.True(forbidden.Count == 0,
            $"{Library} imports symbols not in native/allowed-symbols.txt: {string.Join(", ", forbidden)}. " +
            "Code after fork must be async-signal-safe: use a raw syscall (native/src/fl_sys.h), or justify " +
            "the symbol in the allow-list.");
    }

    [NmFact]
    public void The_native_library_exports_only_the_fl_abi()
    {
        var exported = Nm("--defined-only");

        Assert.Contains("fl_probe_run", exported);
        Assert.All(exported, symbol => Assert.StartsWith("fl_", symbol));
    }

    /// <summary>Symbol names from <c>nm -D</c> (the last column), without the @VERSION suffix.</summary>
    private static List<string> Nm(string filter)
    {
        Assert.True(File.Exists(Library), $"{Library} was not built next to the tests");
        var start = new ProcessStartInfo("nm", ["-D", filter, Library])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var nm = Process.Start(start)!;
        var stdout = nm.StandardOutput.ReadToEndAsync();
        var stderr = nm.StandardError.ReadToEndAsync();
        Assert.True(nm.WaitForExit(TimeSpan.FromSeconds(30)), "nm did not finish within 30 s");
        Assert.True(nm.ExitCode == 0, $"nm failed ({nm.ExitCode}): {stderr.Result}");
        return stdout.Result
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1])
            .Select(symbol => symbol.Split('@')[0])
            .ToList();
    }

    private static string FindAllowList()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory != null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "native", "allowed-symbols.txt");
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException($"native/allowed-symbols.txt not found above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fact that needs binutils' <c>nm</c> on PATH; skipped with the reason otherwise.</summary>
public sealed class NmFactAttribute : FactAttribute
{
    public NmFactAttribute()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        if (!path.Split(':', StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, "nm"))))
            Skip = "nm (binutils) is not on PATH: cannot list the native library's symbols. Install binutils.";
    }
}
