using System.Collections;
using System.Numerics;
using Forklift.Rules;

namespace Forklift.Simulation;

/// <summary>
/// A pid (<c>struct pid</c>): one number per pid-namespace level, from the initial namespace down to the one it
/// was allocated in, and the tasks that use it as their pid, thread-group id, process-group id or session id.
/// The numbers are freed (and may be reused) once no task uses it in any of those roles; a pidfd keeps the
/// object, not the numbers (free_pid, kernel/pid.c).
/// </summary>
public sealed class SimPid
{
    private readonly int[]? _upper;

    internal SimPid(PidNamespace ns, int nr, int[]? upper)
    {
        Ns = ns;
        Nr = nr;
        _upper = upper;
    }

    /// <summary>The namespace it was allocated in (the deepest).</summary>
    public PidNamespace Ns { get; }
    /// <summary>The number in <see cref="Ns"/>.</summary>
    public int Nr { get; }
    /// <summary>The level of <see cref="Ns"/>.</summary>
    public int Level => Ns.Level;
    /// <summary>False once the numbers were freed.</summary>
    public bool Allocated { get; internal set; } = true;

    internal SimTask? Task;          // PIDTYPE_PID
    internal SimTask? TgidLeader;    // PIDTYPE_TGID
    internal SimTask? PgrpHead;      // PIDTYPE_PGID: first member (intrusive list through SimTask.PgrpNext)
    internal SimTask? SessionHead;   // PIDTYPE_SID
    internal int PgrpCount, SessionCount;

    /// <summary>The task whose thread id this is (null after it was reaped).</summary>
    public SimTask? TaskOf => Task;
    /// <summary>The thread-group leader whose process id this is (null when none).</summary>
    public SimTask? ProcessOf => TgidLeader;

    internal bool InUse => Task is not null || TgidLeader is not null || PgrpHead is not null || SessionHead is not null;

    /// <summary>The number at level <paramref name="level"/> (0 = initial namespace).</summary>
    public int NrAtLevel(int level) => level == Ns.Level ? Nr : _upper![level];

    /// <summary>
    /// <c>pid_nr_ns</c>: the number as <paramref name="ns"/> sees it, 0 when it is not visible there. Like the
    /// kernel's, it still answers for a freed pid (the number it had).
    /// </summary>
    public int NrIn(PidNamespace ns)
    {
        if (ns.Level > Ns.Level)
        {
            return 0;
        }
        return Ns.AncestorAt(ns.Level) == ns ? NrAtLevel(ns.Level) : 0;
    }
}

/// <summary>
/// A pid namespace: a level, a parent, a child reaper (its init), <c>pid_max</c>, and an IDR-like table of pids
/// allocated cyclically (<c>idr_alloc_cyclic</c>, wrapping to <see cref="SimConst.ReservedPids"/>) in a two-level
/// bitmap, so allocation, lookup and free are O(1) amortised.
/// </summary>
public sealed class PidNamespace : SimNamespace
{
    private SimPid?[] _slots = new SimPid?[64];
    private ulong[] _used = new ulong[1];
    private ulong[] _fullWords = new ulong[1];
    private int _cursor = 1;
    private readonly PidNamespace[] _ancestors;
    private ImmutableArrayCache? _inUse;

    internal PidNamespace(PidNamespace? parent, SimUserNs owner, long inode, int pidMax) : base(NamespaceType.Pid, owner, inode)
    {
        Parent = parent;
        Level = parent is null ? 0 : parent.Level + 1;
        PidMax = pidMax;
        _ancestors = new PidNamespace[Level + 1];
        for (var ns = this; ns is not null; ns = ns.Parent)
        {
            _ancestors[ns.Level] = ns;
        }
    }

    /// <summary>The parent (null for the initial namespace).</summary>
    public PidNamespace? Parent { get; }
    /// <summary>Depth (0 = initial).</summary>
    public int Level { get; }
    /// <summary><c>pid_max</c> for this namespace (inherited from the parent, 6.14+).</summary>
    public int PidMax { get; internal set; }
    /// <summary>The init (<c>child_reaper</c>); null until the first process is created.</summary>
    public SimTask? ChildReaper { get; internal set; }
    /// <summary><c>PIDNS_ADDING</c>: false once the init exited (new pids refused with ENOMEM).</summary>
    public bool AcceptsPids { get; internal set; } = true;
    /// <summary>Pids allocated in this namespace (<c>pid_allocated</c> without the flag).</summary>
    public int Allocated { get; private set; }
    /// <summary>Whether every number from 1 to pid_max-1 is taken.</summary>
    public bool IsFull => Allocated >= PidMax - 1;

    internal SimTask? ZapWaiter; // the exiting init waiting in zap_pid_ns_processes
    internal int ZapInitPids;

    /// <summary>The ancestor (or this) at <paramref name="level"/>.</summary>
    public PidNamespace AncestorAt(int level) => _ancestors[level];

    /// <summary>True when this is <paramref name="ns"/> or a descendant of it.</summary>
    public bool IsSameOrDescendantOf(PidNamespace ns) => ns.Level <= Level && _ancestors[ns.Level] == ns;

    /// <summary>The pid with number <paramref name="nr"/> here, or null.</summary>
    public SimPid? Find(int nr) => (uint)nr < (uint)_slots.Length ? _slots[nr] : null;

    /// <summary>Whether number <paramref name="nr"/> is taken.</summary>
    public bool InUse(int nr) => (uint)(nr >> 6) < (uint)_used.Length && (_used[nr >> 6] >> (nr & 63) & 1) != 0;

