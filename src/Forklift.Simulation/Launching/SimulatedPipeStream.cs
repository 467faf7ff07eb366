using Forklift.Abi;
using Forklift.Processes;

namespace Forklift.Simulation.Launching;

/// <summary>
/// The host's end of a child's stdio pipe as a <see cref="Stream"/>: the read end of its standard output or
/// error, or the write end of its standard input. The end is an fd of the host task (close-on-exec), so the
/// pipe's end-of-file and broken-pipe rules see it: the child reads end of file once this stream is disposed
/// (and no other fd refers to the write end); the host reads end of file once every fd that refers to the write
/// end is closed (the child's, at its exit, and any a grandchild inherited). Writes never block (the simulated
/// pipe has no capacity limit); a write after the child's read end is gone everywhere throws an
/// <see cref="IOException"/> (EPIPE). One read may be pending at a time.
/// </summary>
internal sealed class SimulatedPipeStream : PipeEndStream
{
    private readonly SimulatedProcessLauncher _launcher;
    private readonly SimPipe _pipe;
    private readonly int _fd;

    public SimulatedPipeStream(SimulatedProcessLauncher launcher, SimPipe pipe, int fd, bool readable)
        : base(readable)
    {
        _launcher = launcher;
        _pipe = pipe;
        _fd = fd;
    }

    public override int Read(Span<byte> buffer)
    {
        EnsureCan(read: true);
        if (TryTake(buffer, out int n))
        {
            return n;
        }
        // Blocks: data or end of file, by driving the simulation here, or by waiting for the thread that drives it.
        int got = 0;
        var copy = new byte[buffer.Length];
        if (!_launcher.TryDriveSync(() => TryTake(copy, out got)))
        {
            got = ReadAsync(copy).AsTask().GetAwaiter().GetResult();
        }
        copy.AsSpan(0, got).CopyTo(buffer);
        return got;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureCan(read: true);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }
        PendingHostRead pending;
        using (_launcher.Enter())
        {
            if (TryTake(buffer.Span, out int n))
            {
                return new ValueTask<int>(n);
            }
            if (_pipe.HostRead is not null)
            {
                throw new InvalidOperationException("Another read is already pending on this stream.");
            }
            pending = new PendingHostRead(buffer);
            _pipe.HostRead = pending;
            SimIo.Of(_launcher.Kernel).Watch(_pipe);
        }
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.UnsafeRegister(_ =>
            {
                using (_launcher.Enter())
                {
                    if (_pipe.HostRead == pending)
                    {
                        _pipe.HostRead = null;
                    }
                }
                _launcher.Defer(() => pending.Completion.TrySetCanceled(cancellationToken));
            }, null);
            pending.Completion.Task.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return new ValueTask<int>(_launcher.Drive(pending.Completion.Task));
    }

    // Under the lock: bytes now, or end of file (0); false when the read has to wait.
    private bool TryTake(Span<byte> buffer, out int n)
    {
        using (_launcher.Enter())
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            _pipe.Drain();
            if (_pipe.Count > 0 || _pipe.WritersGone || buffer.IsEmpty)
            {
                n = _pipe.Take(buffer);
                return true;
            }
            n = 0;
            return false;
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureCan(read: false);
        using (_launcher.Enter())
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            if (_pipe.ReadersGone)
            {
                // pipe_write: EPIPE (the host ignores SIGPIPE, as .NET does).
                throw new IOException($"Broken pipe: the child's standard input is closed ({ErrnoInfo.Name(Errno.EPIPE)}).", (int)Errno.EPIPE);
            }
            _pipe.Append(buffer);
            if (_pipe.HasWaiters)
            {
                SimIo.Of(_launcher.Kernel).Watch(_pipe);
            }
        }
        _launcher.Poke();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }
        try
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            return ValueTask.FromException(e);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            using (_launcher.Enter())
            {
                if (!IsDisposed)
                {
                    IsDisposed = true;
                    _launcher.Kernel.Close(_launcher.Host, _fd);
                    // A program blocked reading the other end now sees end of file; a pending host read ends.
                    if (_pipe.HostRead is { } pending)
                    {
                        _pipe.HostRead = null;
                        _launcher.Defer(() => pending.Completion.TrySetException(new ObjectDisposedException(nameof(SimulatedPipeStream))));
                    }
                    SimIo.Of(_launcher.Kernel).Watch(_pipe);
                }
            }
        }
        base.Dispose(disposing);
    }
}
