using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text;
using Forklift.Abi;

namespace Forklift.Simulation.Launching;

/// <summary>
/// A pipe of the simulated machine: two open file descriptions (the read end and the write end, shared by every
/// fd that dup or fork made of them) and a byte buffer. Programs write text through the kernel's
/// <c>write</c>, which appends to the write end's <see cref="SimFile"/>; the pipe moves that text into its buffer
/// (UTF-8) before every read, so the order of writes is kept. End of file: the buffer is empty and no fd refers
/// to the write end any more (pipe_read returns 0 once <c>pipe-&gt;writers</c> is 0). Unlike Linux the buffer
/// has no capacity limit, so writers never block.
/// </summary>
internal sealed class SimPipe
{
    private byte[] _buffer = new byte[256];
    private int _start;
    private int _count;

    public SimPipe(long id)
    {
        string name = $"pipe:[{id}]";
        // O_RDONLY and O_WRONLY (fs/pipe.c create_pipe_files). The read end has no file to write into, so the
        // kernel's write refuses it (EINVAL here; Linux says EBADF for a read-only fd).
        ReadEnd = new OpenFile(FileKind.Regular, name, 0);
        WriteEnd = new OpenFile(FileKind.Regular, name, 1) { File = new SimFile(name) };
    }

    public OpenFile ReadEnd { get; }

    public OpenFile WriteEnd { get; }

    /// <summary>Bytes buffered (after <see cref="Drain"/>).</summary>
    public int Count => _count;

    /// <summary>No fd refers to the write end: a read of an empty pipe is end of file.</summary>
    public bool WritersGone => WriteEnd.Refs == 0;

    /// <summary>No fd refers to the read end: a write is EPIPE (and SIGPIPE for a program).</summary>
    public bool ReadersGone => ReadEnd.Refs == 0;

    /// <summary>Programs blocked reading this pipe, in arrival order.</summary>
    public Queue<ReadWaiter> Waiters { get; } = new();

    /// <summary>The host's pending read (its stream), or null.</summary>
    public PendingHostRead? HostRead { get; set; }

    /// <summary>Moves what programs wrote through the kernel into the buffer.</summary>
    public void Drain()
    {
        var text = WriteEnd.File!.Content;
        if (text.Length == 0)
        {
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        text.Clear();
        AppendRaw(bytes);
    }

    /// <summary>Appends bytes after whatever programs wrote before (the order of writes is kept).</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        Drain();
        AppendRaw(data);
    }

    private void AppendRaw(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }
        if (_start + _count + data.Length > _buffer.Length)
        {
            if (_count + data.Length > _buffer.Length)
            {
                var grown = new byte[Math.Max(_buffer.Length * 2, _count + data.Length)];
                _buffer.AsSpan(_start, _count).CopyTo(grown);
                _buffer = grown;
            }
            else
            {
                _buffer.AsSpan(_start, _count).CopyTo(_buffer);
            }
            _start = 0;
        }
        data.CopyTo(_buffer.AsSpan(_start + _count));
        _count += data.Length;
    }

    public int Take(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, _count);
        _buffer.AsSpan(_start, n).CopyTo(destination);
        _start += n;
        _count -= n;
        if (_count == 0)
        {
            _start = 0;
        }
        return n;
    }

    /// <summary>True when someone waits on this pipe (the driver then services it at every step).</summary>
    public bool HasWaiters => Waiters.Count > 0 || HostRead is not null;
}

/// <summary>A program blocked in a read: its task, the generation of the pause that stands for the read, and how much it wants.</summary>
internal readonly record struct ReadWaiter(SimTask Task, int Generation, int MaxBytes);

/// <summary>A read of the host's stream waiting for data: where to put it and the task to complete.</summary>
internal sealed class PendingHostRead(Memory<byte> buffer)
{
    public Memory<byte> Buffer { get; } = buffer;

    public TaskCompletionSource<int> Completion { get; } = new();
}

/// <summary>
/// The state the launcher keeps beside one <see cref="SimKernel"/>: pipes (keyed by their open file
/// descriptions, so a pipe disappears with its last reference), the environment of the programs the launcher
/// exec'd, what each program's last read returned, and file offsets for reads of the model's regular files.
/// Programs reach it from their <see cref="Programs.ProgramContext"/> through <see cref="Of"/>.
/// </summary>
internal sealed class SimIo
{
    private static readonly ConditionalWeakTable<SimKernel, SimIo> s_byKernel = new();

