namespace Vireo.Host;

/// <summary>The slave side of a QEMU pty, opened for a console in raw mode (no echo, no line editing).</summary>
public sealed unsafe class Pty : FdStream
{
    private Pty(int fd) : base(fd, socket: false) { }

    public static Pty OpenRaw(string path)
    {
        var fd = Native.open(path, Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"Cannot open the console pty {path}: {LastError()}");
        var termios = stackalloc byte[256];
        if (Native.tcgetattr(fd, termios) == 0)
        {
            Native.cfmakeraw(termios);
            Native.tcsetattr(fd, 0, termios);
        }
        return new Pty(fd);
    }
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