    /// <summary>The taken numbers in ascending order (allocates a list; for display and zap).</summary>
    public List<SimPid> Pids()
    {
        var list = new List<SimPid>(Allocated);
        for (int w = 0; w < _used.Length; w++)
        {
            ulong bits = _used[w];
            while (bits != 0)
            {
                int nr = (w << 6) + BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                if (_slots[nr] is { } p)
                {
                    list.Add(p);
                }
            }
        }
        return list;
    }

    // idr_alloc_cyclic(&ns->idr, NULL, pid_min, pid_max) in alloc_pid: the lowest free number at or after the
    // cursor, wrapping to pid_min (RESERVED_PIDS once the cursor has passed it, else 1). -1 when full.
    internal int AllocCyclic()
    {
        int min = _cursor > SimConst.ReservedPids ? SimConst.ReservedPids : 1;
        int nr = NextFree(Math.Max(_cursor, min), PidMax);
        if (nr < 0)
        {
            nr = NextFree(min, Math.Min(_cursor, PidMax));
        }
        if (nr >= 0)
        {
            _cursor = nr + 1;
        }
        return nr;
    }

    // idr_alloc(&ns->idr, NULL, tid, tid + 1): exactly this number (set_tid); the cursor is not moved.
    internal bool AllocExact(int nr) => nr > 0 && nr < PidMax && !InUse(nr);

    internal void Set(int nr, SimPid pid)
    {
        EnsureCapacity(nr);
        _slots[nr] = pid;
        int w = nr >> 6;
        _used[w] |= 1UL << (nr & 63);
        if (_used[w] == ulong.MaxValue)
        {
            _fullWords[w >> 6] |= 1UL << (w & 63);
        }
        Allocated++;
    }

    internal void Clear(int nr)
    {
        _slots[nr] = null;
        int w = nr >> 6;
        _used[w] &= ~(1UL << (nr & 63));
        _fullWords[w >> 6] &= ~(1UL << (w & 63));
        Allocated--;
    }

    private void EnsureCapacity(int nr)
    {
        if (nr < _slots.Length)
        {
            return;
        }
        int n = _slots.Length;
        while (n <= nr)
        {
            n *= 2;
        }
        Array.Resize(ref _slots, n);
        Array.Resize(ref _used, (n + 63) >> 6);
        Array.Resize(ref _fullWords, (_used.Length + 63) >> 6);
    }

    // The lowest free number in [from, to), or -1. Full words are skipped through the summary bitmap.
    private int NextFree(int from, int to)
    {
        int nr = from;
        while (nr < to)
        {
            int w = nr >> 6;
            if (w >= _used.Length)
            {
                return nr; // beyond the table: never allocated
            }
            ulong free = ~_used[w] & (ulong.MaxValue << (nr & 63));
            if (free != 0)
            {
                int found = (w << 6) + BitOperations.TrailingZeroCount(free);
                return found < to ? found : -1;
            }
            // Next word that is not full, via the summary.
            int sw = (w + 1) >> 6;
            ulong notFull = sw < _fullWords.Length ? ~_fullWords[sw] & (ulong.MaxValue << ((w + 1) & 63)) : ulong.MaxValue;
            while (notFull == 0)
            {
                sw++;
                if (sw >= _fullWords.Length)
                {
                    notFull = ulong.MaxValue;
                    break;
                }
                notFull = ~_fullWords[sw];
            }
            int nextWord = (sw << 6) + BitOperations.TrailingZeroCount(notFull);
            nr = nextWord << 6;
        }
        return -1;
    }

    /// <summary>
    /// The pids in use here and in each ancestor, as live sets (element 0 = this namespace), in the shape
    /// <see cref="CallerContext.PidsInUse"/> takes. Built once per namespace.
    /// </summary>
    internal System.Collections.Immutable.ImmutableArray<IReadOnlySet<int>?> PidsInUseChain =>
        (_inUse ??= new ImmutableArrayCache(this)).Chain;

    private sealed class ImmutableArrayCache
    {
        public ImmutableArrayCache(PidNamespace ns)
        {
            var b = System.Collections.Immutable.ImmutableArray.CreateBuilder<IReadOnlySet<int>?>(ns.Level + 1);
            for (var n = ns; n is not null; n = n.Parent)
            {
                b.Add(new InUseView(n));
            }
            Chain = b.MoveToImmutable();
        }

        public System.Collections.Immutable.ImmutableArray<IReadOnlySet<int>?> Chain { get; }
    }

    // A live read-only view of the taken numbers; only Contains is used by the rules.
    private sealed class InUseView(PidNamespace ns) : IReadOnlySet<int>
    {
        public int Count => ns.Allocated;
        public bool Contains(int item) => ns.InUse(item);
        public IEnumerator<int> GetEnumerator()
        {
            foreach (var p in ns.Pids())
            {
                yield return p.NrIn(ns);
            }
        }
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
        public bool IsProperSubsetOf(IEnumerable<int> other) => new HashSet<int>(this).IsProperSubsetOf(other);
        public bool IsProperSupersetOf(IEnumerable<int> other) => new HashSet<int>(this).IsProperSupersetOf(other);
        public bool IsSubsetOf(IEnumerable<int> other) => new HashSet<int>(this).IsSubsetOf(other);
        public bool IsSupersetOf(IEnumerable<int> other) => new HashSet<int>(this).IsSupersetOf(other);
        public bool Overlaps(IEnumerable<int> other) => new HashSet<int>(this).Overlaps(other);
        public bool SetEquals(IEnumerable<int> other) => new HashSet<int>(this).SetEquals(other);
    }
}
