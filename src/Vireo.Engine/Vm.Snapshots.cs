using System.Diagnostics;
using System.Text.Json.Nodes;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>
/// Snapshots: internal ones (qcow2 snapshot tags, with the guest's memory when it runs; QEMU's
/// snapshot-save/-load/-delete jobs, or qemu-img when it is off) and external disk-only ones
/// (a new qcow2 overlay per disk; deleting the snapshot commits the overlay into the image below).
/// Metadata: {config}/qemu/snapshot/DOMAIN/NAME.xml, the current one named in "current".
/// </summary>
public sealed partial class Vm
{
    // Snapshot metadata has its own lock: loading and saving it is file I/O (with fsync), which
    // must not hold up the state lock the QMP event worker takes.
    private readonly Lock _snapLock = new();
    private Dictionary<string, SnapshotDef>? _snaps;
    private string? _currentSnap;
    private int _jobSeq;

    private string SnapDir => _o.SnapshotDir(Name);

    private Dictionary<string, SnapshotDef> Snaps()
    {
        if (_snaps is not null) return _snaps;
        var map = new Dictionary<string, SnapshotDef>(StringComparer.Ordinal);
        if (Directory.Exists(SnapDir))
        {
            foreach (var f in Directory.EnumerateFiles(SnapDir, "*.xml"))
            {
                try { var s = SnapshotXml.Parse(File.ReadAllText(f)); map[s.Name] = s; }
                catch (DefinitionException e) { Log.BadDefinition(_log, f, e.Message, DefinitionFiles.SetAside(f)); }
            }
            var cur = Path.Combine(SnapDir, "current");
            _currentSnap = File.Exists(cur) ? File.ReadAllText(cur).Trim() : null;
            if (_currentSnap is not null && !map.ContainsKey(_currentSnap)) _currentSnap = null;
        }
        return _snaps = map;
    }

    private void SaveSnap(SnapshotDef s)
    {
        Directory.CreateDirectory(SnapDir);
        DefinitionFiles.Save(Path.Combine(SnapDir, s.Name + ".xml"), SnapshotXml.Write(s), $"snapshot '{s.Name}' of '{Name}'");
        Snaps()[s.Name] = s;
    }

    private void SetCurrent(string? name)
    {
        _currentSnap = name;
        Directory.CreateDirectory(SnapDir);
        var cur = Path.Combine(SnapDir, "current");
        if (name is null) File.Delete(cur); else AtomicFile.Write(cur, name + "\n");
    }

    public IReadOnlyList<SnapshotDef> Snapshots()
    {
        lock (_snapLock) return Snaps().Values.OrderBy(s => s.CreationTime).ThenBy(s => s.Name, StringComparer.Ordinal).ToList();
    }

    public string? CurrentSnapshot
    {
        get { lock (_snapLock) { Snaps(); return _currentSnap; } }
    }

    public SnapshotDef GetSnapshot(string name)
    {
        lock (_snapLock)
            return Snaps().GetValueOrDefault(name) ?? throw new VireoException(ErrorCode.NotFound,
                $"Domain snapshot not found: no snapshot with matching name '{name}' of '{Name}'. 'vireo snapshot-list {Name}' shows them.");
    }

    /// <summary>Disks a snapshot covers: writable disks with media (cdroms and read-only disks are left alone).</summary>
    private static List<DiskDef> SnapshotDisks(DomainDef d) =>
        d.Devices.Disks.Where(x => x.Device == "disk" && !x.ReadOnly && x.Source is not null).ToList();

    private DomainDef CurrentWithPaths()
    {
        var d = (Live ?? Def).Clone();
        foreach (var disk in d.Devices.Disks.Where(x => x.Type == "volume" && x.Source is null))
            (disk.Source, disk.Format) = _hv.Storage.Resolve(disk);
        return d;
    }

