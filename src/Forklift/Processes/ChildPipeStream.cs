using Forklift.Abi;
using Forklift.Interop;

namespace Forklift.Processes;

/// <summary>
/// The parent's end of a stdio pipe as a <see cref="Stream"/>, truly asynchronous: the end is non-blocking
/// (O_NONBLOCK is set on the parent's open file description only; the child's end stays blocking), an
/// operation that would block registers the fd one-shot with the reactor and awaits readiness, then retries.
/// No thread is blocked by an asynchronous read or write; synchronous ones wait in poll(2).
/// One read and one write may be pending at a time (a pipe end is one-directional, so that means one).
/// </summary>
internal sealed class ChildPipeStream : PipeEndStream, IReactorTarget
{
    private const int EAGAIN = (int)Errno.EAGAIN;
    private const int EINTR = (int)Errno.EINTR;

    private readonly ISystemCalls _system;
    private readonly Reactor _reactor;
    private readonly FdHandle _handle;
    private readonly int _fd;
    private readonly Lock _lock = new();
    private TaskCompletionSource? _waiter;
    private ulong _key;

    /// <param name="system">The system calls.</param>
    /// <param name="reactor">The reactor that reports readiness.</param>
    /// <param name="fd">The parent's end, already non-blocking and close-on-exec; owned from now on.</param>
    /// <param name="readable">True for the read end of the child's stdout/stderr; false for the write end of its stdin.</param>
    public ChildPipeStream(ISystemCalls system, Reactor reactor, int fd, bool readable)
        : base(readable)
    {
        _system = system;
        _reactor = reactor;
        _handle = new FdHandle(fd, system);
        _fd = fd;
    }

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        EnsureCan(read: true);
        while (true)
        {
            int n = Try(buffer, default, read: true);
            if (n >= 0)
                return n;
            WaitSync(LibcFd.PollIn);
        }
    }

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureCan(read: true);
        cancellationToken.ThrowIfCancellationRequested();
        while (true)
        {
            int n = Try(buffer.Span, default, read: true);
            if (n >= 0)
                return n;
            await WaitAsync(LibcEpoll.In, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureCan(read: false);
        while (!buffer.IsEmpty)
        {
            int n = Try(default, buffer, read: false);
            if (n >= 0)
                buffer = buffer[n..];
            else
                WaitSync(LibcFd.PollOut);
        }
    }

    /// <inheritdoc/>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureCan(read: false);
        cancellationToken.ThrowIfCancellationRequested();
        while (!buffer.IsEmpty)
        {
            int n = Try(default, buffer.Span, read: false);
            if (n >= 0)
                buffer = buffer[n..];
            else
                await WaitAsync(LibcEpoll.Out, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One non-blocking read or write: bytes moved, or -1 when it would block. Throws on errors.</summary>
    private int Try(Span<byte> readBuffer, ReadOnlySpan<byte> writeBuffer, bool read)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added); // the fd number stays ours during the call, even against Dispose
            while (true)
            {
                int n = read ? _system.Read(_fd, readBuffer) : _system.Write(_fd, writeBuffer);
                if (n >= 0)
                    return n;
                if (n == -EINTR)
                    continue;
                if (n == -EAGAIN)
                    return -1;
                var errno = (Errno)(-n);
                throw new IOException(errno == Errno.EPIPE
                    ? "The child closed its end of the pipe (EPIPE)."
                    : $"{(read ? "read" : "write")} on the pipe failed: {ErrnoInfo.Name(errno)} ({ErrnoInfo.Message(errno)}).", -n);
            }
        }
        catch (ObjectDisposedException)
        {
            throw new ObjectDisposedException(GetType().Name);
        }
        finally
        {
            if (added)
                _handle.DangerousRelease();
        }
    }

    private void WaitSync(short events)
    {
        while (true)
        {
            bool added = false;
            int rc;
            try
            {
                _handle.DangerousAddRef(ref added);
                rc = _system.Poll(_fd, events, -1);
            }
            finally
            {
                if (added)
                    _handle.DangerousRelease();
            }
            if (rc >= 0 || rc != -EINTR)
                return; // ready, hung up or in error: the retry tells which
        }
    }

    private async Task WaitAsync(uint events, CancellationToken cancellationToken)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            if (_waiter is not null)
                throw new InvalidOperationException("Another read or write is already pending on this pipe.");
            _waiter = waiter;
            try
            {
                if (_key == 0)
                    _key = _reactor.Add(_fd, events | LibcEpoll.OneShot, this);
                else
                    _reactor.Modify(_key, _fd, events | LibcEpoll.OneShot);
            }
            catch
            {
                _waiter = null;
                throw;
            }
        }
        using (cancellationToken.UnsafeRegister(static (state, token) =>
               {
                   var (stream, w) = ((ChildPipeStream, TaskCompletionSource))state!;
                   stream.ClearWaiter(w);
                   w.TrySetCanceled(token);
               }, (this, waiter)))
        {
            await waiter.Task.ConfigureAwait(false);
        }
    }

    private void ClearWaiter(TaskCompletionSource waiter)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_waiter, waiter))
                _waiter = null;
        }
    }

    /// <summary>Readiness (or hang-up, or error): wake the pending operation, which retries.</summary>
    public void OnEvents(uint events)
    {
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            waiter = _waiter;
            _waiter = null;
        }
        waiter?.TrySetResult();
    }

    public void OnReactorFailed(Exception error)
    {
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            waiter = _waiter;
            _waiter = null;
        }
        waiter?.TrySetException(error);
    }

    /// <summary>Closes the parent's end (the child sees EOF on its stdin, or EPIPE/SIGPIPE on its output).</summary>
    protected override void Dispose(bool disposing)
    {
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            if (IsDisposed)
                return;
            IsDisposed = true;
            waiter = _waiter;
            _waiter = null;
            if (_key != 0)
                _reactor.Remove(_key, _fd); // before close: a reused fd number must never reach us
        }
        _handle.Dispose();
        waiter?.TrySetException(new ObjectDisposedException(GetType().Name));
        base.Dispose(disposing);
    }
}