    private readonly ConditionalWeakTable<OpenFile, SimPipe> _pipes = new();
    private readonly ConditionalWeakTable<SimTask, Environment> _environments = new();
    private readonly ConditionalWeakTable<SimTask, byte[]> _lastRead = new();
    private readonly ConditionalWeakTable<OpenFile, StrongBox<int>> _offsets = new();
    private readonly HashSet<SimPipe> _watched = [];
    private readonly List<SimPipe> _scratch = [];
    private long _nextPipe;

    private SimIo(SimKernel kernel) => Kernel = kernel;

    public SimKernel Kernel { get; }

    public static SimIo Of(SimKernel kernel) => s_byKernel.GetValue(kernel, k => new SimIo(k));

    /// <summary>pipe2(O_CLOEXEC) for <paramref name="caller"/>: the read end's fd, then the write end's.</summary>
    public SysResult CreatePipe(SimTask caller, bool cloexec, out int readFd, out int writeFd, out SimPipe? pipe)
    {
        readFd = writeFd = -1;
        pipe = null;
        var p = new SimPipe(++_nextPipe);
        int limit = caller.Group.RlimitNofile;
        int r = caller.Files.Install(p.ReadEnd, cloexec, limit);
        if (r < 0)
        {
            return SysResult.Fail(Errno.EMFILE);
        }
        int w = caller.Files.Install(p.WriteEnd, cloexec, limit);
        if (w < 0)
        {
            Kernel.Close(caller, r);
            return SysResult.Fail(Errno.EMFILE);
        }
        _pipes.Add(p.ReadEnd, p);
        _pipes.Add(p.WriteEnd, p);
        readFd = r;
        writeFd = w;
        pipe = p;
        return SysResult.Success(0);
    }

    public SimPipe? PipeOf(OpenFile file) => _pipes.TryGetValue(file, out var p) ? p : null;

    /// <summary>Asks the driver to look at this pipe at every step until nobody waits on it.</summary>
    public void Watch(SimPipe pipe) => _watched.Add(pipe);

    // ---------------------------------------------------------------------------------------------------------
    // Environment.

    private sealed record Environment(ImmutableSortedDictionary<string, string> Variables);

    public void SetEnvironment(SimTask task, ImmutableSortedDictionary<string, string> variables) =>
        _environments.AddOrUpdate(task, new Environment(variables));

