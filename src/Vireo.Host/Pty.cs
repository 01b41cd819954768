using System.Runtime.InteropServices;

namespace Vireo.Host;

/// <summary>
/// The slave side of a QEMU pty, opened for a console in raw mode (no echo, no line editing).
/// Reads poll with a short timeout so that Dispose from another thread ends a blocked Read
/// (closing an fd does not wake a thread blocked in read(2) on Linux).
/// </summary>
public sealed unsafe class Pty : Stream
{
    [DllImport("libc", SetLastError = true)] private static extern nint read(int fd, byte* buf, nint count);
    [DllImport("libc", SetLastError = true)] private static extern nint write(int fd, byte* buf, nint count);

    private int _fd;
    private volatile bool _closed;

    private Pty(int fd) => _fd = fd;

    public static Pty OpenRaw(string path)
    {
        var fd = Native.open(path, Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC, 0);
        if (fd < 0)
            throw new IOException($"Cannot open the console pty {path}: {new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError()).Message}");
        var termios = stackalloc byte[256];
        if (Native.tcgetattr(fd, termios) == 0)
        {
            Native.cfmakeraw(termios);
            Native.tcsetattr(fd, 0, termios);
        }
        return new Pty(fd);
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var pfd = new Native.PollFd { Fd = _fd, Events = Native.POLLIN };
        while (!_closed)
        {
            var rc = Native.poll(&pfd, 1, 200);
            if (rc == 0) continue;
            if (rc < 0)
            {
                if (Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                return 0;
            }
            fixed (byte* p = &buffer[offset])
            {
                var n = read(_fd, p, count);
                if (n < 0 && Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                return n <= 0 ? 0 : (int)n; // EIO: QEMU closed the master
            }
        }
        return 0;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        fixed (byte* p = &buffer[offset])
        {
            var done = 0;
            while (done < count && !_closed)
            {
                var n = write(_fd, p + done, count - done);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                    throw new IOException("The console pty is closed.");
                }
                done += (int)n;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (!_closed)
        {
            _closed = true;
            // Give a reader in poll() its timeout to notice before the fd number can be reused.
            var fd = _fd;
            _fd = -1;
            Task.Delay(400).ContinueWith(_ => Native.close(fd));
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

/// <summary>Puts the user's terminal in raw mode for an interactive console; Dispose restores it.</summary>
public sealed unsafe class RawTerminal : IDisposable
{
    private readonly byte[] _saved = new byte[256];
    private readonly bool _active;

    public RawTerminal(int fd = 0)
    {
        fixed (byte* s = _saved)
        {
            if (Native.tcgetattr(fd, s) != 0) return; // not a terminal: nothing to do
        }
        var raw = stackalloc byte[256];
        Native.tcgetattr(fd, raw);
        Native.cfmakeraw(raw);
        Native.tcsetattr(fd, 0, raw);
        _active = true;
    }

    public void Dispose()
    {
        if (!_active) return;
        fixed (byte* s = _saved) Native.tcsetattr(0, 0, s);
    }
}
