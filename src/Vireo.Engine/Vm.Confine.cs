using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

// Confinement: a guest's QEMU runs as the daemon's --qemu-user (vireo-qemu), not root, and
// can open only what its definition gives it: those files are handed to that user for the run
// (DacLabels) and back at its end. <seclabel type='none'/> (or model='dac') opts a guest out.
public sealed partial class Vm
{
    /// <summary>The user this guest's QEMU runs as, or null for root (no --qemu-user, or the guest opted out).</summary>
    private QemuUser? ConfinedAs(DomainDef d) =>
        _o.QemuUser is { } u && !d.Seclabels.Any(l => l.Type == "none" && l.Model is null or "dac") ? u : null;

    /// <summary>What a confined guest may not have yet: the helpers and host paths that are not given to its user.</summary>
    private static IEnumerable<string> UnconfinableParts(DomainDef d)
    {
        // swtpm and virtiofsd stay root's: QEMU is given only their sockets.
        if (d.Devices.Hostdevs.Count > 0) yield return "<hostdev> devices";
        if (d.MemoryBacking is { Hugepages: true } && HugepagesMount(d) is not null) yield return "huge pages";   // without hugetlbfs the start says so itself
        if (d.Devices.Graphics.Any(g => g.ListenSocket is not null)) yield return "a display on a unix socket";
        if (d.Devices.Serials.Concat(d.Devices.Consoles).Concat(d.Devices.Channels).Concat(d.Devices.Parallels).Any(c => c.Type == "unix" && c.SourceMode == "connect"))
            yield return "a unix chardev that connects to another program's socket";
    }

    /// <summary>The files and directories QEMU opens by path for <paramref name="d"/> (backing chains included).</summary>
    private async Task<List<DacLabels.Need>> QemuNeedsAsync(DomainDef d, string channelDir, CancellationToken ct)
    {
        var needs = new List<DacLabels.Need>();
        foreach (var disk in d.Devices.Disks.Where(x => x.Source is not null && x.SourceProtocol is null))
        {
            var write = !disk.ReadOnly && disk.Device != "cdrom";
            needs.Add(new(disk.Source!, write));
            if (disk.Format == "qcow2" && disk.Type is "file" or "volume")
                foreach (var below in (await QemuImg.ChainAsync(disk.Source!, ct)).Skip(1))
                    needs.Add(new(below.Filename, Write: false));
        }
        foreach (var path in new[] { d.Os.Kernel, d.Os.Initrd, d.Os.Loader?.Path })
            if (path is not null) needs.Add(new(path, Write: false));
        if (d.Os.Nvram?.Path is { } nvram) needs.Add(new(nvram, Write: true));
        foreach (var c in d.Devices.Serials.Concat(d.Devices.Consoles).Concat(d.Devices.Channels).Concat(d.Devices.Parallels))
        {
            if (c.Type == "file" && c.SourcePath is { } file) needs.Add(new(file, Write: true));
            if (c.LogFile is { } log) needs.Add(new(log, Write: true));
        }
        // A 9p share is QEMU's own access to a tree: its top directory is given, as libvirt's DAC
        // driver does; what is inside keeps its owners (accessmode='mapped' keeps the guest's in xattrs).
        foreach (var fs in d.Devices.Filesystems.Where(f => f.DriverType != "virtiofs"))
            needs.Add(new(fs.Source, Write: !fs.ReadOnly, Directory: true));
        needs.Add(new(channelDir, Write: true, Directory: true));
        needs.Add(new(_o.PidFile(Name), Write: true));
        return needs;
    }

