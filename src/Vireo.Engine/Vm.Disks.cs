using System.Text.Json.Nodes;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>A disk as domblklist/domblkinfo report it.</summary>
public sealed record DiskReport(string Target, string Type, string Device, string Bus, string? Source, string? Format,
    string? Pool, string? Volume, bool ReadOnly, string Alias);

/// <summary>Disks of a domain: listing, change-media, attach-disk/detach-disk (QMP blockdev-* and device_add/del).</summary>
public sealed partial class Vm
{
    /// <summary>The disks of the running domain (or of the definition), volume disks resolved to their paths.</summary>
    public IReadOnlyList<DiskReport> Disks(bool inactive)
    {
        DomainDef d;
        lock (_state) d = inactive || Live is null ? Def : Live;
        return d.Devices.Disks.Select(disk =>
        {
            var source = disk.Source ?? disk.Url;
            var format = disk.Format;
            if (disk.Type == "volume" && source is null)
            {
                try { (source, format) = _hv.Storage.Resolve(disk); }
                catch (VireoException) { }
            }
            return new DiskReport(disk.TargetDev, disk.Type, disk.Device, disk.TargetBus ?? "", source, format, disk.SourcePool, disk.SourceVolume,
                disk.ReadOnly, disk.Alias ?? "");
        }).ToList();
    }

    /// <summary>Finds a disk by target (vda, hdc) or by source path, as virsh does.</summary>
    public DiskReport FindDisk(string targetOrPath, bool inactive)
    {
        var all = Disks(inactive);
        return all.FirstOrDefault(d => d.Target == targetOrPath)
            ?? all.FirstOrDefault(d => d.Source is not null && d.Source == targetOrPath)
            ?? throw new VireoException(ErrorCode.NotFound,
                $"Domain '{Name}' has no disk with target or source '{targetOrPath}'; its disks: {(all.Count == 0 ? "none" : string.Join(", ", all.Select(x => x.Target)))}.");
    }

