using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>How `vireo clone` makes each disk of the copy.</summary>
public enum CloneMode { Copy, Reflink, Linked }

/// <summary>One disk of the clone: which it was, and what it became.</summary>
public sealed record ClonedDisk(string Target, string From, string To, string How);

/// <summary>
/// virt-clone: a new domain from a shut-off one — new name, UUID and MACs, its
/// writable disks copied (qemu-img convert), reflinked or made linked qcow2 clones; read-only
/// and shareable disks and CD-ROMs are shared. The original's NVRAM is copied.
/// </summary>
public sealed class Cloner(Hypervisor hv)
{
    /// <param name="files">Destinations for the disks to copy, in order (virt-clone's --file); the rest are named automatically when <paramref name="auto"/>.</param>
    public async Task<(Vm Vm, IReadOnlyList<ClonedDisk> Disks)> CloneAsync(string original, string name, bool auto, IReadOnlyList<string> files,
        CloneMode mode, IReadOnlyList<string> macs, IProgress<double>? progress, CancellationToken ct)
    {
        var src = hv.Get(original);
        // Shut off, not merely paused: QEMU holds its images' write locks while the process lives.
        if (src.IsActive)
            throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{src.Name}' is {(src.State == DomainState.Paused ? "paused" : "running")}; shut it down first: its disks are in use while they would be copied.");
        if (DomainRules.NameProblem(name) is { } bad) throw new VireoException(ErrorCode.InvalidArgument, bad);
        if (hv.All().Any(v => v.Name == name)) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{name}' already exists; pick another --name.");

        var def = src.Def.Clone();
        var old = def.Name;
        def.Name = name;
        def.Uuid = Guid.NewGuid();
        def.Metadata?.Element(System.Xml.Linq.XName.Get("firstBoot", FirstBoot.Namespace))?.Remove();
        var nics = def.Devices.Interfaces;
        if (macs.Count > nics.Count) throw new VireoException(ErrorCode.InvalidArgument, $"{macs.Count} --mac given, but '{old}' has {nics.Count} network interface{(nics.Count == 1 ? "" : "s")}.");
        for (int i = 0; i < nics.Count; i++)
        {
            nics[i].Mac = i < macs.Count ? MacAddress.Normalize(macs[i]) ?? throw new VireoException(ErrorCode.InvalidArgument, $"--mac '{macs[i]}' is not a MAC address like 52:54:00:12:34:56.") : null;
            nics[i].TargetDev = null;
        }
        // Files of character devices named after the original (serial logs, agent sockets) follow the new name.
        foreach (var c in def.Devices.Serials.Concat(def.Devices.Consoles).Concat(def.Devices.Channels))
        {
            c.SourcePath = Renamed(c.SourcePath, old, name);
            c.LogFile = Renamed(c.LogFile, old, name);
        }

        var toClone = def.Devices.Disks.Where(x => x.Device == "disk" && !x.ReadOnly && !x.Shareable && (x.Source is not null || x.SourceVolume is not null)).ToList();
        if (files.Count > toClone.Count)
            throw new VireoException(ErrorCode.InvalidArgument, $"{files.Count} --file given, but '{old}' has {toClone.Count} disk{(toClone.Count == 1 ? "" : "s")} to copy.");
        for (int i = files.Count; i < toClone.Count; i++)
            if (!auto) throw new VireoException(ErrorCode.InvalidArgument,
                $"Disk {toClone[i].TargetDev} of '{old}' needs a destination: give --file PATH for each disk to copy, or --auto-clone to name them after '{name}'.");

        // A clone that fails half-way leaves none of its copies behind.
        await using var revert = new Reverter(e => Log.UndoFailed(hv.EngineLog, e, name));
        var result = new List<ClonedDisk>();
        for (int i = 0; i < toClone.Count; i++)
        {
            var disk = toClone[i];
            var index = i;
            IProgress<double> part = new Scaled(p => progress?.Report((index + p / 100) * 100 / toClone.Count));
            var vol = disk.SourceVolume is not null ? hv.Storage.GetVolume(disk.SourcePool!, disk.SourceVolume) : hv.Storage.FindByPath(disk.Source!);
            if (vol is null)
                throw new VireoException(ErrorCode.InvalidArgument, $"Disk {disk.TargetDev} ('{disk.Source}') is not in a storage pool; vireo clone copies pool volumes (add its directory as a pool, or copy it by hand).");
            string destName;
            if (i < files.Count)
            {
                var full = Path.GetFullPath(files[i]);
                if (Path.GetDirectoryName(full) != Path.GetDirectoryName(vol.Path))
                    throw new VireoException(ErrorCode.InvalidArgument, $"--file '{files[i]}' must be in the pool of the disk it copies ({Path.GetDirectoryName(vol.Path)}).");
                destName = Path.GetFileName(full);
            }
            else destName = NewName(vol.Name, old, name, mode == CloneMode.Linked ? ".qcow2" : null);
            VolumeState copy;
            if (mode == CloneMode.Linked)
            {
                copy = await hv.Storage.CreateAsync(vol.Pool, new VolumeDef { Name = destName, Format = "qcow2", BackingPath = vol.Path, BackingFormat = vol.Format }, null, ct);
                part.Report(100);
            }
            else copy = await hv.Storage.CopyAsync(vol, vol.Pool, destName, null, part, ct, reflink: mode == CloneMode.Reflink);
            revert.Add(() => hv.Storage.DeleteAsync(copy.Pool, copy.Name, force: true, CancellationToken.None));
            result.Add(new ClonedDisk(disk.TargetDev, vol.Path, copy.Path, mode switch { CloneMode.Linked => "linked clone", CloneMode.Reflink => "reflink", _ => "copy" }));
            if (disk.SourceVolume is not null) disk.SourceVolume = copy.Name;
            else disk.Source = copy.Path;
            if (mode == CloneMode.Linked) disk.Format = "qcow2";
        }
        if (def.Os.Nvram?.Path is { } nvram)
        {
            def.Os.Nvram.Path = Path.Combine(hv.Options.NvramDir, $"{name}_VARS.fd");
            if (File.Exists(nvram))
            {
                File.Copy(nvram, def.Os.Nvram.Path);
                var copied = def.Os.Nvram.Path;
                revert.Add(() => File.Delete(copied));
            }
        }
        var (vm, _) = hv.Define(DomainXml.Write(def));
        revert.Commit();
        return (vm, result);
    }

    /// <summary>Reports at once, on the caller's thread (Progress&lt;T&gt; posts to a context and may reorder).</summary>
    private sealed class Scaled(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }

    private static string? Renamed(string? path, string old, string name)
    {
        if (path is null) return null;
        var file = Path.GetFileName(path);
        return file.Contains(old, StringComparison.Ordinal) ? Path.Combine(Path.GetDirectoryName(path)!, file.Replace(old, name, StringComparison.Ordinal)) : path;
    }

    /// <summary>virt-clone's naming: a disk named after the original is named after the clone; any other gets "-clone".</summary>
    public static string NewName(string volume, string original, string clone, string? extension = null)
    {
        var ext = extension ?? Path.GetExtension(volume);
        var stem = Path.GetFileNameWithoutExtension(volume);
        return (stem.StartsWith(original, StringComparison.Ordinal) ? clone + stem[original.Length..] : stem + "-clone") + ext;
    }
}
