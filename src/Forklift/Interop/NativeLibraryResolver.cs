using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// Resolves <c>forklift_native</c> to the <c>libforklift_native.so</c> that the build copies next to the
/// assembly (native/Forklift.Native.targets), whatever the process's current directory or
/// <c>LD_LIBRARY_PATH</c>. The only DllImport resolver of the Forklift assembly (the runtime allows one per
/// assembly): every native library of Forklift is resolved here.
/// </summary>
internal static class NativeLibraryResolver
{
    /// <summary>The library name every <c>[LibraryImport]</c> of Forklift uses.</summary>
    internal const string LibraryName = "forklift_native";

    private const string FileName = "libforklift_native.so";
    private static int s_registered;

    /// <summary>Registers the resolver once; called from the static constructor of each interop class.</summary>
    internal static void EnsureRegistered()
    {
        if (Interlocked.Exchange(ref s_registered, 1) == 0)
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != LibraryName)
            return IntPtr.Zero;
        foreach (var directory in CandidateDirectories(assembly))
        {
            if (NativeLibrary.TryLoad(Path.Combine(directory, FileName), out var handle))
                return handle;
        }
        return IntPtr.Zero; // default probing, which throws DllNotFoundException naming what it tried
    }

    [UnconditionalSuppressMessage("SingleFile", "IL3000",
        Justification = "Assembly.Location is empty in single-file apps; AppContext.BaseDirectory is tried first.")]
    private static IEnumerable<string> CandidateDirectories(Assembly assembly)
    {
        yield return AppContext.BaseDirectory;
        var location = assembly.Location;
        if (!string.IsNullOrEmpty(location) && Path.GetDirectoryName(location) is { Length: > 0 } directory)
            yield return directory;
    }
}
