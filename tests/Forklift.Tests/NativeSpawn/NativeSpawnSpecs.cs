using System.Diagnostics;
using System.Xml.Linq;
using Forklift.Tests.Interop;
using Xunit;
using Xunit.Abstractions;

namespace Forklift.Tests.NativeSpawn;

/// <summary>
/// The spawn stage (native/src/spawn*.c) on the real kernel, driven from C: native/tests/spawn_test.c is compiled
/// against the built library and run with the repo's dummy child program. It checks both paths (fast and full,
/// clone3 and legacy clone), every step op, exec errors, sync/release, the pidfd calls, the clone3 fallback under
/// seccomp, and that 1000 spawns leave no fd and no child behind.
/// </summary>
/// <remarks>In the host-resource collection: the probe's leak test counts the host's children, and ours would
/// be among them.</remarks>
[Collection(HostResourceCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class NativeSpawnSpecs(ITestOutputHelper output)
{
    private static readonly string Root = FindRoot();
    private static readonly string Library = Path.Combine(Root, "artifacts", "native", "libforklift_native.so");
    private static readonly string Testee = Path.Combine(AppContext.BaseDirectory, "forklift-testee");

    [GccFact]
    public void The_C_spawn_tests_pass_against_the_built_library()
    {
        Assert.True(File.Exists(Library), $"{Library} was not built (dotnet build builds it)");
        Assert.True(File.Exists(Testee), $"{Testee} was not copied next to the tests");
        var work = Directory.CreateTempSubdirectory("forklift-spawn-test-");
        try
        {
            var program = Path.Combine(work.FullName, "spawn_test");
            var libraryDir = Path.GetDirectoryName(Library)!;
            Run("gcc", ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
                "-I", Path.Combine(Root, "native", "include"), Path.Combine(Root, "native", "tests", "spawn_test.c"),
                "-L", libraryDir, "-lforklift_native", $"-Wl,-rpath,{libraryDir}", "-lpthread", "-o", program],
                TimeSpan.FromMinutes(2), "compiling native/tests/spawn_test.c");

            var (exitCode, text) = Run(program, [Testee], TimeSpan.FromMinutes(3), "spawn_test", check: false);
            Assert.True(exitCode == 0, $"spawn_test failed (exit {exitCode}):\n{text}");
            Assert.Contains("spawn_test: ok:", text);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The child side runs after the clone (on the fast path in the host's own memory): it may call nothing but
    /// raw system calls. Compiled alone with the library's flags, its object must reference no symbol at all
    /// (a memset or memcpy the optimizer invented, a stack-protector or TLS helper would show up here).
    /// </summary>
    [GccFact]
    public void The_child_side_references_no_outside_symbol()
    {
        var work = Directory.CreateTempSubdirectory("forklift-spawn-child-");
        try
        {
            var obj = Path.Combine(work.FullName, "spawn_child.o");
            var flags = LibraryCFlags().Where(flag => flag != "-shared");
            Run("gcc", [.. flags, "-I", Path.Combine(Root, "native", "include"), "-c",
                Path.Combine(Root, "native", "src", "spawn_child.c"), "-o", obj],
                TimeSpan.FromMinutes(1), "compiling native/src/spawn_child.c");
            var (_, undefined) = Run("nm", ["--undefined-only", obj], TimeSpan.FromSeconds(30), "nm");
            Assert.True(undefined.Trim().Length == 0,
                $"native/src/spawn_child.c references outside symbols (child code must use raw syscalls only):\n{undefined}");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [GccFact]
    public void The_library_exports_the_spawn_abi()
    {
        var (_, text) = Run("nm", ["-D", "--defined-only", Library], TimeSpan.FromSeconds(30), "nm");
        var exported = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1].Split('@')[0])
            .ToHashSet(StringComparer.Ordinal);
        string[] abi = ["fl_spawn", "fl_spawn_release", "fl_pidfd_wait", "fl_pidfd_exit_info", "fl_pidfd_send_signal",
            "fl_sizeof_spawn_plan", "fl_sizeof_spawn_step", "fl_sizeof_spawn_result"];
        Assert.All(abi, symbol => Assert.Contains(symbol, exported));
    }

    [Fact]
    public void The_testee_is_next_to_the_tests_and_executable()
    {
        Assert.True(File.Exists(Testee), $"{Testee} is missing: the native targets build it");
        var mode = File.GetUnixFileMode(Testee);
        Assert.True(mode.HasFlag(UnixFileMode.UserExecute), $"{Testee} is not executable ({mode})");
        var (exitCode, text) = Run(Testee, ["argv", "a b"], TimeSpan.FromSeconds(30), "forklift-testee", check: false);
        Assert.Equal(0, exitCode);
        Assert.Equal($"{Testee}\nargv\na b\n", text);
    }

    /// <summary>The library's C flags, as native/Forklift.Native.targets gives them to gcc.</summary>
    private static string[] LibraryCFlags()
    {
        var targets = XDocument.Load(Path.Combine(Root, "native", "Forklift.Native.targets"));
        var flags = targets.Descendants("ForkliftCFlags").Single().Value;
        return flags.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    private (int ExitCode, string Output) Run(string file, string[] args, TimeSpan timeout, string what,
        bool check = true)
    {
        var start = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"{what} did not finish within {timeout}:\n{stdout.Result}{stderr.Result}");
        }
        process.WaitForExit();
        var text = stdout.Result + stderr.Result;
        output.WriteLine($"$ {file} {string.Join(' ', args)}  (exit {process.ExitCode})");
        output.WriteLine(text);
        if (check)
            Assert.True(process.ExitCode == 0, $"{what} failed (exit {process.ExitCode}):\n{text}");
        return (process.ExitCode, text);
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory != null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "native", "allowed-symbols.txt")))
                return directory.FullName;
        }
        throw new DirectoryNotFoundException($"the repository root (native/allowed-symbols.txt) is not above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fact that needs gcc and nm on PATH (the C test is compiled on the spot); skipped with the reason otherwise.</summary>
public sealed class GccFactAttribute : FactAttribute
{
    public GccFactAttribute()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        var dirs = path.Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (var tool in new[] { "gcc", "nm" })
        {
            if (!dirs.Any(d => File.Exists(Path.Combine(d, tool))))
            {
                Skip = $"{tool} is not on PATH: the native spawn tests are compiled with gcc and checked with nm. " +
                       "Install gcc and binutils.";
                return;
            }
        }
    }
}
