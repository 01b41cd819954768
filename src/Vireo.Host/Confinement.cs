using System.Globalization;

namespace Vireo.Host;

/// <summary>
/// The unprivileged user QEMU runs as (vireo-qemu, made by set-up, as libvirt's libvirt-qemu):
/// its ids from /etc/passwd, and the command that starts a program as it.
/// </summary>
public sealed record QemuUser(string Name, int Uid, int Gid)
{
    public const string DefaultName = "vireo-qemu";

    /// <summary>The user by name, or null when /etc/passwd has no such user.</summary>
    public static QemuUser? Find(string name)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var f = line.Split(':');
                if (f.Length >= 4 && f[0] == name
                    && int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
                    && int.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
                    return new QemuUser(name, uid, gid);
            }
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>Whether the file's mode bits let this user open it (owner, group with its supplementary groups, others).</summary>
    public bool MayOpen(string path, bool write)
    {
        var (mode, uid, gid) = Native.Stat(path);
        var need = write ? 6u : 4u;
        if (uid == Uid) return (mode >> 6 & need) == need;
        if (InGroup((int)gid)) return (mode >> 3 & need) == need;
        return (mode & need) == need;
    }

    /// <summary>Whether <paramref name="gid"/> is this user's group or one of its supplementary groups (/etc/group).</summary>
    public bool InGroup(int gid)
    {
        return gid == Gid || FileAccessRules.Groups().Any(g => g.Gid == gid && g.Members.Contains(Name));
    }

    /// <summary>
    /// <paramref name="argv"/> run as this user by util-linux's setpriv, which execs it in place
    /// (same pid): the user's own groups (kvm for /dev/kvm), no capabilities left even in the
    /// bounding set, and no_new_privs, so no setuid program gives any back.
    /// </summary>
    /// <param name="lockMemory">
    /// Keep CAP_IPC_LOCK, and nothing else, for a guest whose memory is locked (mlockall past
    /// RLIMIT_MEMLOCK); raising the limit instead needs CAP_SYS_RESOURCE, which a daemon in a
    /// container may not have.
    /// </param>
    public IReadOnlyList<string> Wrap(IReadOnlyList<string> argv, bool lockMemory = false)
    {
        var caps = lockMemory ? "-all,+ipc_lock" : "-all";
        return ["/usr/bin/setpriv", $"--reuid={Uid}", $"--regid={Gid}", "--init-groups", "--no-new-privs",
            $"--inh-caps={caps}", .. lockMemory ? new[] { $"--ambient-caps={caps}" } : [], $"--bounding-set={caps}", "--", .. argv];
    }
}

/// <summary>A file's owner and group (stat), for callers outside the Host layer.</summary>
public static class FileOwner
{
    public static (uint Uid, uint Gid) Of(string path)
    {
        var st = Native.Stat(path);
        return (st.Uid, st.Gid);
    }
}

/// <summary>
/// File ownership for a confined QEMU, as libvirt's DAC driver does it: what QEMU must open is
/// given to its user when the guest starts and handed back when it stops. Each change is
/// recorded (path, the owner before) in a file before it is made, so a daemon killed half-way
/// hands back everything at its next start.
/// </summary>
public static class DacLabels
{
    /// <summary>One file QEMU opens: for writing, or only for reading; a directory QEMU makes files in.</summary>
    public readonly record struct Need(string Path, bool Write, bool Directory = false);

    /// <summary>
    /// Why <paramref name="user"/> could not reach <paramref name="path"/> (a directory above it it may
    /// not search), or null. Ownership is only changed on the file itself, never on the directories above.
    /// </summary>
    public static string? Unreachable(string path, QemuUser user)
    {
        for (var dir = Path.GetDirectoryName(Path.GetFullPath(path)); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (!System.IO.Directory.Exists(dir)) return null;   // a missing file is the preflight's to report
            var (uid, gid, mode) = Stat(dir);
            var search = uid == user.Uid ? (mode & 0x40) != 0 : user.InGroup(gid) ? (mode & 0x8) != 0 : (mode & 0x1) != 0;
            if (!search) return $"{user.Name} may not enter {dir} (mode {Convert.ToString(mode & 0xfff, 8)}, owner {uid}:{gid}), which holds {path}: give it o+x (chmod o+x {dir}), move the file, or opt the guest out with <seclabel type='none'/>";
        }
        return null;
    }

    /// <summary>Why <paramref name="n"/> cannot be given to <paramref name="user"/> (out of its reach, or the host's own file), or null.</summary>
    public static string? Refusal(Need n, QemuUser user)
    {
        if (Unreachable(n.Path, user) is { } far) return far;
        var exists = File.Exists(n.Path) || System.IO.Directory.Exists(n.Path);
        var why = exists ? Changes(n, user) ? SystemFile(n.Path) : null : NoNewFile(n.Path);
        return why is null ? null : $"{n.Path} {why}, which Vireo does not give to {user.Name}: copy what the guest needs into a pool";
    }

    /// <summary>Whether giving <paramref name="n"/> to <paramref name="user"/> changes its owner (read-only files anyone may read stay as they are).</summary>
    private static bool Changes(Need n, QemuUser user)
    {
        var (uid, gid, mode) = Stat(n.Path);
        if (!n.Write && !n.Directory && (mode & 0x4) != 0) return false;
        return uid != user.Uid || gid != user.Gid;
    }

