using System.Globalization;
using Forklift.Abi;

namespace Forklift.Simulation;

/// <summary>
/// The answer of one simulated system call: a non-negative value, or an errno with the reason the model gives,
/// or "blocked" when the caller now sleeps (a wait with nothing to report, a vfork parent). The default value is
/// success with 0.
/// </summary>
/// <param name="Value">The return value on success (a pid, an fd, 0).</param>
/// <param name="Errno">The errno, <see cref="Errno.None"/> on success.</param>
/// <param name="Detail">Why the call failed, or a note on success (for traces); null when there is nothing to add.</param>
public readonly record struct SysResult(long Value, Errno Errno = Errno.None, string? Detail = null)
{
    /// <summary>The caller sleeps; the call completes later (see <see cref="SimKernel.CallCompleted"/>).</summary>
    public bool Blocked { get; init; }

    /// <summary>True when the call succeeded and did not block.</summary>
    public bool Ok => Errno == Errno.None && !Blocked;

    /// <summary>A success with a value.</summary>
    public static SysResult Success(long value) => new(value);

    /// <summary>A failure with an errno and the model's reason.</summary>
    public static SysResult Fail(Errno errno, string? why = null) => new(-1, errno, why);

    /// <summary>The call blocked.</summary>
    public static SysResult Block(string? why = null) => new(0, Errno.None, why) { Blocked = true };

    /// <summary>
    /// A call the model knowingly does not reproduce: ENOSYS with the reason (see <see cref="ModelLimits"/>),
    /// rather than a guess.
    /// </summary>
    public static SysResult NotModelled(string reason) => new(-1, Errno.ENOSYS, "not modelled: " + reason);

    /// <inheritdoc/>
    public override string ToString()
    {
        if (Blocked)
        {
            return "blocked" + (Detail is null ? "" : " (" + Detail + ")");
        }
        if (Errno != Errno.None)
        {
            return "-1 " + ErrnoInfo.Name(Errno) + (Detail is null ? "" : " (" + Detail + ")");
        }
        return Value.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary>What a wait call reports about one child (wait4's status and waitid's siginfo).</summary>
public readonly record struct WaitInfo
{
    /// <summary>The child's pid as the waiter sees it; 0 when nothing was reported (WNOHANG).</summary>
    public int Pid { get; init; }
    /// <summary>The wait4 status word (<c>WEXITSTATUS</c>, <c>WTERMSIG</c>, <c>0x7f</c> stopped, <c>0xffff</c> continued).</summary>
    public int Status { get; init; }
    /// <summary>waitid's <c>si_code</c>: <c>CLD_EXITED</c> (1), <c>CLD_KILLED</c> (2), <c>CLD_DUMPED</c> (3), <c>CLD_STOPPED</c> (5), <c>CLD_CONTINUED</c> (6).</summary>
    public int Code { get; init; }
    /// <summary>waitid's <c>si_status</c>: the exit code, or the signal.</summary>
    public int SiStatus { get; init; }
    /// <summary>waitid's <c>si_uid</c>: the child's real uid as the waiter's user namespace sees it.</summary>
    public int Uid { get; init; }

    /// <summary>Describes the status as <c>exited(N)</c>, <c>killed(SIG)</c>, <c>stopped(SIG)</c> or <c>continued</c>.</summary>
    public string Describe() => Pid == 0 ? "none" : Code switch
    {
        WaitConst.CldExited => $"exited({SiStatus.ToString(CultureInfo.InvariantCulture)})",
        WaitConst.CldKilled or WaitConst.CldDumped => $"killed({Signals.Name(SiStatus)})",
        WaitConst.CldStopped => $"stopped({Signals.Name(SiStatus)})",
        WaitConst.CldContinued => "continued",
        _ => "?",
    };
}

/// <summary>Wait options, id types and codes (include/uapi/linux/wait.h, siginfo.h).</summary>
public static class WaitConst
{
    /// <summary><c>WNOHANG</c>.</summary>
    public const int WNohang = 1;
    /// <summary><c>WUNTRACED</c> / <c>WSTOPPED</c>.</summary>
    public const int WUntraced = 2;
    /// <summary><c>WSTOPPED</c>.</summary>
    public const int WStopped = 2;
    /// <summary><c>WEXITED</c>.</summary>
    public const int WExited = 4;
    /// <summary><c>WCONTINUED</c>.</summary>
    public const int WContinued = 8;
    /// <summary><c>WNOWAIT</c>.</summary>
    public const int WNowait = 0x01000000;
    /// <summary><c>__WNOTHREAD</c>.</summary>
    public const int WNothread = 0x20000000;
    /// <summary><c>__WALL</c>.</summary>
    public const int WAll = 0x40000000;
    /// <summary><c>__WCLONE</c>.</summary>
    public const int WClone = unchecked((int)0x80000000);
    /// <summary><c>P_ALL</c>.</summary>
    public const int PAll = 0;
    /// <summary><c>P_PID</c>.</summary>
    public const int PPid = 1;
    /// <summary><c>P_PGID</c>.</summary>
    public const int PPgid = 2;
    /// <summary><c>P_PIDFD</c>.</summary>
    public const int PPidfd = 3;
    /// <summary><c>CLD_EXITED</c>.</summary>
    public const int CldExited = 1;
    /// <summary><c>CLD_KILLED</c>.</summary>
    public const int CldKilled = 2;
    /// <summary><c>CLD_DUMPED</c>.</summary>
    public const int CldDumped = 3;
    /// <summary><c>CLD_STOPPED</c>.</summary>
    public const int CldStopped = 5;
    /// <summary><c>CLD_CONTINUED</c>.</summary>
    public const int CldContinued = 6;
}

/// <summary>Other ABI constants the simulated calls take.</summary>
public static class SimConst
{
    /// <summary><c>O_CREAT</c>.</summary>
    public const int OCreat = 0x40;
    /// <summary><c>O_CLOEXEC</c>.</summary>
    public const int OCloexec = 0x80000;
    /// <summary><c>O_NONBLOCK</c> (also <c>PIDFD_NONBLOCK</c>).</summary>
    public const int ONonblock = 0x800;
    /// <summary><c>PIDFD_THREAD</c> (= O_EXCL, 6.9).</summary>
    public const int PidfdThread = 0x80;
    /// <summary><c>PIDFD_SIGNAL_THREAD</c>.</summary>
    public const uint PidfdSignalThread = 1;
    /// <summary><c>PIDFD_SIGNAL_THREAD_GROUP</c>.</summary>
    public const uint PidfdSignalThreadGroup = 2;
    /// <summary><c>PIDFD_SIGNAL_PROCESS_GROUP</c>.</summary>
    public const uint PidfdSignalProcessGroup = 4;
    /// <summary><c>PR_SET_PDEATHSIG</c>.</summary>
    public const int PrSetPdeathsig = 1;
    /// <summary><c>PR_GET_PDEATHSIG</c>.</summary>
    public const int PrGetPdeathsig = 2;
    /// <summary><c>PR_SET_CHILD_SUBREAPER</c>.</summary>
    public const int PrSetChildSubreaper = 36;
    /// <summary><c>PR_GET_CHILD_SUBREAPER</c>.</summary>
    public const int PrGetChildSubreaper = 37;
    /// <summary><c>F_GETFD</c>.</summary>
    public const int FGetfd = 1;
    /// <summary><c>F_SETFD</c>.</summary>
    public const int FSetfd = 2;
    /// <summary><c>FD_CLOEXEC</c>.</summary>
    public const int FdCloexec = 1;
    /// <summary>The kernel's <c>RESERVED_PIDS</c>: where pid allocation wraps to once past it.</summary>
    public const int ReservedPids = 300;
    /// <summary><c>PID_MAX_LIMIT</c> on 64-bit: the largest <c>pid_max</c>.</summary>
    public const int PidMaxLimit = 4 * 1024 * 1024;
    /// <summary>The overflow uid (<c>/proc/sys/kernel/overflowuid</c>) an unmapped id shows as.</summary>
    public const uint OverflowUid = 65534;
}
