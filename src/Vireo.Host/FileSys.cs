using System.Runtime.InteropServices;

namespace Vireo.Host;

/// <summary>Filesystem figures .NET does not expose: statvfs(3) for pool space, chown(2) for pool directories.</summary>
public static unsafe partial class FileSys
{
    public readonly record struct Space(ulong FragmentSize, ulong Blocks, ulong Free, ulong Available);

    [StructLayout(LayoutKind.Sequential)]
    private struct StatVfsBuf
    {
        public ulong Bsize, Frsize, Blocks, Bfree, Bavail, Files, Ffree, Favail, Fsid, Flag, Namemax;
        public fixed int Spare[6];
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statvfs(string path, StatVfsBuf* buf);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, int owner, int group);

    public static Space StatVfs(string path)
    {
        StatVfsBuf b;
        if (statvfs(path, &b) != 0) throw new IOException($"statvfs {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        return new Space(b.Frsize, b.Blocks, b.Bfree, b.Bavail);
    }

    public static void Chown(string path, int owner, int group)
    {
        if (chown(path, owner, group) != 0) throw new IOException($"chown {path}: {Marshal.GetLastPInvokeErrorMessage()}");
    }
}