    /// <summary>Gives what QEMU needs to <paramref name="user"/>, recording each change in <paramref name="record"/> first.</summary>
    /// <param name="made">Files Vireo has just made for QEMU (a serial log): no one else's, so never the host's own.</param>
    /// <returns>The paths whose owner this call changed (what <see cref="Restore(string, IReadOnlyCollection{string})"/> hands back).</returns>
    public static IReadOnlyList<string> Apply(IEnumerable<Need> needs, QemuUser user, string record, IReadOnlySet<string>? made = null)
    {
        var changed = new List<string>();
        // Added to what the run was given already (a hot-plugged disk joins its start's files).
        var done = File.Exists(record) ? File.ReadAllLines(record).Where(l => l.Length > 0).ToList() : [];
        foreach (var n in needs.DistinctBy(n => n.Path))
        {
            if (!File.Exists(n.Path) && !System.IO.Directory.Exists(n.Path)) continue;
            // Read-only and readable by anyone already (an ISO, a kernel, firmware in /usr/share), or
            // QEMU's already (another guest shares it, or a crash left it): nothing to change.
            if (!Changes(n, user)) continue;
            var (uid, gid, _) = Stat(n.Path);
            if (made?.Contains(n.Path) != true && SystemFile(n.Path) is { } why) throw new IOException($"{n.Path} {why}; Vireo does not give it to {user.Name}.");
            done.Add(string.Create(CultureInfo.InvariantCulture, $"{uid} {gid} {n.Path}"));
            AtomicFile.Write(record, string.Join("\n", done) + "\n");
            if (Native.chown(n.Path, user.Uid, user.Gid) != 0)
                throw new IOException($"Cannot give {n.Path} to {user.Name}: {new System.ComponentModel.Win32Exception(System.Runtime.InteropServices.Marshal.GetLastPInvokeError()).Message}");
            changed.Add(n.Path);
        }
        return changed;
    }

    // Not /var/log: guests' serial logs are kept there (libvirt's own tests do), and a file made
    // there for one run is an existing file at the next.
    private static readonly string[] SystemDirs = ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/proc", "/sys", "/root"];

    /// <summary>
    /// Why a file is the host's own and is never handed to a guest's QEMU (a disk or a serial
    /// "file" that names /etc/shadow), or null. Block devices under /dev may be disks; other
    /// device nodes may not.
    /// </summary>
    public static string? SystemFile(string path)
    {
        var full = Path.GetFullPath(path);
        if (SystemDirs.FirstOrDefault(d => full.StartsWith(d + "/", StringComparison.Ordinal)) is { } dir) return $"is a system file (under {dir})";
        if (full.StartsWith("/dev/", StringComparison.Ordinal) && !File.GetAttributes(full).HasFlag(FileAttributes.Directory)
            && (Native.Stat(full).Mode & 0xf000) != 0x6000 /* S_IFBLK */) return "is a device node that is not a disk";
        return null;
    }

    /// <summary>
    /// Why a file that does not exist yet may not be made for QEMU there, or null: a new file in
    /// the host's configuration or programs (a serial "file" in /etc/cron.d would be run as root)
    /// is refused.
    /// </summary>
    public static string? NoNewFile(string path)
    {
        var full = Path.GetFullPath(path);
        return SystemDirs.FirstOrDefault(d => full.StartsWith(d + "/", StringComparison.Ordinal)) is { } dir ? $"would be a new file under {dir}" : null;
    }

    /// <summary>Hands back what <paramref name="record"/> lists and removes it; a file gone meanwhile is skipped.</summary>
    public static void Restore(string record)
    {
        if (!File.Exists(record)) return;
        foreach (var line in File.ReadAllLines(record)) HandBack(line);
        File.Delete(record);
    }

    /// <summary>
    /// Hands back only <paramref name="paths"/> of what <paramref name="record"/> lists (a disk
    /// detached, or a hot-plug undone, while the guest runs on) and keeps the rest recorded.
    /// </summary>
    public static void Restore(string record, IReadOnlyCollection<string> paths)
    {
        if (paths.Count == 0 || !File.Exists(record)) return;
        var keep = new List<string>();
        var back = new List<string>();
        foreach (var line in File.ReadAllLines(record).Where(l => l.Length > 0))
            (line.Split(' ', 3) is [_, _, var path] && paths.Contains(path) ? back : keep).Add(line);
        if (back.Count == 0) return;
        // The record first: a crash between the two leaves a file QEMU's, never one recorded twice.
        AtomicFile.Write(record, keep.Count == 0 ? "" : string.Join("\n", keep) + "\n");
        foreach (var line in back) HandBack(line);
    }

    private static void HandBack(string line)
    {
        var f = line.Split(' ', 3);
        if (f.Length == 3 && int.TryParse(f[0], CultureInfo.InvariantCulture, out var uid) && int.TryParse(f[1], CultureInfo.InvariantCulture, out var gid))
            Native.chown(f[2], uid, gid);
    }

    private static (int Uid, int Gid, int Mode) Stat(string path)
    {
        var st = Native.Stat(path);
        return ((int)st.Uid, (int)st.Gid, (int)st.Mode);
    }
}
