using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// The native clone probe (native/include/forklift_native.h): makes raw clone3/clone/fork/vfork calls,
/// each from a fresh throwaway process in a requested caller context, and reports the kernel's answer.
/// Used to prove the clone model against the live kernel. Every forked process runs C only.
/// </summary>
internal static unsafe partial class NativeProbe
{
    /// <summary>The ABI version these mirrors were written for (<c>FL_ABI_VERSION</c>).</summary>
    internal const int ExpectedAbiVersion = 1;

    static NativeProbe() => NativeLibraryResolver.EnsureRegistered();

    /// <summary>
    /// Runs every request, in order, each in a fresh caller; blocks until all are done and everything they
    /// created has been reaped.
    /// </summary>
    /// <exception cref="Win32Exception">The results area or the keeper process could not be created.</exception>
    internal static ProbeResult[] Run(ReadOnlySpan<ProbeRequest> requests)
    {
        if (requests.IsEmpty)
            return [];
        var results = new ProbeResult[requests.Length];
        int rc;
        fixed (ProbeRequest* requestPointer = requests)
        fixed (ProbeResult* resultPointer = results)
            rc = ProbeRunNative(requestPointer, resultPointer, requests.Length);
        if (rc < 0)
            throw new Win32Exception(-rc, $"fl_probe_run failed: {Marshal.GetPInvokeErrorMessage(-rc)} (errno {-rc}).");
        return results;
    }

    /// <summary>Runs one request (see <see cref="Run(ReadOnlySpan{ProbeRequest})"/>).</summary>
    internal static ProbeResult Run(in ProbeRequest request) => Run(new ReadOnlySpan<ProbeRequest>(in request))[0];

    /// <summary><c>fl_abi_version()</c>.</summary>
    internal static int AbiVersion() => AbiVersionNative();

    /// <summary><c>sizeof(fl_probe_request)</c> in the native build.</summary>
    internal static int SizeOfProbeRequest() => SizeOfProbeRequestNative();

    /// <summary><c>sizeof(fl_probe_result)</c> in the native build.</summary>
    internal static int SizeOfProbeResult() => SizeOfProbeResultNative();

    /// <summary><c>sizeof(fl_context)</c> in the native build.</summary>
    internal static int SizeOfContext() => SizeOfContextNative();

    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_probe_run")]
    private static partial int ProbeRunNative(ProbeRequest* requests, ProbeResult* results, int count);

    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_abi_version")]
    private static partial int AbiVersionNative();

    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_sizeof_probe_request")]
    private static partial int SizeOfProbeRequestNative();

    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_sizeof_probe_result")]
    private static partial int SizeOfProbeResultNative();

    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_sizeof_context")]
    private static partial int SizeOfContextNative();
}
