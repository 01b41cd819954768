using System.Runtime.InteropServices;
using System.Text;

namespace Vireo.Host;

/// <summary>
/// A connected unix stream socket as a plain blocking Stream, through libc.
/// </summary>
/// <remarks>
/// For the CLI's one request per process: System.Net.Sockets costs ~20 ms to load and set up
/// on this class of machine (measured), a third of a virsh-style command's budget; this costs
/// well under one. Reads poll in short slices so a CancellationToken can end them.
/// </remarks>
public sealed unsafe class UnixClient : Stream
{
    [DllImport("libc", SetLastError = true)] private static extern int socket(int domain, int type, int protocol);
    [DllImport("libc", SetLastError = true)] private static extern int connect(int fd, byte* addr, int len);
    [DllImport("libc", SetLastError = true)] private static extern nint read(int fd, byte* buf, nint count);
    [DllImport("libc", SetLastError = true)] private static extern nint send(int fd, byte* buf, nint count, int flags);

    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, MSG_NOSIGNAL = 0x4000;
    private int _fd;

    private UnixClient(int fd) => _fd = fd;

    /// <summary>Connects; the IOException's message names the path and the reason (e.g. "No such file or directory").</summary>
    public static UnixClient Connect(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length >= 108) throw new IOException($"socket path too long ({bytes.Length} bytes)");
        var fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw new IOException(LastError());
        var addr = stackalloc byte[110];
        new Span<byte>(addr, 110).Clear();
        addr[0] = AF_UNIX;
        bytes.CopyTo(new Span<byte>(addr + 2, 108));
        if (connect(fd, addr, 2 + bytes.Length + 1) != 0)
        {
            var e = LastError();
            Native.close(fd);
            throw new IOException(e);
        }
        return new UnixClient(fd);
    }

    private static string LastError() => new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError()).Message;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count), CancellationToken.None);

    public int Read(Span<byte> buffer, CancellationToken ct)
    {
        var pfd = new Native.PollFd { Fd = _fd, Events = Native.POLLIN };
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var rc = Native.poll(&pfd, 1, 100);
            if (rc == 0) continue;
            if (rc < 0 && Marshal.GetLastPInvokeError() == Native.EINTR) continue;
            fixed (byte* p = buffer)
            {
                var n = read(_fd, p, buffer.Length);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                    throw new IOException(LastError());
                }
                return (int)n;
            }
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(Read(buffer.Span, ct));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => Task.FromResult(Read(buffer.AsSpan(offset, count), ct));

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var done = 0;
            while (done < buffer.Length)
            {
                var n = send(_fd, p + done, buffer.Length - done, MSG_NOSIGNAL);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                    throw new IOException(LastError());
                }
                done += (int)n;
            }
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    protected override void Dispose(bool disposing)
    {
        if (_fd >= 0) { Native.close(_fd); _fd = -1; }
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
