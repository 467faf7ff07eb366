using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Forklift.Simulation.Tests.Differential;

/// <summary>
/// One scenario's twin on the real kernel: a launcher makes a fresh pid and mount namespace whose pid 1 is the
/// scenario's <c>init</c> agent; every task the scenario makes is another agent (native/agent/forklift-agent.c)
/// with its own command socket to this coordinator. The coordinator sends one call at a time and reads what the
/// kernel did from the agents' replies and from /proc (states, parents, pids per namespace level).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed partial class RealMachine : IDisposable
{
    private static int s_counter;
    private readonly Socket _listener;
    private readonly string _socketPath;
    private readonly Process _launcher;
    private readonly Dictionary<Socket, Conn> _conns = [];
    private readonly RealTask?[] _byIndex = new RealTask?[MaxTasks];
    private readonly List<RealTask> _tasks = [];
    private readonly byte[] _sendBuffer = new byte[AgentCommand.Size];
    private uint _seq;
    private int _nextIndex;

    /// <summary>Tasks per scenario (the agent's channel fds are 1023 - index).</summary>
    public const int MaxTasks = 64;

    /// <summary>How long a reply, a hello or a settling state may take before it counts as missing.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(3);

    /// <summary>The agent binary, copied next to the test assembly by the native targets.</summary>
    public static string AgentPath => Path.Combine(AppContext.BaseDirectory, "forklift-agent");

    /// <summary>The scenario's first task (pid 1 of its namespace).</summary>
    public RealTask Root { get; }

    /// <summary>Every task, in the order the coordinator asked for them.</summary>
    public IReadOnlyList<RealTask> Tasks => _tasks;

    /// <summary>Things the agents did that no call asked for (a hello for an index never handed out, a reply to no call).</summary>
    public List<string> Unexpected { get; } = [];

    /// <summary>Blocked calls that completed, in arrival order, until taken.</summary>
    public List<(RealTask Task, AgentMessage Message)> Completions { get; } = [];

    /// <summary>The host pid of the launcher (the parent of the scenario's init).</summary>
    public int LauncherPid => _launcher.Id;

    /// <summary>The host pid namespace level of the scenario's root namespace.</summary>
    private int _rootLevel;
    private ulong _rootNs;

    private RealMachine()
    {
        _socketPath = Path.Combine(Path.GetTempPath(),
            $"fl-agent-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}.sock");
        File.Delete(_socketPath);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(_socketPath));
        // Agents in new user namespaces run as the overflow uid: anyone may connect.
        File.SetUnixFileMode(_socketPath, (UnixFileMode)0x1ff);
        _listener.Listen(MaxTasks);
        Root = Reserve("init");
        var psi = new ProcessStartInfo(AgentPath) { UseShellExecute = false };
        psi.ArgumentList.Add("launch");
        psi.ArgumentList.Add(_socketPath);
        _launcher = Process.Start(psi) ?? throw new InvalidOperationException("the agent launcher did not start");
    }

    /// <summary>Starts the launcher and waits for the root agent.</summary>
    public static RealMachine Start()
    {
        var m = new RealMachine();
        try
        {
            if (!m.WaitUntil(() => m.Root.Helloed, Patience))
            {
                throw new InvalidOperationException($"the root agent did not connect (launcher {(m._launcher.HasExited ? "exited with " + m._launcher.ExitCode : "running")})");
            }
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    /// <summary>Hands out the next task index under a name; the agent that reports it becomes this task.</summary>
    public RealTask Reserve(string name)
    {
        if (_nextIndex >= MaxTasks)
        {
            throw new InvalidOperationException($"more than {MaxTasks} tasks in one scenario");
        }
        var t = new RealTask(name, _nextIndex);
        _byIndex[_nextIndex++] = t;
        _tasks.Add(t);
        return t;
    }

    /// <summary>Sends a command; returns its sequence number.</summary>
    public uint Send(RealTask t, AgentCommand c)
    {
        if (t.Conn is null)
        {
            throw new InvalidOperationException($"task {t.Name} has no command socket");
        }
        uint seq = ++_seq;
        c.Encode(seq, _sendBuffer);
        t.Outstanding = seq;
        t.OutstandingOp = c.Op;
        t.Conn.Socket.Send(_sendBuffer);
        return seq;
    }

    /// <summary>Pumps messages until <paramref name="condition"/> holds or the time is up.</summary>
    public bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            var left = timeout - sw.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }
            // In short slices: some conditions read /proc rather than wait for a message.
            Pump(left < Slice ? left : Slice);
        }
        return true;
    }

    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(1);

    /// <summary>Reads what has arrived, waiting at most <paramref name="timeout"/> for something to arrive.</summary>
    public void Pump(TimeSpan timeout)
    {
        var ready = new List<Socket>(_conns.Count + 1) { _listener };
        ready.AddRange(_conns.Keys);
        int micro = (int)Math.Clamp(timeout.TotalMicroseconds, 0, int.MaxValue);
        Span<byte> cred = stackalloc byte[12];
        Socket.Select(ready, null, null, micro);
        foreach (var s in ready)
        {
            if (s == _listener)
            {
                var c = _listener.Accept();
                c.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, cred);
                _conns[c] = new Conn(c, BitConverter.ToInt32(cred));
                continue;
            }
            var conn = _conns[s];
            int n;
            try
            {
                n = s.Receive(conn.Buffer, conn.Have, AgentMessage.Size - conn.Have, SocketFlags.None);
            }
            catch (SocketException)
            {
                n = 0;
            }
            if (n == 0)
            {
                _conns.Remove(s);
                s.Dispose();
                continue;
            }
            conn.Have += n;
            if (conn.Have == AgentMessage.Size)
            {
                conn.Have = 0;
                Dispatch(conn, AgentMessage.Decode(conn.Buffer));
            }
        }
    }

    private void Dispatch(Conn conn, AgentMessage m)
    {
        if (m.Kind == AgentMessage.Hello)
        {
            var t = m.Index >= 0 && m.Index < MaxTasks ? _byIndex[m.Index] : null;
            if (t is null || t.Helloed)
            {
                Unexpected.Add($"an agent reported task index {m.Index}, which no clone asked for (pid {m.NsPid}, tid {m.NsTid})");
                return;
            }
            t.Conn = conn;
            conn.Task = t;
            t.Helloed = true;
            Identify(t, conn.PeerTgid, m);
            return;
        }
        var task = conn.Task;
        if (task is null)
        {
            Unexpected.Add($"a message of kind {m.Kind} before any hello");
            return;
        }
        if (task.DiscardSeq != 0 && m.Seq == task.DiscardSeq)
        {
            // The reply of a call the task stopped in (its own stop signal), now continued: the model has no
            // return for it either.
            task.DiscardSeq = 0;
            return;
        }
        if (m.Seq != task.Outstanding)
        {
            Unexpected.Add($"{task.Name}: a message for call #{m.Seq}, not the outstanding #{task.Outstanding}");
            return;
        }
        if (m.Kind == AgentMessage.Blocked)
        {
            task.Blocked = true;
            task.Inbox.Enqueue(m);
            return;
        }
        if (task.OutstandingOp == AgentOp.Execve && m.Ret == 0)
        {
            // The new image replies: the task may have a new thread id (an exec from a thread takes the
            // leader's), and its old id, if it was a thread's, is gone.
            IdentifyAfterExec(task, conn.PeerTgid);
        }
        task.Outstanding = 0;
        if (task.Blocked)
        {
            task.Blocked = false;
            task.VforkWaiting = false;
            Completions.Add((task, m));
        }
        else
        {
            task.Inbox.Enqueue(m);
        }
    }

    // The task's thread id on the host (the peer credential names the process; a thread is found by its id in
    // its own namespace), its ids at every level of the scenario's namespaces, and its pid namespace chain.
    private void Identify(RealTask t, int hostTgid, AgentMessage m)
    {
        int hostTid = hostTgid;
        if (m.NsTid != m.NsPid)
        {
            hostTid = 0;
            string[] dirs;
            try
            {
                dirs = Directory.GetDirectories($"/proc/{hostTgid}/task");
            }
            catch (DirectoryNotFoundException)
            {
                throw new InvalidOperationException($"task {t.Name}: host process {hostTgid} is gone before its thread's hello was read");
            }
            foreach (var dir in dirs)
            {
                int tid = int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture);
                var st = ProcStatus.Read(tid);
                if (st is not null && st.NsPid[^1] == m.NsTid)
                {
                    hostTid = tid;
                    break;
                }
            }
            if (hostTid == 0)
            {
                throw new InvalidOperationException($"task {t.Name}: no thread with id {m.NsTid} in host process {hostTgid}");
            }
        }
        if (ProcStatus.Read(hostTid) is not { } status)
        {
            throw new InvalidOperationException($"task {t.Name}: /proc/{hostTid} is gone before its hello was read");
        }
        if (t == Root)
        {
            _rootLevel = status.NsPid.Length - 1;
            _rootNs = OwnPidNs(hostTid);
        }
        TakeOver(t, hostTid, hostTgid);
        t.Tids = status.NsPid[_rootLevel..];
        t.Tgids = status.NsTgid[_rootLevel..];
        t.Chain = PidNsChain(hostTid);
    }

    // After a successful exec the task is its group's leader (de_thread, fs/exec.c: a thread that execs takes
    // the leader's pid and the old leader is released), in the same pid namespaces (exec changes no namespace):
    // its thread ids become its process ids and nothing needs /proc. Reading /proc here raced with images that
    // exit as soon as they have replied (the model's /bin/exit N): their ns links vanish when they exit.
    private void IdentifyAfterExec(RealTask t, int hostTgid)
    {
        TakeOver(t, hostTgid, hostTgid);
        t.Tids = t.Tgids;
    }

    // t is now host thread hostTid; a task that had that id before (the old leader of an exec'd thread) is gone.
    private void TakeOver(RealTask t, int hostTid, int hostTgid)
    {
        foreach (var other in _tasks)
        {
            if (other != t && other.HostTid == hostTid)
            {
                other.Gone = true;
                other.HostTid = 0;
            }
        }
        t.HostTid = hostTid;
        t.HostTgid = hostTgid;
    }

    /// <summary><paramref name="t"/>'s process id as <paramref name="viewer"/>'s pid namespace sees it (0: invisible).</summary>
    public static int PidIn(RealTask t, RealTask viewer) => IdIn(t, viewer, t.Tgids);

    /// <summary><paramref name="t"/>'s thread id as <paramref name="viewer"/>'s pid namespace sees it (0: invisible).</summary>
    public static int TidIn(RealTask t, RealTask viewer) => IdIn(t, viewer, t.Tids);

    private static int IdIn(RealTask t, RealTask viewer, int[] ids)
    {
        int level = viewer.Chain.Length - 1;
        return level < t.Chain.Length && t.Chain[level] == viewer.Chain[level] ? ids[level] : 0;
    }

    // The inodes of the pid namespaces from the scenario's root namespace down to the task's own
    // (NS_GET_PARENT, ioctl_ns(2)).
    private ulong[] PidNsChain(int hostTid)
    {
        var chain = new List<ulong>();
        int fd = Open($"/proc/{hostTid}/ns/pid");
        try
        {
            while (true)
            {
                ulong ino = Inode(fd);
                chain.Add(ino);
                if (ino == _rootNs)
                {
                    break;
                }
                int parent = Ioctl(fd, NsGetParent);
                if (parent < 0)
                {
                    throw new InvalidOperationException($"NS_GET_PARENT failed: errno {Marshal.GetLastPInvokeError()}");
                }
                Close(fd);
                fd = parent;
            }
        }
        finally
        {
            Close(fd);
        }
        chain.Reverse();
        return [.. chain];
    }

    private static ulong OwnPidNs(int hostTid)
    {
        int fd = Open($"/proc/{hostTid}/ns/pid");
        try
        {
            return Inode(fd);
        }
        finally
        {
            Close(fd);
        }
    }

    private static int Open(string path)
    {
        int fd = OpenNative(path, 0x80000 /* O_RDONLY|O_CLOEXEC */);
        return fd >= 0 ? fd : throw new IOException($"open {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static unsafe ulong Inode(int fd)
    {
        byte* st = stackalloc byte[256];
        if (Fstat(fd, st) < 0)
        {
            throw new IOException($"fstat: errno {Marshal.GetLastPInvokeError()}");
        }
        return *(ulong*)(st + 8); // struct stat on x86-64: st_dev, then st_ino
    }

    /// <summary><c>kcmp(pid1, pid2, type, 0, 0)</c> on host pids: 0 when the resource is the same object.</summary>
    public static long Kcmp(int hostPid1, int hostPid2, int type)
    {
        long r = Syscall(312 /* SYS_kcmp */, hostPid1, hostPid2, type, 0, 0);
        return r < 0 ? -Marshal.GetLastPInvokeError() : r;
    }

    private const nuint NsGetParent = 0xb702; // _IO(0xb7, 0x2)

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenNative(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static unsafe partial int Fstat(int fd, byte* buf);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long nr, long a, long b, long c, long d, long e);

    /// <summary>Kills the scenario's namespace (its init) and waits for the launcher.</summary>
    public void Dispose()
    {
        try
        {
            if (Root.HostTid > 0)
            {
                try
                {
                    Process.GetProcessById(Root.HostTid).Kill();
                }
                catch (ArgumentException)
                {
                }
                catch (InvalidOperationException)
                {
                }
            }
            if (!_launcher.WaitForExit(5000))
            {
                _launcher.Kill(entireProcessTree: true);
                _launcher.WaitForExit(5000);
            }
        }
        finally
        {
            _launcher.Dispose();
            foreach (var s in _conns.Keys)
            {
                s.Dispose();
            }
            _listener.Dispose();
            File.Delete(_socketPath);
        }
    }

    internal sealed class Conn(Socket socket, int peerTgid)
    {
        public Socket Socket { get; } = socket;
        public int PeerTgid { get; } = peerTgid;
        public byte[] Buffer { get; } = new byte[AgentMessage.Size];
        public int Have { get; set; }
        public RealTask? Task { get; set; }
    }
}

/// <summary>A scenario task's real twin: its agent, its ids, and the call it is in.</summary>
internal sealed class RealTask(string name, int index)
{
    public string Name { get; } = name;
    public int Index { get; } = index;
    internal RealMachine.Conn? Conn { get; set; }
    public bool Helloed { get; set; }
    /// <summary>Its thread id on the host (0 once it is gone).</summary>
    public int HostTid { get; set; }
    public int HostTgid { get; set; }
    /// <summary>Its thread ids from the scenario's root pid namespace down to its own.</summary>
    public int[] Tids { get; set; } = [];
    /// <summary>Its process ids, likewise.</summary>
    public int[] Tgids { get; set; } = [];
    /// <summary>The pid namespaces (inodes) from the scenario's root down to its own.</summary>
    public ulong[] Chain { get; set; } = [];
    /// <summary>Its thread id was taken by another task (an exec from a thread): it no longer exists.</summary>
    public bool Gone { get; set; }
    public uint Outstanding { get; set; }
    public AgentOp OutstandingOp { get; set; }
    /// <summary>The outstanding call sleeps (the agent said so); its reply will be a completion.</summary>
    public bool Blocked { get; set; }
    /// <summary>The outstanding call is a vfork whose child has started.</summary>
    public bool VforkWaiting { get; set; }
    /// <summary>A call whose reply is dropped when it comes (the task stopped itself in it).</summary>
    public uint DiscardSeq { get; set; }
    /// <summary>It exec'd the pause program.</summary>
    public bool Paused { get; set; }
    /// <summary>Replies and blocked notices not yet taken.</summary>
    public Queue<AgentMessage> Inbox { get; } = new();

    /// <summary>True when the agent is waiting for a command.</summary>
    public bool Idle => Helloed && !Gone && Outstanding == 0 && !Paused;

    public override string ToString() => Name;
}

/// <summary>The lines of /proc/PID/status and /proc/PID/stat the comparison reads.</summary>
internal sealed class ProcStatus
{
    public char State { get; private init; }
    public int HostPpid { get; private init; }
    public uint Flags { get; private init; }
    public int ExitSignal { get; private init; }
    public int[] NsPid { get; private init; } = [];
    public int[] NsTgid { get; private init; } = [];
    public int[] NsPgid { get; private init; } = [];
    public int[] NsSid { get; private init; } = [];
    public ulong SigPnd { get; private init; }
    public ulong ShdPnd { get; private init; }
    public ulong SigIgn { get; private init; }
    public ulong SigCgt { get; private init; }
    public int Threads { get; private init; }
    public int Umask { get; private init; }

    public const uint PfExiting = 0x4;

    /// <summary>Reads a task's status, or null when it no longer exists.</summary>
    public static ProcStatus? Read(int hostTid)
    {
        string stat, status;
        try
        {
            stat = File.ReadAllText($"/proc/{hostTid}/stat");
            status = File.ReadAllText($"/proc/{hostTid}/status");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // stat: "pid (comm) S ppid pgrp session tty tpgid flags ..."; exit_signal is field 38.
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        int[] Ids(string key) => Line(status, key) is { } v
            ? v.Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() : [];
        ulong Hex(string key) => Line(status, key) is { } v ? ulong.Parse(v, NumberStyles.HexNumber, CultureInfo.InvariantCulture) : 0;
        return new ProcStatus
        {
            State = f[0][0],
            HostPpid = int.Parse(f[1], CultureInfo.InvariantCulture),
            Flags = uint.Parse(f[6], CultureInfo.InvariantCulture),
            ExitSignal = int.Parse(f[35], CultureInfo.InvariantCulture),
            NsPid = Ids("NSpid:"),
            NsTgid = Ids("NStgid:"),
            NsPgid = Ids("NSpgid:"),
            NsSid = Ids("NSsid:"),
            SigPnd = Hex("SigPnd:"),
            ShdPnd = Hex("ShdPnd:"),
            SigIgn = Hex("SigIgn:"),
            SigCgt = Hex("SigCgt:"),
            Threads = Line(status, "Threads:") is { } th ? int.Parse(th, CultureInfo.InvariantCulture) : 0,
            Umask = Line(status, "Umask:") is { } um ? Convert.ToInt32(um, 8) : 0,
        };
    }

    private static string? Line(string text, string key)
    {
        int i = text.IndexOf("\n" + key, StringComparison.Ordinal);
        if (i < 0)
        {
            return null;
        }
        int start = i + 1 + key.Length;
        int end = text.IndexOf('\n', start);
        return text[start..(end < 0 ? text.Length : end)].Trim();
    }
}
