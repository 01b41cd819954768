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