    /// <summary>
    /// The environment of a task: what the launcher gave it at exec, else (a child a program forked or spawned
    /// itself) its nearest ancestor's, as fork and execve pass environ on by default.
    /// </summary>
    public ImmutableSortedDictionary<string, string> EnvironmentOf(SimTask task)
    {
        for (SimTask? t = task; t is not null; t = t.RealParent)
        {
            if (_environments.TryGetValue(t, out var e) || _environments.TryGetValue(t.Group.Leader, out e))
            {
                return e.Variables;
            }
        }
        return ImmutableSortedDictionary<string, string>.Empty;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Reads by programs.

    public byte[] LastReadOf(SimTask task) => _lastRead.TryGetValue(task, out var data) ? data : [];

    /// <summary>
    /// read(fd, max) for a program: the bytes at once when the fd has some (or is at end of file), else null
    /// with the task registered as a waiter on the pipe (the caller then yields a pause). The result goes into
    /// the context's last result and last read.
    /// </summary>
    public SysResult? TryRead(SimTask task, int fd, int maxBytes)
    {
        var file = task.Files.Get(fd);
        if (file is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        if (maxBytes < 0)
        {
            return SysResult.Fail(Errno.EINVAL);
        }
        if (PipeOf(file) is { } pipe)
        {
            if (file == pipe.WriteEnd)
            {
                return SysResult.Fail(Errno.EBADF, "the write end of a pipe is not open for reading");
            }
            pipe.Drain();
            if (pipe.Count > 0 || pipe.WritersGone || maxBytes == 0)
            {
                return Deliver(task, pipe, maxBytes);
            }
            pipe.Waiters.Enqueue(new ReadWaiter(task, task.Generation, maxBytes));
            _lastRead.AddOrUpdate(task, []); // an EINTR leaves nothing read
            Watch(pipe);
            return null;
        }
        switch (file.Kind)
        {
            case FileKind.Regular when file.Path is "/dev/null" or "/dev/console":
                // /dev/null reads as empty; the model's console has no keyboard.
                _lastRead.AddOrUpdate(task, []);
                return SysResult.Success(0);
            case FileKind.Regular when file.File is { } f:
                var offset = _offsets.GetValue(file, _ => new StrongBox<int>());
                string text = f.Content.ToString();
                int start = Math.Min(offset.Value, text.Length);
                int length = Math.Min(maxBytes, text.Length - start);
                // Offsets count characters: the model's files hold text.
                var bytes = Encoding.UTF8.GetBytes(text.Substring(start, length));
                offset.Value = start + length;
                _lastRead.AddOrUpdate(task, bytes);
                return SysResult.Success(bytes.Length);
            case FileKind.CgroupDir:
                return SysResult.Fail(Errno.EISDIR);
            default:
                return SysResult.Fail(Errno.EINVAL, "the file does not support read");
        }
    }

    private SysResult Deliver(SimTask task, SimPipe pipe, int maxBytes)
    {
        var data = new byte[Math.Min(maxBytes, pipe.Count)];
        pipe.Take(data);
        _lastRead.AddOrUpdate(task, data);
        return SysResult.Success(data.Length);
    }

    /// <summary>
    /// write(fd, bytes) for a program with pipe semantics: to a pipe nobody can read, EPIPE and SIGPIPE to the
    /// writer (pipe_write); to a regular file, appended as text.
    /// </summary>
    public SysResult Write(SimTask task, int fd, ReadOnlySpan<byte> data)
    {
        var file = task.Files.Get(fd);
        if (file is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        if (PipeOf(file) is { } pipe)
        {
            if (file == pipe.ReadEnd)
            {
                return SysResult.Fail(Errno.EBADF, "the read end of a pipe is not open for writing");
            }
            if (pipe.ReadersGone)
            {
                Kernel.SendSignal(task, task, 13 /* SIGPIPE */, force: false);
                Kernel.Settle();
                return SysResult.Fail(Errno.EPIPE);
            }
            pipe.Append(data);
            if (pipe.HasWaiters)
            {
                Watch(pipe);
            }
            return SysResult.Success(data.Length);
        }
        return Kernel.Write(task, fd, Encoding.UTF8.GetString(data));
    }

    // ---------------------------------------------------------------------------------------------------------
    // The driver's service: waiters get their data or their end of file.

    /// <summary>
    /// Serves every watched pipe: programs blocked in a read are woken with data or end of file (scheduled at
    /// the current time), the host's pending read gets its bytes (its completion is added to
    /// <paramref name="completions"/>, run by the driver outside the kernel). True when anything was served.
    /// </summary>
    public bool Service(List<Action> completions)
    {
        if (_watched.Count == 0)
        {
            return false;
        }
        bool progress = false;
        _scratch.Clear();
        _scratch.AddRange(_watched);
        foreach (var pipe in _scratch)
        {
            pipe.Drain();
            while (pipe.Waiters.Count > 0 && (pipe.Count > 0 || pipe.WritersGone))
            {
                var w = pipe.Waiters.Peek();
                var data = new byte[Math.Min(w.MaxBytes, pipe.Count)];
                // The data is taken only if the task really is still waiting for it.
                var outcome = Kernel.WakeFromRead(w.Task, w.Generation, SysResult.Success(data.Length));
                if (outcome == SimKernel.ReadWake.Later)
                {
                    break;
                }
                pipe.Waiters.Dequeue();
                if (outcome == SimKernel.ReadWake.Woken)
                {
                    pipe.Take(data);
                    _lastRead.AddOrUpdate(w.Task, data);
                    progress = true;
                }
            }
            if (pipe.HostRead is { } read && (pipe.Count > 0 || pipe.WritersGone))
            {
                pipe.HostRead = null;
                int n = pipe.Take(read.Buffer.Span);
                completions.Add(() => read.Completion.TrySetResult(n));
                progress = true;
            }
            if (!pipe.HasWaiters)
            {
                _watched.Remove(pipe);
            }
        }
        return progress;
    }

    /// <summary>What is blocked on pipes, for a deadlock report.</summary>
    public IEnumerable<string> DescribeWaiters()
    {
        foreach (var pipe in _watched)
        {
            foreach (var w in pipe.Waiters)
            {
                yield return $"process {SimKernel.Label(w.Task)} ({w.Task.ProgramPath ?? "no program"}) reads {pipe.ReadEnd.Path}, whose write end is still open";
            }
            if (pipe.HostRead is not null)
            {
                yield return $"the host reads {pipe.ReadEnd.Path}, whose write end is still open ({pipe.WriteEnd.Refs} fd(s))";
            }
        }
    }
}
