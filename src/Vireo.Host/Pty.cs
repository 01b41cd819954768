namespace Vireo.Host;

/// <summary>Opens the slave side of a QEMU pty for a console, in raw mode (no echo, no line editing).</summary>
public static unsafe class Pty
{
    public static FileStream OpenRaw(string path)
    {
        var fd = Native.open(path, Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC, 0);
        if (fd < 0)
            throw new IOException($"Cannot open the console pty {path}: {new System.ComponentModel.Win32Exception(System.Runtime.InteropServices.Marshal.GetLastPInvokeError()).Message}");
        var termios = stackalloc byte[256];
        if (Native.tcgetattr(fd, termios) == 0)
        {
            Native.cfmakeraw(termios);
            Native.tcsetattr(fd, 0, termios);
        }
        var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        return new FileStream(handle, FileAccess.ReadWrite, 1, isAsync: false);
    }
}
