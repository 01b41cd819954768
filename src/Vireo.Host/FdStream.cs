using System.Runtime.InteropServices;

namespace Vireo.Host;

/// <summary>
/// A blocking Stream over a raw fd (a pty, a unix socket). Reads poll in short slices so that a
/// CancellationToken, or Dispose from another thread, ends them: closing an fd does not wake a
/// thread blocked in read(2) on Linux.
/// </summary>
public abstract unsafe partial class FdStream : Stream
{
    // LibraryImport (source-generated marshalling): no IL stubs to JIT at start-up.
    [LibraryImport("libc", SetLastError = true)] private static partial nint read(int fd, byte* buf, nint count);
    [LibraryImport("libc", SetLastError = true)] private static partial nint send(int fd, byte* buf, nint count, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial nint write(int fd, byte* buf, nint count);

    private const int MSG_NOSIGNAL = 0x4000;
    private readonly bool _socket;
    private int _fd;
    private volatile bool _closed;

    protected FdStream(int fd, bool socket)
    {
        _fd = fd;
        _socket = socket;
    }

    protected static string LastError() => new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError()).Message;

    /// <summary>Reads what is there (at least one byte), or 0 at end of file or once disposed.</summary>
    public int Read(Span<byte> buffer, CancellationToken ct)
    {
        var pfd = new Native.PollFd { Fd = _fd, Events = Native.POLLIN };
        while (!_closed)
        {
            ct.ThrowIfCancellationRequested();
            var rc = Native.poll(&pfd, 1, 100);
            if (rc == 0) continue;
            if (rc < 0)
            {
                if (Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                return 0;
            }
            fixed (byte* p = buffer)
            {
                var n = read(_fd, p, buffer.Length);
                if (n >= 0) return (int)n;
                var err = Marshal.GetLastPInvokeError();
                if (err == Native.EINTR) continue;
                if (err == 5 /* EIO: a pty whose other side closed */) return 0;
                throw new IOException(LastError());
            }
        }
        return 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count), CancellationToken.None);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(Read(buffer.Span, ct));
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => Task.FromResult(Read(buffer.AsSpan(offset, count), ct));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var done = 0;
            while (done < buffer.Length)
            {
                if (_closed) throw new IOException("The stream is closed.");
                var n = _socket ? send(_fd, p + done, buffer.Length - done, MSG_NOSIGNAL) : write(_fd, p + done, buffer.Length - done);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                    throw new IOException(LastError());
                }
                done += (int)n;
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    protected override void Dispose(bool disposing)
    {
        if (!_closed)
        {
            _closed = true;
            var fd = _fd;
            _fd = -1;
            // A reader in poll() notices within its slice; close after that, so the fd number
            // cannot be reused under it.
            Task.Delay(250).ContinueWith(_ => Native.close(fd), TaskScheduler.Default);
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
