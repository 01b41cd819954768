using Microsoft.Win32.SafeHandles;

namespace Vireo.Host;

/// <summary>Writes a file so that readers see the old or the new content, never a mix: temp file, fsync, rename, fsync dir.</summary>
public static class AtomicFile
{
    /// <param name="world">Readable by everyone (0644): for files a helper reads after dropping root, like dnsmasq's host files.</param>
    public static void Write(string path, string content, bool world = false)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp");
        try
        {
            // 0600 whatever the umask: definitions hold display passwords, status files the live XML.
            using (var fs = new FileStream(tmp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
                var bytes = System.Text.Encoding.UTF8.GetBytes(content);
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            if (world) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch { }
            throw;
        }
        SyncDirectory(dir);
    }

    private static void SyncDirectory(string dir)
    {
        var fd = Native.open(dir, Native.O_RDONLY | Native.O_CLOEXEC, 0);
        if (fd < 0) return;
        using var h = new SafeFileHandle(fd, ownsHandle: true);
        RandomAccess.FlushToDisk(h);
    }
}
