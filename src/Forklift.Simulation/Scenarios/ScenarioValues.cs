using Forklift.Abi;

namespace Forklift.Simulation.Scenarios;

/// <summary>
/// The numbers of the scenario format: decimal, 0x hex, signal names, wait/prctl/open/pidfd constants, clone flag
/// names, <c>$name</c> and <c>$name.tid</c> (a task's pid or tid as some task sees it), and ORs of those with '|'.
/// The machine that resolves <c>$name</c> is the caller's: the model, or the real kernel in the differential tests.
/// </summary>
internal static class ScenarioValues
{
    private static readonly Dictionary<string, long> Constants = new(StringComparer.Ordinal)
    {
        ["WNOHANG"] = WaitConst.WNohang, ["WUNTRACED"] = WaitConst.WUntraced, ["WSTOPPED"] = WaitConst.WStopped,
        ["WEXITED"] = WaitConst.WExited, ["WCONTINUED"] = WaitConst.WContinued, ["WNOWAIT"] = WaitConst.WNowait,
        ["__WALL"] = WaitConst.WAll, ["__WCLONE"] = WaitConst.WClone, ["__WNOTHREAD"] = WaitConst.WNothread,
        ["P_ALL"] = WaitConst.PAll, ["P_PID"] = WaitConst.PPid, ["P_PGID"] = WaitConst.PPgid, ["P_PIDFD"] = WaitConst.PPidfd,
        ["PR_SET_PDEATHSIG"] = SimConst.PrSetPdeathsig, ["PR_GET_PDEATHSIG"] = SimConst.PrGetPdeathsig,
        ["PR_SET_CHILD_SUBREAPER"] = SimConst.PrSetChildSubreaper, ["PR_GET_CHILD_SUBREAPER"] = SimConst.PrGetChildSubreaper,
        ["O_CLOEXEC"] = SimConst.OCloexec, ["O_CREAT"] = SimConst.OCreat, ["O_NONBLOCK"] = SimConst.ONonblock, ["PIDFD_NONBLOCK"] = SimConst.ONonblock,
        ["PIDFD_THREAD"] = SimConst.PidfdThread, ["PIDFD_SIGNAL_THREAD"] = SimConst.PidfdSignalThread,
        ["PIDFD_SIGNAL_THREAD_GROUP"] = SimConst.PidfdSignalThreadGroup, ["PIDFD_SIGNAL_PROCESS_GROUP"] = SimConst.PidfdSignalProcessGroup,
        ["F_GETFD"] = SimConst.FGetfd, ["F_SETFD"] = SimConst.FSetfd, ["FD_CLOEXEC"] = SimConst.FdCloexec,
        ["RLIMIT_NPROC"] = 6, ["RLIMIT_NOFILE"] = 7, ["NULL"] = 0,
    };

    /// <summary>
    /// Parses a number. <paramref name="task"/> resolves <c>$name</c> (tid: false) and <c>$name.tid</c> (tid: true).
    /// </summary>
    /// <exception cref="ScenarioException">Not a number, constant, signal or $name.</exception>
    public static long Parse(string tok, int line, Func<string, bool, long> task)
    {
        if (tok.Contains('|', StringComparison.Ordinal))
        {
            long v = 0;
            foreach (var part in tok.Split('|'))
            {
                v |= Parse(part, line, task);
            }
            return v;
        }
        if (tok.StartsWith("-$", StringComparison.Ordinal))
        {
            return -Parse(tok[1..], line, task);
        }
        if (tok.StartsWith('$'))
        {
            bool tid = tok.EndsWith(".tid", StringComparison.Ordinal);
            return task(tid ? tok[1..^4] : tok[1..], tid);
        }
        if (Constants.TryGetValue(tok, out long c))
        {
            return c;
        }
        if (tok.StartsWith("SIG", StringComparison.Ordinal) && Signals.TryParse(tok, out int sig, out _))
        {
            return sig;
        }
        bool neg = tok.StartsWith('-');
        string body = neg ? tok[1..] : tok;
        if (NumberText.TryParseUInt64(body, out ulong u))
        {
            return neg ? -(long)u : (long)u;
        }
        if (CloneFlagNames.TryParse(tok, out var f, out _))
        {
            return (long)f;
        }
        throw new ScenarioException(line, $"'{tok}' is not a number, constant, signal or $name");
    }
}