    /// <summary>snapshot-create from a &lt;domainsnapshot&gt; document: its name, description and, when every disk says external (or <paramref name="diskOnly"/>), disk-only.</summary>
    public Task<SnapshotDef> CreateSnapshotAsync(string xml, bool diskOnly, CancellationToken ct)
    {
        SnapshotDef given;
        try { given = SnapshotXml.Parse(xml); }
        catch (DefinitionException e) { throw VireoException.Invalid(e); }
        if (given.Disks.Any(x => x.SourceFile is not null))
            throw new VireoException(ErrorCode.InvalidArgument, "Overlay file names are chosen by Vireo (IMAGE.SNAPSHOT beside each image); leave <source file> out of the snapshot XML.");
        return CreateSnapshotAsync(string.IsNullOrEmpty(given.Name) ? null : given.Name, given.Description,
            diskOnly || given.Disks.Count > 0 && given.Disks.All(x => x.Snapshot is "external" or "no"), ct);
    }

    public async Task<SnapshotDef> CreateSnapshotAsync(string? name, string? description, bool diskOnly, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            var clock = Stopwatch.StartNew();
            var now = _o.Time.GetUtcNow().ToUnixTimeSeconds();
            name ??= now.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (StorageRules.VolumeNameProblem(name) is { } problem)
                throw new VireoException(ErrorCode.InvalidArgument, problem.Replace("Volume name", "Snapshot name").Replace("a volume is a file directly in its pool", "snapshot names are file names"));
            lock (_snapLock)
                if (Snaps().ContainsKey(name)) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' already has a snapshot '{name}'; pick another name or delete it first.");
            var active = IsActive;
            var before = CurrentWithPaths();
            var disks = SnapshotDisks(before);
            var snap = new SnapshotDef
            {
                Name = name,
                Description = description,
                CreationTime = now,
                Parent = CurrentSnapshot,
                Domain = (active ? Live! : Def).Clone(),
            };
            if (diskOnly)
            {
                if (disks.Count == 0) throw new VireoException(ErrorCode.InvalidArgument, $"Domain '{Name}' has no writable disk to take a disk-only snapshot of.");
                snap.State = "disk-snapshot";
                await ExternalSnapshotAsync(snap, disks, active, ct);
            }
            else
            {
                if (disks.FirstOrDefault(x => x.Format != "qcow2") is { } raw)
                    throw new VireoException(ErrorCode.InvalidArgument,
                        $"Disk '{raw.TargetDev}' ({raw.Source}) is {raw.Format ?? "raw"}; internal snapshots need every writable disk in qcow2. Use --disk-only for an external snapshot, which works on any disk.");
                if (disks.Count == 0 && active)
                    throw new VireoException(ErrorCode.InvalidArgument, $"Domain '{Name}' has no qcow2 disk to hold the memory state of an internal snapshot; add one, or use --disk-only.");
                snap.Disks = disks.Select(x => new SnapshotDiskDef { Name = x.TargetDev, Snapshot = "internal" }).ToList();
                if (active)
                {
                    snap.State = State == DomainState.Paused ? "paused" : "running";
                    snap.Memory = "internal";
                    var qmp = Monitor();
                    var nodes = await TopNodesAsync(qmp, ct);
                    await RunJobAsync(qmp, "snapshot-save", new JsonObject
                    {
                        ["tag"] = name,
                        ["vmstate"] = nodes[disks[0].Alias!],
                        ["devices"] = new JsonArray(disks.Select(x => (JsonNode)JsonValue.Create(nodes[x.Alias!])!).ToArray()),
                    }, ct);
                }
                else
                {
                    snap.State = "shutoff";
                    // All disks or none: a disk that fails takes the snapshot off the disks done before it.
                    await using var revert = new Reverter(e => Log.UndoFailed(_log, e, Name));
                    foreach (var disk in disks)
                    {
                        try { await QemuImg.SnapshotAsync(disk.Source!, 'c', name, ct); }
                        catch (CommandException e) { throw new VireoException(ErrorCode.OperationFailed, $"Cannot snapshot disk '{disk.TargetDev}': {e.Message}"); }
                        revert.Add(() => QemuImg.SnapshotAsync(disk.Source!, 'd', name, CancellationToken.None));
                    }
                    revert.Commit();
                }
            }
            lock (_snapLock)
            {
                SaveSnap(snap);
                SetCurrent(snap.Name);
            }
            Log.SnapshotDone(_log, Name, name, "created", clock.Elapsed.TotalMilliseconds);
            _bus.Publish(Name, "Created", name, "snapshot");
            return snap;
        }
        finally { _opLock.Release(); }
    }

    /// <summary>A qcow2 overlay on every disk: blockdev-snapshot while running, qemu-img create when off; the domain then writes to the overlays.</summary>
    private async Task ExternalSnapshotAsync(SnapshotDef snap, List<DiskDef> disks, bool active, CancellationToken ct)
    {
        var switched = new List<(string Target, string Path, string Format)>();
        var plan = new List<(DiskDef Disk, string Overlay)>();
        foreach (var disk in disks)
        {
            var dir = Path.GetDirectoryName(disk.Source!)!;
            var overlay = Path.Combine(dir, $"{Path.GetFileNameWithoutExtension(disk.Source!)}.{snap.Name}");
            if (File.Exists(overlay))
                throw new VireoException(ErrorCode.InvalidOperation, $"The overlay {overlay} for disk '{disk.TargetDev}' already exists; pick another snapshot name.");
            plan.Add((disk, overlay));
        }
        var qmp = active ? Monitor() : null;
        var nodes = qmp is null ? null : await TopNodesAsync(qmp, ct);
        try
        {
            // Disks QEMU has switched keep their overlay (the guest writes there now) and the
            // definition follows them; what was made for the others is undone, the last first.
            await using var revert = new Reverter(e => Log.UndoFailed(_log, e, Name));
            foreach (var (disk, overlay) in plan)
            {
                var size = (await QemuImg.InfoAsync(disk.Source!, ct)).VirtualSize;
                await QemuImg.CreateAsync(overlay, "qcow2", size, disk.Source, disk.Format ?? "raw", ct: ct);
                revert.Add(() => File.Delete(overlay));
                if (qmp is not null)
                {
                    var n = await NextNodeIndexAsync(qmp, disk.Alias!, ct);
                    var storage = $"{disk.Alias}-o{n}-storage";
                    var format = $"{disk.Alias}-o{n}-format";
                    var given = await GiveToRunningQemuAsync(overlay, write: true, ct);
                    revert.Add(() => HandBack(given));
                    await qmp.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = "file", ["filename"] = overlay, ["node-name"] = storage }, ct);
                    revert.Add(() => QuietlyAsync(qmp, "blockdev-del", new JsonObject { ["node-name"] = storage }));
                    await qmp.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = "qcow2", ["node-name"] = format, ["file"] = storage, ["backing"] = null }, ct);
                    revert.Add(() => QuietlyAsync(qmp, "blockdev-del", new JsonObject { ["node-name"] = format }));
                    await qmp.ExecuteAsync("blockdev-snapshot", new JsonObject { ["node"] = nodes![disk.Alias!], ["overlay"] = format }, ct);
                    revert.Commit(); // this disk is switched: its steps stay
                    switched.Add((disk.TargetDev, overlay, "qcow2"));
                }
            }
            revert.Commit();
        }
        catch (Exception e) when (e is CommandException or QmpErrorException)
        {
            if (switched.Count > 0) PointDisks(switched, live: true);
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot take the disk-only snapshot '{snap.Name}' of '{Name}': {e.Message}" +
                (switched.Count > 0 ? $" Disk{(switched.Count > 1 ? "s" : "")} {string.Join(", ", switched.Select(x => x.Target))} already write to {string.Join(", ", switched.Select(x => x.Path))}." : ""));
        }
        snap.Disks = plan.Select(p => new SnapshotDiskDef { Name = p.Disk.TargetDev, Snapshot = "external", SourceFile = p.Overlay, DriverType = "qcow2" }).ToList();
        PointDisks(plan.Select(p => (p.Disk.TargetDev, p.Overlay, "qcow2")).ToList(), active);
        RefreshPoolsOf(plan.Select(p => p.Overlay));
    }

    /// <summary>Disks now live in other image files: the running definition and the persistent one follow.</summary>
    private void PointDisks(IReadOnlyList<(string Target, string Path, string Format)> moves, bool live)
    {
        static void Apply(DomainDef d, IReadOnlyList<(string Target, string Path, string Format)> moves)
        {
            foreach (var (target, path, format) in moves)
            {
                var disk = d.Devices.Disks.FirstOrDefault(x => x.TargetDev == target);
                if (disk is null) continue;
                disk.Type = "file";
                disk.SourcePool = disk.SourceVolume = null;
                disk.Source = path;
                disk.Format = format;
            }
        }
        if (live && Live is not null)
        {
            var copy = Live.Clone();
            Apply(copy, moves);
            lock (_state) Live = copy;
            SaveStatus();
        }
        if (Persistent)
        {
            var def = Def.Clone();
            Apply(def, moves);
            _hv.Define(DomainXml.Write(def));
        }
    }

    private void RefreshPoolsOf(IEnumerable<string> paths)
    {
        foreach (var dir in paths.Select(Path.GetDirectoryName).Distinct())
            foreach (var p in _hv.Storage.All().Where(p => p.IsActive && p.Dir == dir))
                _ = _hv.Storage.RefreshAsync(p.Name, CancellationToken.None);
    }

    /// <summary>The next free overlay number for a disk's node names (ALIAS-oN-format/-storage).</summary>
    private static async Task<int> NextNodeIndexAsync(QmpClient qmp, string alias, CancellationToken ct)
    {
        var named = await qmp.ExecuteAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, ct);
        var prefix = $"{alias}-o";
        var used = (named?.AsArray() ?? []).Select(n => n?["node-name"]?.GetValue<string>() ?? "")
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .Select(n => int.TryParse(n[prefix.Length..].Split('-')[0], out var i) ? i : 0);
        return used.DefaultIfEmpty(0).Max() + 1;
    }

    /// <summary>The node each disk device reads from now (query-block), keyed by device id (the disk's alias).</summary>
    private static async Task<Dictionary<string, string>> TopNodesAsync(QmpClient qmp, CancellationToken ct)
    {
        var reply = await qmp.ExecuteAsync("query-block", null, ct);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var b in reply?.AsArray() ?? [])
        {
            var qdev = b?["qdev"]?.GetValue<string>() ?? "";
            var id = qdev.StartsWith("/machine/peripheral/", StringComparison.Ordinal) ? qdev["/machine/peripheral/".Length..].Split('/')[0] : qdev;
            if (b?["inserted"]?["node-name"]?.GetValue<string>() is { } node) map[id] = node;
        }
        return map;
    }

    /// <summary>
    /// Runs a QMP job to its end: polls query-jobs, completes block jobs that become ready
    /// (active commit pivots), reports progress, and turns a job's error into an exception.
    /// </summary>
    private async Task RunJobAsync(QmpClient qmp, string command, JsonObject args, CancellationToken ct, IProgress<double>? progress = null, bool block = false)
    {
        var id = $"vireo-{command}-{Interlocked.Increment(ref _jobSeq)}";
        args["job-id"] = id;
        if (block) args["auto-dismiss"] = false;
        await qmp.ExecuteAsync(command, args, ct);
        var completed = false;
        while (true)
        {
            var jobs = await qmp.ExecuteAsync("query-jobs", null, ct);
            var job = jobs?.AsArray().FirstOrDefault(j => j?["id"]?.GetValue<string>() == id);
            if (job is null) return; // dismissed on its own: done
            var status = job["status"]?.GetValue<string>();
            var total = job["total-progress"]?.GetValue<double>() ?? 0;
            if (total > 0) progress?.Report(100.0 * (job["current-progress"]?.GetValue<double>() ?? 0) / total);
            if (status == "ready" && !completed)
            {
                await qmp.ExecuteAsync("job-complete", new JsonObject { ["id"] = id }, ct);
                completed = true;
            }
            else if (status == "concluded")
            {
                var error = job["error"]?.GetValue<string>();
                await qmp.ExecuteAsync("job-dismiss", new JsonObject { ["id"] = id }, ct);
                if (error is not null) throw new QmpErrorException(command, "GenericError", error);
                progress?.Report(100);
                return;
            }
            await Task.Delay(20, ct);
        }
    }

    /// <summary>snapshot-revert: the disks (and, for a snapshot with memory, the running guest) go back to the snapshot.</summary>
    public async Task RevertSnapshotAsync(string name, bool? paused, CancellationToken ct)
    {
        var snap = GetSnapshot(name);
        await _opLock.WaitAsync(ct);
        try
        {
            var clock = Stopwatch.StartNew();
            if (snap.IsExternal) await RevertExternalAsync(snap, ct);
            else if (snap.Memory == "internal") await RevertWithMemoryAsync(snap, paused, ct);
            else
            {
                if (IsActive) await StopQemuAsync("from snapshot", ct);
                foreach (var disk in SnapshotDisks(CurrentWithPaths()).Where(x => snap.Disks.Any(s => s.Name == x.TargetDev)))
                {
                    try { await QemuImg.SnapshotAsync(disk.Source!, 'a', snap.Name, ct); }
                    catch (CommandException e) { throw new VireoException(ErrorCode.OperationFailed, $"Cannot revert disk '{disk.TargetDev}' to '{snap.Name}': {e.Message}"); }
                }
            }
            lock (_snapLock) SetCurrent(snap.Name);
            Log.SnapshotDone(_log, Name, name, "reverted", clock.Elapsed.TotalMilliseconds);
            _bus.Publish(Name, "Reverted", name, "snapshot");
        }
        finally { _opLock.Release(); }
    }

    private async Task RevertWithMemoryAsync(SnapshotDef snap, bool? paused, CancellationToken ct)
    {
        var current = CurrentWithPaths();
        foreach (var sd in snap.Disks)
        {
            var disk = current.Devices.Disks.FirstOrDefault(x => x.TargetDev == sd.Name)
                ?? throw new VireoException(ErrorCode.InvalidOperation, $"Snapshot '{snap.Name}' covers disk '{sd.Name}', which '{Name}' no longer has; attach it again before reverting.");
            var info = await QemuImg.InfoAsync(disk.Source!, ct);
            if (info.Snapshots?.Contains(snap.Name) != true)
                throw new VireoException(ErrorCode.InvalidOperation,
                    $"Disk '{sd.Name}' ({disk.Source}) does not hold snapshot '{snap.Name}' (a disk-only snapshot came after it and put an overlay on top); revert to that external snapshot's parent chain first.");
        }
        if (!IsActive)
        {
            var live = Def.Clone();
            var emulator = Preflight(live);
            await LaunchAsync(live, emulator, paused: true, ct);
        }
        var qmp = Monitor();
        var nodes = await TopNodesAsync(qmp, ct);
        // With paths: a pool volume's disk has no source path in the running definition itself.
        var disks = SnapshotDisks(CurrentWithPaths()).Where(x => snap.Disks.Any(s => s.Name == x.TargetDev)).ToList();
        if (State == DomainState.Running)
        {
            lock (_state) _pauseReason = "from snapshot";
            await qmp.ExecuteAsync("stop", null, ct);
        }
        try
        {
            await RunJobAsync(qmp, "snapshot-load", new JsonObject
            {
                ["tag"] = snap.Name,
                ["vmstate"] = nodes[disks[0].Alias!],
                ["devices"] = new JsonArray(disks.Select(x => (JsonNode)JsonValue.Create(nodes[x.Alias!])!).ToArray()),
            }, ct);
        }
        catch (QmpErrorException e)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot load snapshot '{snap.Name}' into '{Name}': {e.Message}");
        }
        var run = paused switch { true => false, false => true, null => snap.State == "running" };
        if (run)
        {
            await qmp.ExecuteAsync("cont", null, ct);
            SetState(DomainState.Running, "from snapshot", "Resumed", "FromSnapshot");
        }
        else SetState(DomainState.Paused, "from snapshot", "Suspended", "FromSnapshot");
    }

    /// <summary>
    /// Back to a disk-only snapshot: the guest stops, every disk gets a new overlay on the image the
    /// snapshot froze. The overlay it wrote to since is dropped only when nothing else needs it.
    /// </summary>
    private async Task RevertExternalAsync(SnapshotDef snap, CancellationToken ct)
    {
        if (IsActive) await StopQemuAsync("from snapshot", ct);
        var current = CurrentWithPaths();
        var moves = new List<(string Target, string Path, string Format)>();
        var drop = new List<string>();
        foreach (var sd in snap.Disks.Where(x => x.Snapshot == "external"))
        {
            var frozen = snap.Domain?.Devices.Disks.FirstOrDefault(x => x.TargetDev == sd.Name);
            var frozenPath = frozen is null ? null : frozen.Type == "volume" ? _hv.Storage.Resolve(frozen).Path : frozen.Source;
            if (frozenPath is null || !File.Exists(frozenPath))
                throw new VireoException(ErrorCode.InvalidOperation, $"The image disk '{sd.Name}' had at snapshot '{snap.Name}' is gone; cannot revert.");
            var frozenFormat = frozen!.Type == "volume" ? _hv.Storage.Resolve(frozen).Format : frozen.Format ?? "raw";
            var now = current.Devices.Disks.FirstOrDefault(x => x.TargetDev == sd.Name)?.Source;
            if (now is not null && now != frozenPath && !NeededBySnapshots(now, exceptOverlayOf: null))
            {
                var info = await QemuImg.InfoAsync(now, ct);
                if ((info.FullBackingFile ?? info.BackingFile) == frozenPath) drop.Add(now);
            }
            // The new overlay takes the snapshot's overlay name when that file is the one dropped.
            var overlay = Path.Combine(Path.GetDirectoryName(frozenPath)!, $"{Path.GetFileNameWithoutExtension(frozenPath)}.{snap.Name}");
            if (File.Exists(overlay) && drop.Remove(overlay)) File.Delete(overlay);
            for (var n = 1; File.Exists(overlay); n++)
                overlay = Path.Combine(Path.GetDirectoryName(frozenPath)!, $"{Path.GetFileNameWithoutExtension(frozenPath)}.{snap.Name}-r{n}");
            var size = (await QemuImg.InfoAsync(frozenPath, ct)).VirtualSize;
            await QemuImg.CreateAsync(overlay, "qcow2", size, frozenPath, frozenFormat, ct: ct);
            moves.Add((sd.Name, overlay, "qcow2"));
        }
        foreach (var f in drop) File.Delete(f);
        PointDisks(moves, live: false);
        RefreshPoolsOf(moves.Select(m => m.Path));
    }

    /// <summary>Whether any snapshot's saved domain still uses this image (so it must stay).</summary>
    private bool NeededBySnapshots(string path, string? exceptOverlayOf)
    {
        lock (_snapLock)
            return Snaps().Values.Any(s => s.Name != exceptOverlayOf && s.Domain is not null &&
                s.Domain.Devices.Disks.Any(x => x.Source == path));
    }

    /// <summary>
    /// snapshot-delete. Internal: the tag goes from every disk. External: the overlay the snapshot
    /// started is committed into the image below it, so no data is lost and the chain gets shorter;
    /// images another snapshot or the guest still needs are kept.
    /// </summary>
    public async Task DeleteSnapshotAsync(string name, IProgress<double>? progress, CancellationToken ct)
    {
        var snap = GetSnapshot(name);
        await _opLock.WaitAsync(ct);
        try
        {
            var clock = Stopwatch.StartNew();
            if (snap.IsExternal) await DeleteExternalAsync(snap, progress, ct);
            else await DeleteInternalAsync(snap, ct);
            lock (_snapLock)
            {
                foreach (var child in Snaps().Values.Where(s => s.Parent == snap.Name).ToList())
                {
                    child.Parent = snap.Parent;
                    SaveSnap(child);
                }
                Snaps().Remove(snap.Name);
                File.Delete(Path.Combine(SnapDir, snap.Name + ".xml"));
                if (_currentSnap == snap.Name) SetCurrent(snap.Parent);
            }
            Log.SnapshotDone(_log, Name, name, "deleted", clock.Elapsed.TotalMilliseconds);
            _bus.Publish(Name, "Deleted", name, "snapshot");
        }
        finally { _opLock.Release(); }
    }

    private async Task DeleteInternalAsync(SnapshotDef snap, CancellationToken ct)
    {
        var current = CurrentWithPaths();
        if (IsActive)
        {
            var qmp = Monitor();
            var nodes = await TopNodesAsync(qmp, ct);
            var holders = new List<DiskDef>();
            foreach (var disk in SnapshotDisks(Live!).Where(x => snap.Disks.Any(s => s.Name == x.TargetDev)))
            {
                var src = current.Devices.Disks.First(x => x.TargetDev == disk.TargetDev).Source!;
                if ((await QemuImg.InfoAsync(src, ct)).Snapshots?.Contains(snap.Name) == true) holders.Add(disk);
                else if ((await QemuImg.ChainAsync(src, ct)).Any(i => i.Snapshots?.Contains(snap.Name) == true))
                    throw new VireoException(ErrorCode.InvalidOperation,
                        $"Snapshot '{snap.Name}' lives in a backing image of disk '{disk.TargetDev}', which the running guest only reads; shut '{Name}' off to delete it.");
            }
            if (holders.Count == 0) return;
            try
            {
                await RunJobAsync(qmp, "snapshot-delete", new JsonObject
                {
                    ["tag"] = snap.Name,
                    ["devices"] = new JsonArray(holders.Select(x => (JsonNode)JsonValue.Create(nodes[x.Alias!])!).ToArray()),
                }, ct);
            }
            catch (QmpErrorException e) { throw new VireoException(ErrorCode.OperationFailed, $"Cannot delete snapshot '{snap.Name}': {e.Message}"); }
            return;
        }
        foreach (var disk in SnapshotDisks(current).Where(x => snap.Disks.Any(s => s.Name == x.TargetDev)))
        {
            // The tag may sit lower in the chain when a disk-only snapshot came later.
            var holder = (await QemuImg.ChainAsync(disk.Source!, ct)).FirstOrDefault(i => i.Snapshots?.Contains(snap.Name) == true);
            if (holder is null) continue;
            try { await QemuImg.SnapshotAsync(holder.Filename, 'd', snap.Name, ct); }
            catch (CommandException e) { throw new VireoException(ErrorCode.OperationFailed, $"Cannot delete snapshot '{snap.Name}' from '{holder.Filename}': {e.Message}"); }
        }
    }

    private async Task DeleteExternalAsync(SnapshotDef snap, IProgress<double>? progress, CancellationToken ct)
    {
        var current = CurrentWithPaths();
        foreach (var sd in snap.Disks.Where(x => x.Snapshot == "external"))
        {
            var frozen = snap.Domain?.Devices.Disks.FirstOrDefault(x => x.TargetDev == sd.Name);
            var basePath = frozen is null ? null : frozen.Type == "volume" ? _hv.Storage.Resolve(frozen).Path : frozen.Source;
            var disk = current.Devices.Disks.FirstOrDefault(x => x.TargetDev == sd.Name);
            if (basePath is null || disk?.Source is null) continue;
            var chain = await QemuImg.ChainAsync(disk.Source, ct);
            var at = chain.Select(i => Path.GetFullPath(i.Filename)).ToList().IndexOf(basePath);
            if (at <= 0) continue; // the guest no longer runs on this branch: only the metadata goes, every image stays
            var overlay = Path.GetFullPath(chain[at - 1].Filename);
            if (await BranchesAtAsync(basePath, overlay, ct))
                throw new VireoException(ErrorCode.InvalidOperation,
                    $"Image {basePath} is the base of more than one overlay (a revert made a branch); deleting snapshot '{snap.Name}' would change what the other branch sees. Delete the snapshots of the other branch first.");
            if (IsActive) await CommitLiveAsync(disk, overlay, basePath, chain[at].Format, at - 1 == 0, progress, ct);
            else
            {
                try
                {
                    await Exec.CheckedAsync(QemuImg.Binary, ["commit", "-q", "-d", overlay], ct);
                    if (at - 2 >= 0)
                        await Exec.CheckedAsync(QemuImg.Binary, ["rebase", "-u", "-b", basePath, "-F", chain[at].Format, chain[at - 2].Filename], ct);
                }
                catch (CommandException e) { throw new VireoException(ErrorCode.OperationFailed, $"Cannot merge {overlay} into {basePath}: {e.Message}"); }
                if (at - 1 == 0) PointDisks([(sd.Name, basePath, chain[at].Format)], live: false);
            }
            // Every saved domain that named the overlay now names the image it was merged into.
            lock (_snapLock)
                foreach (var s in Snaps().Values.Where(s => s.Domain?.Devices.Disks.Any(x => x.Source == overlay) == true).ToList())
                {
                    foreach (var x in s.Domain!.Devices.Disks.Where(x => x.Source == overlay)) x.Source = basePath;
                    SaveSnap(s);
                }
            File.Delete(overlay);
            RefreshPoolsOf([overlay]);
        }
    }

    /// <summary>Whether some image other than the given overlay is known to sit on this one (a snapshot's or the guest's chain).</summary>
    private async Task<bool> BranchesAtAsync(string basePath, string overlay, CancellationToken ct)
    {
        var tops = new List<string>();
        lock (_snapLock)
            tops.AddRange(Snaps().Values.SelectMany(s => s.Disks.Where(d => d.SourceFile is not null).Select(d => d.SourceFile!)));
        foreach (var top in tops.Distinct().Where(t => t != overlay && File.Exists(t)))
        {
            try
            {
                var info = await QemuImg.InfoAsync(top, ct);
                if ((info.FullBackingFile ?? info.BackingFile) is { } b && Path.GetFullPath(b, Path.GetDirectoryName(top)!) == basePath) return true;
            }
            catch (CommandException) { }
        }
        return false;
    }

    /// <summary>block-commit of a running disk: the active layer pivots back to the base; a middle layer is merged in place.</summary>
    private async Task CommitLiveAsync(DiskDef disk, string overlay, string basePath, string baseFormat, bool active, IProgress<double>? progress, CancellationToken ct)
    {
        var qmp = Monitor();
        var named = await qmp.ExecuteAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, ct);
        string? Node(string file) => named?.AsArray()
            .Where(n => n?["drv"]?.GetValue<string>() is not ("file" or "host_device"))
            .FirstOrDefault(n => Path.GetFullPath(n?["image"]?["filename"]?.GetValue<string>() ?? "/") == file)?["node-name"]?.GetValue<string>();
        var top = Node(overlay) ?? throw new VireoException(ErrorCode.OperationFailed, $"QEMU has no node for {overlay}.");
        var baseNode = Node(basePath) ?? throw new VireoException(ErrorCode.OperationFailed, $"QEMU has no node for {basePath}.");
        var device = (await TopNodesAsync(qmp, ct))[disk.Alias!];
        // QEMU reopens the base for writing to merge into it: a confined QEMU must be able to.
        await GiveToRunningQemuAsync(basePath, write: true, ct);
        try
        {
            await RunJobAsync(qmp, "block-commit", new JsonObject
            {
                ["device"] = device,
                ["top-node"] = top,
                ["base-node"] = baseNode,
            }, ct, progress, block: true);
        }
        catch (QmpErrorException e)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot commit {overlay} into {basePath}: {e.Message}");
        }
        // Nothing reads the overlay now (the device reads the base, or the layer above does); its
        // nodes go (QEMU dropped the format node of a middle layer itself).
        await DeleteNodePairAsync(qmp, top, ct);
        if (active) PointDisks([(disk.TargetDev, basePath, baseFormat)], live: true);
    }
}
