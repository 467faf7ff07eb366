using System.Runtime.InteropServices;
using Forklift.Rules;

namespace Forklift.Isolation;

/// <summary>Facts about this process and machine that isolation plans need, read when first asked for.</summary>
internal static partial class HostFacts
{
    private static readonly Lazy<string> s_initPath = new(FindInit);
    private static readonly Lazy<int> s_lastCap = new(ReadLastCap);

    /// <summary>The file name of the init program the build puts next to the native library.</summary>
    public const string InitFileName = "forklift-init";

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "getegid")]
    private static partial uint GetEgid();

    /// <summary>geteuid(2).</summary>
    public static uint EffectiveUserId() => GetEuid();

    /// <summary>getegid(2).</summary>
    public static uint EffectiveGroupId() => GetEgid();

    /// <summary>Path of forklift-init: beside the application, else beside the Forklift assembly.</summary>
    public static string InitPath => s_initPath.Value;

    /// <summary>/proc/sys/kernel/cap_last_cap, or <see cref="Capabilities.Last"/> when it cannot be read.</summary>
    public static int LastCapability => s_lastCap.Value;

    /// <summary>Directory.Exists, as one shared delegate.</summary>
    public static readonly Func<string, bool> IsDirectory = Directory.Exists;

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("SingleFile", "IL3000",
        Justification = "Assembly.Location is empty in single-file apps; AppContext.BaseDirectory is tried first.")]
    private static string FindInit()
    {
        var candidates = new List<string> { Path.Combine(AppContext.BaseDirectory, InitFileName) };
        var location = typeof(HostFacts).Assembly.Location;
        if (!string.IsNullOrEmpty(location) && Path.GetDirectoryName(location) is { Length: > 0 } dir)
            candidates.Add(Path.Combine(dir, InitFileName));
        foreach (var c in candidates)
            if (File.Exists(c))
                return c;
        return candidates[0]; // the exec then fails with ENOENT at the Init step, naming this path
    }

    private static int ReadLastCap() =>
        int.TryParse(KernelFiles.ReadOr("/proc/sys/kernel/cap_last_cap").Trim(), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out int v) && v < 64 ? v : Capabilities.Last;
}