    /// <summary>
    /// change-media: eject (source null) or insert/update the medium of a CD-ROM. Live through
    /// QMP's tray and medium commands, so the guest sees a real media change.
    /// </summary>
    public async Task ChangeMediaAsync(string target, string? source, bool live, bool config, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            CheckScope(live, config, "change the medium");
            if (source is not null && !File.Exists(source))
                throw new VireoException(ErrorCode.InvalidArgument, $"Cannot access '{source}': No such file. Give the path of an ISO image (vireo vol-path shows a volume's path).");
            foreach (var d in Targets(live, config))
            {
                var disk = d.Devices.Disks.FirstOrDefault(x => x.TargetDev == target || (x.Source is not null && x.Source == target))
                    ?? throw new VireoException(ErrorCode.NotFound, $"Domain '{Name}' has no disk '{target}'.");
                if (disk.Device != "cdrom")
                    throw new VireoException(ErrorCode.InvalidArgument, $"Disk '{disk.TargetDev}' of '{Name}' is a {disk.Device}, not a cdrom; media can only be changed on a cdrom (use attach-disk/detach-disk for disks).");
                target = disk.TargetDev;
            }
            if (live)
            {
                var copy = Live!.Clone();
                var disk = copy.Devices.Disks.First(x => x.TargetDev == target);
                var qmp = Monitor();
                try
                {
                    await qmp.ExecuteAsync("blockdev-open-tray", new JsonObject { ["id"] = disk.Alias, ["force"] = true }, ct);
                    await qmp.ExecuteAsync("blockdev-remove-medium", new JsonObject { ["id"] = disk.Alias }, ct);
                    if (disk.HasMedia) await DeleteNodesAsync(qmp, disk.Alias!, ct);
                    disk.Type = "file";
                    disk.SourcePool = disk.SourceVolume = null;
                    disk.Source = source;
                    if (source is not null)
                    {
                        disk.Format = "raw";
                        await GiveToRunningQemuAsync(source, write: false, ct);
                        var nodes = QemuArgv.DiskNodes(disk)!.Value;
                        await qmp.ExecuteAsync("blockdev-add", nodes.Storage, ct);
                        await qmp.ExecuteAsync("blockdev-add", nodes.Format, ct);
                        await qmp.ExecuteAsync("blockdev-insert-medium", new JsonObject { ["id"] = disk.Alias, ["node-name"] = $"{disk.Alias}-format" }, ct);
                        await qmp.ExecuteAsync("blockdev-close-tray", new JsonObject { ["id"] = disk.Alias }, ct);
                    }
                }
                catch (QmpErrorException e)
                {
                    throw new VireoException(ErrorCode.OperationFailed, $"Cannot change the medium of '{target}' in '{Name}': {e.Message}");
                }
                lock (_state) Live = copy;
                SaveStatus();
                _bus.Publish(Name, "TrayChange", $"disk {target}: {(source is null ? "opened" : "closed")}", "tray-change");   // as virsh prints it
            }
            if (config)
            {
                var def = Def.Clone();
                var disk = def.Devices.Disks.First(x => x.TargetDev == target);
                disk.Type = "file";
                disk.SourcePool = disk.SourceVolume = null;
                disk.Source = source;
                if (source is not null) disk.Format ??= "raw";
                _hv.Define(DomainXml.Write(def));
            }
        }
        finally { _opLock.Release(); }
    }

    private static Task DeleteNodesAsync(QmpClient qmp, string alias, CancellationToken ct) => DeleteNodePairAsync(qmp, $"{alias}-format", ct);

    private void CheckScope(bool live, bool config, string what)
    {
        if (live && !IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; use --config to {what} in its definition.");
        if (config && !Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is transient; it has no definition to change (use --live).");
        if (!live && !config) throw new VireoException(ErrorCode.InvalidArgument, "Nothing to change: neither --live nor --config.");
    }

    private IEnumerable<DomainDef> Targets(bool live, bool config)
    {
        if (live) yield return Live!;
        if (config) yield return Def;
    }

    /// <summary>attach-disk: a disk (or cdrom) into the running guest (blockdev-add + device_add) and/or the definition.</summary>
    public async Task<DiskDef> AttachDiskAsync(DiskDef disk, bool live, bool config, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            CheckScope(live, config, "add the disk");
            foreach (var d in Targets(live, config))
                if (d.Devices.Disks.Any(x => x.TargetDev == disk.TargetDev))
                    throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' already has a disk at target '{disk.TargetDev}'; pick another target (vireo domblklist {Name} shows them).");
            string? path = disk.Source;
            if (disk.Type == "volume") (path, disk.Format) = _hv.Storage.Resolve(disk);
            else if (path is not null && !File.Exists(path))
                throw new VireoException(ErrorCode.InvalidArgument, $"Cannot access storage file '{path}': No such file or directory. Create it (vireo vol-create-as) or fix the path.");
            if (live) await AttachDiskLiveAsync(disk, path, ct);
            if (config)
            {
                var def = Def.Clone();
                var copy = CloneDisk(disk);
                if (copy.Type == "volume") copy.Source = null;
                copy.Alias = null;
                if (copy.Address is { Type: "pci" } && !PciAddresses.SlotFree(def, copy.Address)) copy.Address = null;
                def.Devices.Disks.Add(copy);
                _hv.Define(DomainXml.Write(def));
            }
            return disk;
        }
        finally { _opLock.Release(); }
    }

    private async Task AttachDiskLiveAsync(DiskDef disk, string? path, CancellationToken ct)
    {
        var qmp = Monitor();
        var live = Live!.Clone();
        if (disk.TargetBus is "ide" or "sata")
            throw new VireoException(ErrorCode.InvalidOperation, $"Disks on the {disk.TargetBus} bus cannot be hot-plugged; use bus virtio or scsi, or attach with --config and restart '{Name}'.");
        var controllersBefore = live.Devices.Controllers.Select(c => c.Alias).ToHashSet();
        var added = CloneDisk(disk);
        added.Source = path;
        live.Devices.Disks.Add(added);
        try { DomainRules.Fill(live, running: true); }
        catch (DefinitionException e) { throw new VireoException(ErrorCode.InvalidOperation, e.Message); }
        if (DomainRules.Validate(live) is { Count: > 0 } problems) throw new VireoException(ErrorCode.InvalidArgument, problems[0].ToString());
        if (live.Os.Machine?.Contains("q35", StringComparison.Ordinal) == true && (added.TargetBus == "virtio" || live.Devices.Controllers.Any(c => !controllersBefore.Contains(c.Alias))))
            throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is a q35 machine, whose root bus takes no hot-plugged devices; attach with --config and restart it.");
        var newControllers = live.Devices.Controllers.Where(c => !controllersBefore.Contains(c.Alias)).ToList();
        // What a failed attach has added comes out again, the last first: nodes, controllers, file owners.
        await using var revert = new Reverter(e => Log.UndoFailed(_log, e, Name));
        try
        {
            foreach (var c in newControllers)
            {
                if (c.Type != "scsi") continue;
                var dev = new JsonObject { ["driver"] = "virtio-scsi-pci", ["id"] = c.Alias };
                if (c.Address?.Get("slot") is { } cs) { dev["bus"] = "pci.0"; dev["addr"] = cs; }
                await qmp.ExecuteAsync("device_add", dev, ct);
                revert.Add(() => QuietlyAsync(qmp, "device_del", new JsonObject { ["id"] = c.Alias }));
            }
            if (QemuArgv.DiskNodes(added) is { } nodes)
            {
                if (added.Source is { } file && added.SourceProtocol is null)
                {
                    var given = await GiveToRunningQemuAsync(file, write: !added.ReadOnly && added.Device != "cdrom", ct, chain: added.Format == "qcow2" && added.Type == "file");
                    revert.Add(() => HandBack(given));
                }
                await qmp.ExecuteAsync("blockdev-add", nodes.Storage, ct);
                revert.Add(() => DeleteNodesAsync(qmp, added.Alias!, CancellationToken.None));
                await qmp.ExecuteAsync("blockdev-add", nodes.Format, ct);
            }
            await qmp.ExecuteAsync("device_add", QemuArgv.DiskDevice(live, added), ct);
        }
        catch (Exception e) when (e is QmpErrorException or LaunchException)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot attach disk '{added.TargetDev}' to '{Name}': {e.Message}");
        }
        revert.Commit();
        disk.Alias = added.Alias;
        disk.Address = added.Address;
        if (added.Type == "volume") added.Source = path;
        lock (_state) Live = live;
        SaveStatus();
        _bus.Publish(Name, "DeviceAdded", added.Alias!, "device-added");
    }

    /// <summary>detach-disk: device_del (the guest lets go), then the block nodes go; and/or out of the definition.</summary>
    public async Task<DiskReport> DetachDiskAsync(string target, bool live, bool config, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            CheckScope(live, config, "remove the disk");
            DiskReport? found = null;
            foreach (var (d, inactive) in new[] { (live ? Live : null, false), (config ? Def : null, true) })
            {
                if (d is null) continue;
                var disk = FindDisk(target, inactive);
                found ??= disk;
                target = disk.Target;
            }
            if (live)
            {
                var disk = Live!.Devices.Disks.First(x => x.TargetDev == target);
                if (disk.TargetBus is "ide" or "sata")
                    throw new VireoException(ErrorCode.InvalidOperation, $"Disk '{target}' sits on the {disk.TargetBus} bus, which has no hot-unplug; detach it with --config and restart '{Name}' (a cdrom's medium can be ejected with change-media --eject).");
                await UnplugAsync(Monitor(), disk.Alias!, e => new VireoException(ErrorCode.OperationFailed, $"Cannot detach disk '{target}' from '{Name}': {e.Message}"), ct);
            }
            if (config)
            {
                var def = Def.Clone();
                def.Devices.Disks.RemoveAll(x => x.TargetDev == target);
                _hv.Define(DomainXml.Write(def));
            }
            return found!;
        }
        finally { _opLock.Release(); }
    }

    private static DiskDef CloneDisk(DiskDef disk)
    {
        var d = new DomainDef { Name = "x", Type = "qemu" };
        d.Devices.Disks.Add(disk);
        var copy = DomainXml.Parse(DomainXml.Write(d)).Devices.Disks[0];
        copy.Source = disk.Source;
        return copy;
    }

    /// <summary>domblkinfo: the disk's target, its capacity (what the guest sees), allocation (what its image holds) and physical size; zeros for an empty drive.</summary>
    public async Task<(string Target, ulong Capacity, ulong Allocation, ulong Physical)> BlockInfoAsync(string targetOrPath, CancellationToken ct)
    {
        var disk = FindDisk(targetOrPath, inactive: !IsActive);
        if (disk.Source is null) return (disk.Target, 0, 0, 0);
        if (!File.Exists(disk.Source))
            throw new VireoException(ErrorCode.NotFound, $"Disk '{disk.Target}' of '{Name}': {disk.Source} does not exist.");
        try
        {
            var info = await QemuImg.InfoAsync(disk.Source, ct);
            return (disk.Target, info.VirtualSize, info.ActualSize, disk.Type == "block" ? info.VirtualSize : (ulong)new FileInfo(disk.Source).Length);
        }
        catch (Vireo.Host.CommandException e)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot measure disk '{disk.Target}' of '{Name}': {e.Message}");
        }
    }

    /// <summary>Block statistics per disk (QMP query-blockstats), keyed by target.</summary>
    public async Task<IReadOnlyList<(string Target, JsonObject Stats)>> BlockStatsAsync(CancellationToken ct)
    {
        var qmp = Monitor();
        var reply = await qmp.ExecuteAsync("query-blockstats", null, ct);
        var byAlias = Disks(inactive: false).ToDictionary(d => d.Alias, d => d.Target);
        var list = new List<(string, JsonObject)>();
        foreach (var entry in reply?.AsArray() ?? [])
        {
            var qdev = entry?["qdev"]?.GetValue<string>() ?? "";
            // qdev is the device id, or its QOM path for devices on some buses.
            var alias = qdev.StartsWith("/machine/peripheral/", StringComparison.Ordinal) ? qdev["/machine/peripheral/".Length..].Split('/')[0] : qdev;
            if (byAlias.TryGetValue(alias, out var target) && entry!["stats"] is JsonObject stats) list.Add((target, stats));
        }
        return list;
    }
}
