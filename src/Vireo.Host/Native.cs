using System.Runtime.InteropServices;

namespace Vireo.Host;

/// <summary>The few libc calls .NET does not expose: posix_spawn with setsid, pidfd, waitpid, termios.</summary>
internal static unsafe partial class Native
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_NOCTTY = 0x100, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    public const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;
    public const int WNOHANG = 1;
    public const int POLLIN = 1;
    public const int EINTR = 4, ECHILD = 10;
    private const long SYS_pidfd_open = 434;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int posix_spawn(out int pid, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, void* fileActions, void* attr, nint* argv, nint* envp);
    [LibraryImport("libc", SetLastError = true)] public static partial int ioctl(int fd, uint request, int arg);
    [LibraryImport("libc")] public static partial uint geteuid();
    [LibraryImport("libc")] public static partial uint umask(uint mask);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int chown(string path, int owner, int group);
    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int stat_(string path, byte* buf);

    /// <summary>A file's owner and mode bits (stat(2); struct stat as x86-64 Linux lays it out: mode at 24, uid 28, gid 32).</summary>
    public static (uint Mode, uint Uid, uint Gid) Stat(string path)
    {
        var buf = stackalloc byte[256];
        if (stat_(path, buf) != 0) throw new IOException($"Cannot stat {path}: {new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError()).Message}");
        return (*(uint*)(buf + 24), *(uint*)(buf + 28), *(uint*)(buf + 32));
    }
    [LibraryImport("libc")] public static partial int posix_spawnattr_init(void* attr);
    [LibraryImport("libc")] public static partial int posix_spawnattr_destroy(void* attr);
    [LibraryImport("libc")] public static partial int posix_spawnattr_setflags(void* attr, short flags);
    [LibraryImport("libc")] public static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);
    [LibraryImport("libc")] public static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);
    [LibraryImport("libc")] public static partial int posix_spawn_file_actions_init(void* fa);
    [LibraryImport("libc")] public static partial int posix_spawn_file_actions_destroy(void* fa);
    [LibraryImport("libc")] public static partial int posix_spawn_file_actions_adddup2(void* fa, int fd, int newfd);
    [LibraryImport("libc")]
    public static partial int posix_spawn_file_actions_addopen(void* fa, int fd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int oflag, int mode);
    [LibraryImport("libc")] public static partial int sigemptyset(void* set);
    [LibraryImport("libc")] public static partial int sigfillset(void* set);
    [LibraryImport("libc")] public static partial int sigdelset(void* set, int signo);

    [LibraryImport("libc", SetLastError = true)] public static partial long syscall(long number, long a1, long a2);
    [LibraryImport("libc", SetLastError = true)] public static partial int waitpid(int pid, out int status, int options);
    [LibraryImport("libc", SetLastError = true)] public static partial int poll(PollFd* fds, nuint nfds, int timeout);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int kill(int pid, int sig);
    [LibraryImport("libc", SetLastError = true)]
    public static partial int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);
    [LibraryImport("libc", SetLastError = true)] public static partial int tcgetattr(int fd, void* termios);
    [LibraryImport("libc", SetLastError = true)] public static partial int tcsetattr(int fd, int actions, void* termios);
    [LibraryImport("libc")] public static partial void cfmakeraw(void* termios);
    [LibraryImport("libc", SetLastError = true)] public static partial int ioctl(int fd, ulong request, nint arg);

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    public static int PidfdOpen(int pid) => (int)syscall(SYS_pidfd_open, pid, 0);
}

/// <summary>Sockets, interface ioctls, device nodes and fd passing for the network layer.</summary>
internal static unsafe partial class NetNative
{
    public const int AF_INET = 2, AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0x80000;
    public const ulong TUNSETIFF = 0x400454ca;
    public const ulong SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, SIOCSIFHWADDR = 0x8924, SIOCSIFMTU = 0x8922,
        SIOCGIFMTU = 0x8921, SIOCGIFINDEX = 0x8933, SIOCBRDELBR = 0x89a1, SIOCBRADDIF = 0x89a2;
    public const short IFF_UP = 0x1, IFF_TAP = 0x0002, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;
    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1;

    [LibraryImport("libc", SetLastError = true)] public static partial int socket(int domain, int type, int protocol);
    [LibraryImport("libc", SetLastError = true)] public static partial int ioctl(int fd, ulong request, void* arg);
    [LibraryImport("libc", SetLastError = true)]
    public static partial uint if_nametoindex([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
    [LibraryImport("libc", SetLastError = true)]
    public static partial int mknod([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode, ulong dev);
    [LibraryImport("libc", SetLastError = true)] public static partial nint sendmsg(int fd, MsgHdr* msg, int flags);

    /// <summary>struct ifreq: a 16-byte name and a 24-byte union (flags, ifindex, mtu, hwaddr).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 40)]
    public struct IfReq
    {
        public fixed byte Name[16];
        public fixed byte Data[24];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec { public void* Base; public nuint Len; }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name; public uint NameLen;
        public IoVec* Iov; public nuint IovLen;
        public void* Control; public nuint ControlLen;
        public int Flags;
    }

    public static string LastError() => new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError()).Message;
}

/// <summary>Sends bytes with one file descriptor attached (SCM_RIGHTS), as QMP's getfd expects.</summary>
public static unsafe class FdPassing
{
    public static void Send(System.Runtime.InteropServices.SafeHandle socket, ReadOnlySpan<byte> data, int fd)
    {
        const int EAGAIN = 11;
        // cmsghdr (len, level, type) followed by the int fd, padded to 8 bytes.
        var control = stackalloc byte[24];
        new Span<byte>(control, 24).Clear();
        *(ulong*)control = 20;                      // CMSG_LEN(sizeof(int))
        *(int*)(control + 8) = NetNative.SOL_SOCKET;
        *(int*)(control + 12) = NetNative.SCM_RIGHTS;
        *(int*)(control + 16) = fd;
        fixed (byte* p = data)
        {
            var iov = new NetNative.IoVec { Base = p, Len = (nuint)data.Length };
            var msg = new NetNative.MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 24 };
            var s = (int)socket.DangerousGetHandle();
            for (int tries = 0; ; tries++)
            {
                var n = NetNative.sendmsg(s, &msg, 0x4000 /* MSG_NOSIGNAL */);
                if (n == data.Length) return;
                var err = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                if (n < 0 && err == EAGAIN && tries < 1000) { Thread.Sleep(1); continue; }
                throw new IOException(n < 0 ? $"sendmsg failed: {NetNative.LastError()}" : $"sendmsg sent {n} of {data.Length} bytes");
            }
        }
    }
}
