using Forklift.Abi;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    // ipc/sem.c limits: SEMMSL (semaphores per set), SEMVMX (largest value), SEMAEM (largest adjustment).
    private const int SemMsl = 32000, SemVmx = 32767, SemAem = SemVmx;

    /// <summary>
    /// <c>semget(IPC_PRIVATE, nsems, IPC_CREAT|0600)</c>: a new set of <paramref name="nsems"/> semaphores at 0 in
    /// the caller's IPC namespace; its id (0, 1, ... in a fresh namespace, as ipc_idr_alloc hands them out).
    /// </summary>
    public SysResult Semget(SimTask caller, int nsems)
    {
        Enter(caller);
        if (nsems < 1 || nsems > SemMsl)
        {
            return SysResult.Fail(Errno.EINVAL, "nsems must be 1..SEMMSL");
        }
        var sets = caller.Ns.Ipc.SemSets ??= [];
        sets.Add(new int[nsems]);
        return SysResult.Success(sets.Count - 1);
    }

    /// <summary>
    /// <c>semop(id, {num, delta, IPC_NOWAIT [| SEM_UNDO]}, 1)</c>: one operation that never sleeps (EAGAIN when
    /// the value would go below 0). With SEM_UNDO the opposite goes into the caller's undo list (created at the
    /// first use, shared with CLONE_SYSVSEM), applied when its last user leaves it.
    /// </summary>
    public SysResult Semop(SimTask caller, int id, int num, int delta, bool undo)
    {
        Enter(caller);
        var ipc = caller.Ns.Ipc;
        if (ipc.SemSets is not { } sets || id < 0 || id >= sets.Count)
        {
            return SysResult.Fail(Errno.EINVAL, "no semaphore set with that id in the caller's IPC namespace");
        }
        var set = sets[id];
        if (num < 0 || num >= set.Length)
        {
            return SysResult.Fail(Errno.EFBIG, "sem_num is beyond the set");
        }
        // perform_atomic_semop: the range checks, then the value.
        int value = set[num] + delta;
        if (value < 0)
        {
            return SysResult.Fail(Errno.EAGAIN, "the value would go below 0 (IPC_NOWAIT)");
        }
        if (value > SemVmx)
        {
            return SysResult.Fail(Errno.ERANGE);
        }
        if (undo)
        {
            // find_alloc_undo: the caller's list, created on first use.
            var list = caller.SemUndo ??= new SysvSemUndo();
            var adj = list.Adjust ??= [];
            var key = (ipc, id, num);
            int next = adj.GetValueOrDefault(key) - delta;
            if (next < -SemAem - 1 || next > SemAem)
            {
                return SysResult.Fail(Errno.ERANGE, "the adjustment would leave -SEMAEM-1..SEMAEM");
            }
            adj[key] = next;
        }
        set[num] = value;
        return SysResult.Success(0);
    }

    /// <summary><c>semctl(id, num, GETVAL)</c>.</summary>
    public SysResult SemctlGetval(SimTask caller, int id, int num)
    {
        Enter(caller);
        if (caller.Ns.Ipc.SemSets is not { } sets || id < 0 || id >= sets.Count)
        {
            return SysResult.Fail(Errno.EINVAL, "no semaphore set with that id in the caller's IPC namespace");
        }
        var set = sets[id];
        return num < 0 || num >= set.Length ? SysResult.Fail(Errno.EINVAL) : SysResult.Success(set[num]);
    }

    // exit_sem (ipc/sem.c), at exit, unshare(CLONE_SYSVSEM) and setns to another IPC namespace: the task leaves
    // its undo list; the last user applies the adjustments, each value kept within 0..SEMVMX.
    internal static void ExitSem(SimTask t)
    {
        if (t.SemUndo is not { } list)
        {
            return;
        }
        t.SemUndo = null;
        if (--list.Users > 0 || list.Adjust is null)
        {
            return;
        }
        foreach (var ((ipc, id, num), adj) in list.Adjust)
        {
            var set = ipc.SemSets![id];
            set[num] = Math.Clamp(set[num] + adj, 0, SemVmx);
        }
        list.Adjust = null;
    }
}
