using System.Globalization;

namespace Vireo.Host;

/// <summary>Who may open the daemon's files and sockets: its umask, a group by name, a socket's owner and mode.</summary>
public static class FileAccessRules
{
    /// <summary>
    /// The daemon's umask: what it creates is its own (0600 files, 0700 directories) whatever the
    /// shell it was started from had (under umask 000 the API socket was 0777). What others must
    /// reach is opened up by name, with its mode set explicitly.
    /// </summary>
    public static void PrivateByDefault() => Native.umask(0x3f /* 077 */);

    /// <summary>A group's id from /etc/group, or null when there is no such group.</summary>
    public static int? GroupId(string name) =>
        Groups().FirstOrDefault(g => g.Name == name) is { Name: not null } g ? g.Gid : null;

    /// <summary>/etc/group: each group's name, id and members (empty when the file cannot be read).</summary>
    public static IEnumerable<(string Name, int Gid, string[] Members)> Groups()
    {
        IEnumerable<string> lines;
        try { lines = File.ReadAllLines("/etc/group"); }
        catch (IOException) { yield break; }
        foreach (var line in lines)
        {
            var f = line.Split(':');
            if (f.Length >= 4 && int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
                yield return (f[0], gid, f[3].Split(',', StringSplitOptions.RemoveEmptyEntries));
        }
    }

    /// <summary>Gives a socket (or file) to root and a group, mode 0660; with no group, root's alone (0600).</summary>
    public static void OwnerAndGroup(string path, int? gid)
    {
        if (gid is { } g)
        {
            if (Native.chown(path, -1, g) != 0)
                throw new IOException($"Cannot give {path} to group {g}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        }
        else File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>A socket any local user may connect to (0666): the read-only ones.</summary>
    public static void Everyone(string path) => File.SetUnixFileMode(path, (UnixFileMode)0x1b6 /* 0666 */);
}