    /// <summary>
    /// Gives a confined guest's files to its user before QEMU starts: the checks first (what it
    /// may not have, what it could not reach), then the changes, each recorded so that stop, a
    /// failed start or the next daemon hands them back.
    /// </summary>
    private async Task ConfineAsync(DomainDef d, QemuUser user, string channelDir, CancellationToken ct)
    {
        if (UnconfinableParts(d).ToList() is { Count: > 0 } parts)
            throw new VireoException(ErrorCode.InvalidArgument,
                $"Domain '{Name}' has {string.Join(", ", parts)}, which Vireo does not give to the unprivileged QEMU user '{user.Name}' yet; add <seclabel type='none'/> to run it as root, or remove {(parts.Count == 1 ? "it" : "them")}.");
        if (d.Type == "kvm" && File.Exists("/dev/kvm") && !user.MayOpen("/dev/kvm", write: true))
            throw new VireoException(ErrorCode.InvalidArgument,
                $"/dev/kvm is not open to '{user.Name}' (it needs the kvm group with mode 0660, as udev sets it: chgrp kvm /dev/kvm; chmod 0660 /dev/kvm); or use type='qemu', or <seclabel type='none'/>.");
        // QEMU writes its pid file and makes its channel sockets itself: the files are made for it,
        // and the run dirs above them become passable (0711; what is in them stays 0600).
        Directory.CreateDirectory(channelDir);
        foreach (var dir in new[] { _o.DomainRunDir, Path.GetDirectoryName(channelDir)! })
            File.SetUnixFileMode(dir, (UnixFileMode)0x1c9 /* 0711 */);
        var needs = await QemuNeedsAsync(d, channelDir, ct);
        // Vireo's own directories (the data dir's pools, boot copies and NVRAM, the run dir) are made
        // passable for it; anyone else's directories are the user's to open, and named if closed.
        foreach (var n in needs) OpenOwnDirs(n.Path);
        var unreachable = needs.Select(n => DacLabels.Refusal(n, user)).OfType<string>().Distinct().ToList();
        if (unreachable.Count > 0)
            throw new VireoException(ErrorCode.InvalidArgument, $"Cannot start domain '{Name}' confined: {string.Join("; ", unreachable)}.", unreachable);
        var made = new HashSet<string>();
        foreach (var n in needs.Where(n => n.Write && !n.Directory && !File.Exists(n.Path)))
        {
            try { File.WriteAllBytes(n.Path, []); made.Add(n.Path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot make {n.Path} for the guest's QEMU: {e.Message}");
            }
        }
        try { DacLabels.Apply(needs, user, _o.DacRecord(Name), made); }
        catch (IOException e)
        {
            DacLabels.Restore(_o.DacRecord(Name));
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot start domain '{Name}' confined: {e.Message}");
        }
        _runUser = user;   // the helpers' sockets made during the launch are given too
    }

    private void OpenOwnDirs(string path)
    {
        foreach (var root in new[] { _o.DataDir, _o.RunDir })
        {
            var top = Path.GetFullPath(root);
            var full = Path.GetFullPath(path);
            if (!full.StartsWith(top + "/", StringComparison.Ordinal)) continue;
            for (var dir = Path.GetDirectoryName(full); dir is not null && dir.Length >= top.Length; dir = Path.GetDirectoryName(dir))
                if (Directory.Exists(dir) && (File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0)
                    File.SetUnixFileMode(dir, File.GetUnixFileMode(dir) | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
        }
    }

    /// <summary>A socket a helper listens on (swtpm, virtiofsd) that a confined QEMU connects to.</summary>
    private void GiveSocketToQemu(string socket)
    {
        if (_runUser is { } user) DacLabels.Apply([new(socket, Write: true)], user, _o.DacRecord(Name));
    }

    /// <summary>The user the running QEMU runs as, or null (root, or not running).</summary>
    private QemuUser? _runUser;

    /// <summary>virsh dominfo's "Security model": dac when guests are confined (this one unless it opted out), else none.</summary>
    public string SecurityModel => ConfinedAs(Def) is not null ? "dac" : "none";

    /// <summary>The running QEMU's label as libvirt's DAC driver writes it (+UID:+GID), or null.</summary>
    public string? SecurityLabel => _runUser is { } u ? $"+{u.Uid}:+{u.Gid}" : null;

    /// <summary>
    /// Gives a file the running QEMU opens from now on (a hot-plugged disk and its backing chain,
    /// a medium, a copy's destination, an overlay, a screenshot) to its user, recorded with the run's others.
    /// </summary>
    /// <returns>The files whose owner changed, for <see cref="HandBack"/> when the change is undone or the file is let go.</returns>
    private async Task<IReadOnlyList<string>> GiveToRunningQemuAsync(string path, bool write, CancellationToken ct, bool chain = false)
    {
        if (_runUser is not { } user) return [];
        var needs = new List<DacLabels.Need> { new(path, write) };
        if (chain) needs.AddRange((await QemuImg.ChainAsync(path, ct)).Skip(1).Select(i => new DacLabels.Need(i.Filename, Write: false)));
        foreach (var n in needs) OpenOwnDirs(n.Path);
        if (needs.Select(n => DacLabels.Refusal(n, user)).OfType<string>().FirstOrDefault() is { } why)
            throw new VireoException(ErrorCode.InvalidArgument, $"The QEMU of '{Name}' runs as {user.Name}, and {why}.");
        try { return DacLabels.Apply(needs, user, _o.DacRecord(Name)); }
        catch (IOException e) { throw new VireoException(ErrorCode.OperationFailed, e.Message); }
    }

    /// <summary>Hands back files the running QEMU no longer uses (a disk detached, a hot-plug undone); the rest stays given until it stops.</summary>
    private void HandBack(IReadOnlyCollection<string> paths)
    {
        try { DacLabels.Restore(_o.DacRecord(Name), paths); }
        catch (IOException e) { Log.UnconfineFailed(_log, e, Name); }
    }

    /// <summary>Hands back what a run gave its QEMU user (nothing when it was not confined).</summary>
    private void Unconfine()
    {
        _runUser = null;
        try { DacLabels.Restore(_o.DacRecord(Name)); }
        catch (IOException e) { Log.UnconfineFailed(_log, e, Name); }
    }
}
