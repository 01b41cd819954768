using System.Runtime.InteropServices;
using System.Text;

namespace Vireo.Host;

/// <summary>
/// A connected unix stream socket as a plain blocking Stream, through libc.
/// </summary>
/// <remarks>
/// For the CLI's one request per process: System.Net.Sockets costs ~20 ms to load and set up
/// on this class of machine (measured), a third of a virsh-style command's budget; this costs
/// well under one.
/// </remarks>
public sealed unsafe partial class UnixClient : FdStream
{
    [LibraryImport("libc", SetLastError = true)] private static partial int socket(int domain, int type, int protocol);
    [LibraryImport("libc", SetLastError = true)] private static partial int connect(int fd, byte* addr, int len);

    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;

    private UnixClient(int fd) : base(fd, socket: true) { }

    /// <summary>Connects; the IOException's message names the reason (e.g. "No such file or directory").</summary>
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
            var errno = Marshal.GetLastPInvokeError();
            var e = LastError();
            Native.close(fd);
            throw new IOException(e, errno);
        }
        return new UnixClient(fd);
    }
}
