using System.Runtime.InteropServices;
using System.Text;

namespace Vireo.Host;

/// <summary>
/// A listening unix socket as a bare fd, to hand to a child (QEMU's monitor). Made with libc
/// rather than System.Net.Sockets because a disposed .NET listener unlinks its path, which the
/// child still serves.
/// </summary>
public static unsafe partial class UnixListener
{
    [LibraryImport("libc", SetLastError = true)] private static partial int socket(int domain, int type, int protocol);
    [LibraryImport("libc", SetLastError = true)] private static partial int bind(int fd, byte* addr, int len);
    [LibraryImport("libc", SetLastError = true)] private static partial int listen(int fd, int backlog);

    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;

    /// <summary>Creates, binds and listens; the caller closes the fd with <see cref="Close"/>.</summary>
    public static int Create(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length >= 108) throw new IOException($"The socket path '{path}' is too long ({bytes.Length} bytes; at most 107); use a shorter run dir.");
        var fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw Error("socket", path);
        var addr = stackalloc byte[110];
        new Span<byte>(addr, 110).Clear();
        addr[0] = AF_UNIX;
        bytes.CopyTo(new Span<byte>(addr + 2, 108));
        if (bind(fd, addr, 2 + bytes.Length + 1) != 0) { var e = Error("bind", path); Native.close(fd); throw e; }
        if (listen(fd, 8) != 0) { var e = Error("listen", path); Native.close(fd); throw e; }
        return fd;
    }

    public static void Close(int fd) => Native.close(fd);

    private static IOException Error(string call, string path) =>
        new($"Cannot {call} the unix socket '{path}': {new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError()).Message}");
}
