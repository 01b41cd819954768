using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>A block job on a disk as blockjob --info reports it.</summary>
public sealed record BlockJobReport(string Target, string Kind, string Status, long Current, long Total, string? Destination);

/// <summary>
/// Block jobs of a running guest: blockcopy (blockdev-mirror to a new image, then pivot or
/// finish), blockcommit (merge the active overlay into its backing image, pivot), blockjob
/// (--info / --abort / --pivot), and blockresize.
/// </summary>
public sealed partial class Vm
{
    private sealed record CopyJob(string Id, string Target, string Destination, string Format, string Node);

    private readonly ConcurrentDictionary<string, CopyJob> _copies = new(StringComparer.Ordinal);

    /// <summary>A block job event (virsh event --event block-job): Ready, Completed, Canceled or Failed, with the job's kind (copy, active-commit) and the disk's target.</summary>
    private void PublishBlockJob(string status, string kind, string target) => _bus.Publish(Name, status, $"{kind} {target}", "block-job");

    /// <summary>Grows a disk of the running guest (QMP block_resize); the guest sees the new size at once.</summary>
    public async Task BlockResizeAsync(string target, ulong size, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            var disk = RunningDisk(target);
            var current = (await QemuImg.InfoAsync(disk.Source!, ct)).VirtualSize;
            if (size < current)
                throw new VireoException(ErrorCode.InvalidArgument,
                    $"Disk '{disk.TargetDev}' is {current} bytes; {size} bytes would cut off what lies past the new end. blockresize only grows disks (vol-resize --shrink works on a stopped guest).");
            var qmp = Monitor();
            var node = (await TopNodesAsync(qmp, ct))[disk.Alias!];
            try { await qmp.ExecuteAsync("block_resize", new JsonObject { ["node-name"] = node, ["size"] = size }, ct); }
            catch (QmpErrorException e) { throw new VireoException(ErrorCode.OperationFailed, $"Cannot resize disk '{disk.TargetDev}': {e.Message}"); }
            RefreshPoolsOf([disk.Source!]);
        }
        finally { _opLock.Release(); }
    }

    private DiskDef RunningDisk(string targetOrPath)
    {
        if (!IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; block jobs work on a running guest (use vol-resize or vol-clone on a stopped one).");
        var d = CurrentWithPaths();
        return d.Devices.Disks.FirstOrDefault(x => x.TargetDev == targetOrPath || x.Source == targetOrPath) is { Source: not null } disk
            ? disk
            : throw new VireoException(ErrorCode.NotFound, $"Domain '{Name}' has no disk '{targetOrPath}' with an image; its disks: {string.Join(", ", d.Devices.Disks.Select(x => x.TargetDev))}.");
    }

    /// <summary>
    /// blockcopy: mirrors a disk into a new image. Without waiting it returns once the job runs
    /// (blockjob follows it); with waiting it ends by pivoting the guest onto the copy, or by
    /// finishing (the copy is complete and the guest stays on its image).
    /// </summary>
    public async Task BlockCopyAsync(string target, string destination, string format, bool wait, bool pivot, IProgress<double>? progress, CancellationToken ct)
    {
        CopyJob job;
        await _opLock.WaitAsync(ct);
        try
        {
            var disk = RunningDisk(target);
            if (_copies.ContainsKey(disk.TargetDev)) throw new VireoException(ErrorCode.InvalidOperation, $"Disk '{disk.TargetDev}' already has a block job; see 'vireo blockjob {Name} {disk.TargetDev} --info'.");
            if (File.Exists(destination)) throw new VireoException(ErrorCode.InvalidArgument, $"'{destination}' already exists; blockcopy writes a new image (remove it, or name another file).");
            if (format is not ("raw" or "qcow2")) throw new VireoException(ErrorCode.InvalidArgument, $"Copy format '{format}' is not supported; use raw or qcow2.");
            var qmp = Monitor();
            var nodes = await TopNodesAsync(qmp, ct);
            var size = (await QemuImg.InfoAsync(disk.Source!, ct)).VirtualSize;
            var n = await NextNodeIndexAsync(qmp, disk.Alias!, ct);
            var storage = $"{disk.Alias}-o{n}-storage";
            var node = $"{disk.Alias}-o{n}-format";
            var id = $"vireo-copy-{disk.Alias}";
            try
            {
                await QemuImg.CreateAsync(destination, format, size, ct: ct);
                await GiveToRunningQemuAsync(destination, write: true, ct);
                await qmp.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = "file", ["filename"] = destination, ["node-name"] = storage }, ct);
                await qmp.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = format, ["node-name"] = node, ["file"] = storage }, ct);
                await qmp.ExecuteAsync("blockdev-mirror", new JsonObject
                {
                    ["job-id"] = id, ["device"] = nodes[disk.Alias!], ["target"] = node, ["sync"] = "full", ["auto-dismiss"] = false,
                }, ct);
            }
            catch (Exception e) when (e is QmpErrorException or Vireo.Host.CommandException)
            {
                await DeleteNodePairAsync(qmp, node, CancellationToken.None);
                try { File.Delete(destination); } catch (IOException) { }
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot copy disk '{disk.TargetDev}' to '{destination}': {e.Message}");
            }
            job = new CopyJob(id, disk.TargetDev, destination, format, node);
            _copies[disk.TargetDev] = job;
        }
        finally { _opLock.Release(); }
        if (!wait) return;
        await WaitReadyAsync(job, progress, ct);
        await FinishCopyAsync(job.Target, pivot, ct);
    }

    private async Task WaitReadyAsync(CopyJob job, IProgress<double>? progress, CancellationToken ct)
    {
        var qmp = Monitor();
        while (true)
        {
            var j = (await qmp.ExecuteAsync("query-jobs", null, ct))?.AsArray().FirstOrDefault(x => x?["id"]?.GetValue<string>() == job.Id);
            if (j is null) throw new VireoException(ErrorCode.OperationFailed, $"The copy of disk '{job.Target}' ended unexpectedly.");
            var total = j["total-progress"]?.GetValue<double>() ?? 0;
            if (total > 0) progress?.Report(100.0 * (j["current-progress"]?.GetValue<double>() ?? 0) / total);
            switch (j["status"]?.GetValue<string>())
            {
                case "ready": progress?.Report(100); return;
                case "concluded":
                    _copies.TryRemove(job.Target, out _);
                    await qmp.ExecuteAsync("job-dismiss", new JsonObject { ["id"] = job.Id }, ct);
                    PublishBlockJob("Failed", "copy", job.Target);
                    throw new VireoException(ErrorCode.OperationFailed, $"The copy of disk '{job.Target}' failed: {j["error"]?.GetValue<string>() ?? "unknown error"}");
            }
            await Task.Delay(20, ct);
        }
    }

    /// <summary>Ends a mirror in its ready phase: pivot (the guest now runs on the copy) or finish (the copy stays a copy).</summary>
    public async Task FinishCopyAsync(string target, bool pivot, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            if (!_copies.TryGetValue(target, out var job)) throw new VireoException(ErrorCode.InvalidOperation, $"Disk '{target}' of '{Name}' has no block job.");
            var qmp = Monitor();
            var status = await JobStatusAsync(qmp, job.Id, ct);
            if (status != "ready")
                throw new VireoException(ErrorCode.InvalidOperation, $"The copy of disk '{target}' is not in its mirroring phase yet ({status}); wait for 100 % in 'vireo blockjob {Name} {target} --info'.");
            var disk = RunningDisk(target);
            var oldNodes = await TopNodesAsync(qmp, ct);
            // complete pivots the device onto the copy; cancel in the ready phase leaves a consistent copy.
            await qmp.ExecuteAsync(pivot ? "job-complete" : "job-cancel", new JsonObject { ["id"] = job.Id }, ct);
            await WaitConcludedAsync(qmp, job.Id, ct);
            _copies.TryRemove(target, out _);
            await DeleteNodePairAsync(qmp, pivot ? oldNodes[disk.Alias!] : job.Node, ct);
            if (pivot) PointDisks([(target, job.Destination, job.Format)], live: true);
            RefreshPoolsOf([job.Destination]);
            PublishBlockJob("Completed", "copy", target); // pivoted, or finished as a consistent copy
        }
        finally { _opLock.Release(); }
    }

    /// <summary>blockjob --abort: stops a copy; the half-written copy is removed.</summary>
    public async Task AbortCopyAsync(string target, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            if (!_copies.TryGetValue(target, out var job)) throw new VireoException(ErrorCode.InvalidOperation, $"Disk '{target}' of '{Name}' has no block job.");
            var qmp = Monitor();
            // job-cancel has no 'force' (block-job-cancel's): a mirror in its ready phase ends at once either way.
            await qmp.ExecuteAsync("job-cancel", new JsonObject { ["id"] = job.Id }, ct);
            await WaitConcludedAsync(qmp, job.Id, ct);
            _copies.TryRemove(target, out _);
            await DeleteNodePairAsync(qmp, job.Node, ct);
            File.Delete(job.Destination);
            PublishBlockJob("Canceled", "copy", target);
        }
        finally { _opLock.Release(); }
    }

    private static async Task<string?> JobStatusAsync(QmpClient qmp, string id, CancellationToken ct) =>
        (await qmp.ExecuteAsync("query-jobs", null, ct))?.AsArray().FirstOrDefault(x => x?["id"]?.GetValue<string>() == id)?["status"]?.GetValue<string>();

    private static async Task WaitConcludedAsync(QmpClient qmp, string id, CancellationToken ct)
    {
        while (await JobStatusAsync(qmp, id, ct) is { } s && s != "concluded") await Task.Delay(20, ct);
        await qmp.ExecuteAsync("job-dismiss", new JsonObject { ["id"] = id }, ct);
    }

    /// <summary>Deletes a format node and its storage node (ALIAS…-format / -storage) that nothing uses any more.</summary>
    private static async Task DeleteNodePairAsync(QmpClient qmp, string formatNode, CancellationToken ct)
    {
        var storage = formatNode.EndsWith("-format", StringComparison.Ordinal) ? formatNode[..^7] + "-storage" : null;
        foreach (var n in new[] { formatNode, storage }.OfType<string>())
            try { await qmp.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = n }, ct); }
            catch (QmpErrorException) { } // in use elsewhere, or gone with its device already
    }

    public async Task<IReadOnlyList<BlockJobReport>> BlockJobsAsync(CancellationToken ct)
    {
        var qmp = Monitor();
        var jobs = (await qmp.ExecuteAsync("query-jobs", null, ct))?.AsArray() ?? [];
        var list = new List<BlockJobReport>();
        foreach (var c in _copies.Values)
        {
            var j = jobs.FirstOrDefault(x => x?["id"]?.GetValue<string>() == c.Id);
            if (j is null) continue;
            list.Add(new BlockJobReport(c.Target, "Block Copy", j["status"]?.GetValue<string>() ?? "", j["current-progress"]?.GetValue<long>() ?? 0,
                j["total-progress"]?.GetValue<long>() ?? 0, c.Destination));
        }
        return list;
    }

    /// <summary>blockcommit --active --pivot: the disk's top overlay is merged into the image below it and the guest goes on from there.</summary>
    /// <param name="delete">Remove the merged overlay file afterwards (virsh --delete); kept otherwise.</param>
    public async Task BlockCommitAsync(string target, bool delete, IProgress<double>? progress, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            var disk = RunningDisk(target);
            var chain = await QemuImg.ChainAsync(disk.Source!, ct);
            if (chain.Count < 2)
                throw new VireoException(ErrorCode.InvalidArgument, $"Disk '{disk.TargetDev}' ({disk.Source}) has no backing image to commit into.");
            var basePath = Path.GetFullPath(chain[1].Filename);
            if (NeededBySnapshots(basePath, null) || Snapshots().Any(s => s.Disks.Any(x => x.SourceFile == disk.Source)))
                throw new VireoException(ErrorCode.InvalidOperation, $"Disk '{disk.TargetDev}' is part of a snapshot's chain; use 'vireo snapshot-delete' so the snapshot metadata follows.");
            await CommitLiveAsync(disk, Path.GetFullPath(disk.Source!), basePath, chain[1].Format, active: true, progress, ct);
            if (delete) File.Delete(disk.Source!);
            RefreshPoolsOf([disk.Source!]);
            PublishBlockJob("Completed", "active-commit", disk.TargetDev);
        }
        finally { _opLock.Release(); }
    }
}
