using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// The native spawn stage (native/include/forklift_spawn.h). Every function returns as the C does: 0/1 or
/// -errno; the layer above (<see cref="LinuxSystemCalls"/>, then the spawner) turns that into exceptions.
/// </summary>
internal static unsafe partial class SpawnNative
{
    static SpawnNative() => NativeLibraryResolver.EnsureRegistered();

    /// <summary><c>fl_spawn</c>: 0 when the child exec'd (or waits, with FL_PLAN_SYNC), -1 with the result filled.</summary>
    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_spawn")]
    internal static partial int Spawn(FlSpawnPlan* plan, FlSpawnResult* result);

    /// <summary><c>fl_spawn_release</c>: lets a waiting child go on (go = 1) or give up (go = 0).</summary>
    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_spawn_release")]
    internal static partial int SpawnRelease(FlSpawnResult* result, FlSpawnPlan* plan, int go);

    /// <summary><c>fl_pidfd_wait</c>: 1 status collected, 0 still running (WNOHANG), -errno.</summary>
    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_pidfd_wait")]
    internal static partial int PidfdWait(int pidfd, int options, int* status, long* rusage);

    /// <summary><c>fl_pidfd_exit_info</c>: 1 status read back, 0 no exit information, -errno.</summary>
    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_pidfd_exit_info")]
    internal static partial int PidfdExitInfo(int pidfd, int* status);

    /// <summary><c>fl_pidfd_send_signal</c>: 0 or -errno (ESRCH: the process has exited).</summary>
    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_pidfd_send_signal")]
    internal static partial int PidfdSendSignal(int pidfd, int signal);

    /// <summary><c>sizeof(fl_spawn_plan)</c> in the native build.</summary>
    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_sizeof_spawn_plan")]
    internal static partial int SizeOfSpawnPlan();

    /// <summary><c>sizeof(fl_spawn_step)</c> in the native build.</summary>
    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_sizeof_spawn_step")]
    internal static partial int SizeOfSpawnStep();

    /// <summary><c>sizeof(fl_spawn_result)</c> in the native build.</summary>
    [LibraryImport(NativeLibraryResolver.LibraryName, EntryPoint = "fl_sizeof_spawn_result")]
    internal static partial int SizeOfSpawnResult();
}
