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

    /// <summary>
    /// A copy-on-write copy (FICLONE, what cp --reflink=always does): instant, sharing blocks
    /// until either side writes. Only on filesystems that can (btrfs, XFS with reflink, bcachefs).
    /// </summary>
    public static void Reflink(string source, string destination)
    {
        using var src = File.OpenHandle(source, FileMode.Open, FileAccess.Read);
        using var dst = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write);
        const uint FICLONE = 0x40049409;
        if (Native.ioctl(dst.DangerousGetHandle().ToInt32(), FICLONE, src.DangerousGetHandle().ToInt32()) != 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            dst.Dispose();
            File.Delete(destination);
            throw new IOException(errno is 95 or 18 or 22
                ? $"the filesystem of '{Path.GetDirectoryName(destination)}' cannot make reflink copies (btrfs or XFS with reflink can); copy without --reflink"
                : $"reflink of '{source}' failed: {new System.ComponentModel.Win32Exception(errno).Message}");
        }
    }
}
