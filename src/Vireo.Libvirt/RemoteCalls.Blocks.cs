using System.Xml.Linq;
using Vireo.Model;
using Vireo.Engine;

namespace Vireo.Libvirt;

/// <summary>
/// Disks of a running guest as virsh's block verbs call them: domblkinfo, blockresize,
/// blockcopy (through virDomainBlockRebase with the COPY flag, or virDomainBlockCopy with a
/// destination XML), blockjob --info / --abort / --pivot, blockcommit; and the statistics
/// virsh domstats and virt-manager's graphs read (virConnectGetAllDomainStats).
/// </summary>
internal sealed partial class RemoteCalls
{
    // virDomainBlockJobType
    private const int JobCopy = 2, JobActiveCommit = 4;

    /// <summary>
    /// Disks (domain uuid, target) whose active commit this connection ran. The engine's commit
    /// pivots as it ends, where libvirt's waits in its ready phase for virDomainBlockJobAbort with
    /// PIVOT (virsh blockcommit --pivot calls it next): that pivot is then the one already done.
    /// </summary>
    private readonly HashSet<(Guid, string)> _committed = [];

    private async Task<bool> BlockCallAsync(Proc proc, XdrReader a, XdrWriter r, CancellationToken ct)
    {
        switch (proc)
        {
            case Proc.DomainGetBlockInfo:
            {
                var vm = Domain(a);
                var path = a.String();
                CheckFlags(a.UInt(), 0, "virDomainGetBlockInfo");
                var (_, capacity, allocation, physical) = await vm.BlockInfoAsync(path, ct);
                r.UHyper(allocation).UHyper(capacity).UHyper(physical);
                return true;
            }
            case Proc.DomainBlockResize:
            {
                var vm = Domain(a);
                var disk = a.String();
                var size = a.UHyper();
                var flags = CheckFlags(a.UInt(), 1, "virDomainBlockResize"); // VIR_DOMAIN_BLOCK_RESIZE_BYTES, else KiB
                await vm.BlockResizeAsync(disk, (flags & 1) != 0 ? size : size * 1024, ct);
                return true;
            }
            case Proc.DomainGetBlockJobInfo:
            {
                var vm = Domain(a);
                var path = a.String();
                a.UInt(); // VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES: no bandwidth limits, so 0 either way
                var target = vm.FindDisk(path, inactive: false).Target;
                var job = (await vm.BlockJobsAsync(ct)).FirstOrDefault(j => j.Target == target);
                if (job is null) { r.Int(0).Int(0).UHyper(0).UHyper(0).UHyper(0); return true; }
                r.Int(1).Int(job.Kind == "Block Copy" ? JobCopy : JobActiveCommit).UHyper(0).UHyper((ulong)job.Current).UHyper((ulong)job.Total);
                return true;
            }
            case Proc.DomainBlockJobAbort:
            {
                var vm = Domain(a);
                var path = a.String();
                var flags = CheckFlags(a.UInt(), 3, "virDomainBlockJobAbort"); // ASYNC 1 (it is quick either way), PIVOT 2
                var target = vm.FindDisk(path, inactive: false).Target;
                lock (_committed)
                    if (_committed.Remove((vm.Uuid, target)))
                        return (flags & 2) != 0 ? true
                            : throw new RpcError(VirErrorCode.OperationInvalid, $"Requested operation is not valid: the commit of '{target}' has pivoted already; the guest runs on the base image");
                var job = (await vm.BlockJobsAsync(ct)).FirstOrDefault(j => j.Target == target)
                    ?? throw new RpcError(VirErrorCode.OperationInvalid, $"Requested operation is not valid: No active block job '{target}'");
                // As libvirt: pivot onto the copy; without PIVOT a copy in its mirroring phase ends as a
                // consistent copy (virsh blockcopy --finish), one still copying is aborted.
                if ((flags & 2) != 0) await vm.FinishCopyAsync(target, pivot: true, ct);
                else if (job.Status == "ready") await vm.FinishCopyAsync(target, pivot: false, ct);
                else await vm.AbortCopyAsync(target, ct);
                return true;
            }
            case Proc.DomainBlockRebase:
            {
                var vm = Domain(a);
                var path = a.String();
                var dest = a.OptString();
                var bandwidth = a.UHyper();
                var flags = a.UInt();
                // virDomainBlockRebaseFlags: COPY 8 starts a copy to dest; COPY_RAW 4 makes it raw. A pull (no COPY) Vireo does not do.
                if ((flags & 8) == 0 || dest is null) throw NoBlockPull();
                CheckFlags(flags, 4 | 8, "virDomainBlockRebase");
                NoBandwidth(bandwidth);
                var disk = vm.FindDisk(path, inactive: false);
                await vm.BlockCopyAsync(disk.Target, dest, (flags & 4) != 0 ? "raw" : disk.Format ?? "raw", wait: false, pivot: false, null, ct);
                return true;
            }
            case Proc.DomainBlockPull:
                throw NoBlockPull();
            case Proc.DomainBlockCopy:
            {
                var vm = Domain(a);
                var path = a.String();
                var destXml = a.String();
                foreach (var (name, value) in a.Array(16, x => (x.String(), TypedValue(x)))) // REMOTE_DOMAIN_BLOCK_COPY_PARAMETERS_MAX
                    if (!(name == "bandwidth" && value is 0UL or 0L))
                        throw new RpcError(VirErrorCode.NoSupport, $"this function is not supported by the connection driver: block copy parameter '{name}' (Vireo copies at full speed with QEMU's defaults)");
                CheckFlags(a.UInt(), 0, "virDomainBlockCopy");
                var (dest, format) = CopyDestination(destXml);
                var disk = vm.FindDisk(path, inactive: false);
                await vm.BlockCopyAsync(disk.Target, dest, format ?? disk.Format ?? "raw", wait: false, pivot: false, null, ct);
                return true;
            }
            case Proc.DomainBlockCommit:
            {
                var vm = Domain(a);
                var disk = a.String();
                var (bas, top) = (a.OptString(), a.OptString());
                var bandwidth = a.UHyper();
                // virDomainBlockCommitFlags: SHALLOW 1, DELETE 2, ACTIVE 4. Vireo commits the active overlay into
                // the image below it and pivots the guest onto it at once (blockcommit --active --pivot).
                var flags = CheckFlags(a.UInt(), 1 | 2 | 4, "virDomainBlockCommit");
                NoBandwidth(bandwidth);
                if ((flags & 4) == 0 || bas is not null || top is not null)
                    throw new RpcError(VirErrorCode.NoSupport, "this function is not supported by the connection driver: committing below the active image (--base/--top, or without --active); Vireo commits the active overlay (blockcommit --active --pivot)");
                var target = vm.FindDisk(disk, inactive: false).Target; // before: a path names the overlay, gone after
                await vm.BlockCommitAsync(target, delete: (flags & 2) != 0, null, ct);
                lock (_committed) _committed.Add((vm.Uuid, target));
                return true;
            }
            case Proc.ConnectGetAllDomainStats:
            {
                var doms = a.Array(16384, x => Domain(x)); // REMOTE_DOMAIN_LIST_MAX
                var stats = a.UInt();
                var flags = a.UInt();
                // virConnectGetAllDomainStatsFlags' filters (ACTIVE 1 … OTHER 128) are ListAllDomains' own bits.
                var list = doms.Count > 0 ? doms : hv.All().Where(v => Matches(v, flags & 0xff)).OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
                var records = new List<(Vm Vm, List<TypedParam> Params)>();
                foreach (var vm in list)
                {
                    List<TypedParam> p;
                    // A guest that stops while it is asked about keeps its record, with its state only.
                    try { p = await DomainStatsAsync(vm, stats == 0 ? 0xffffffff : stats, ct); }
                    catch (Exception e) when (e is VireoException or Vireo.Qemu.QmpDisconnectedException or Vireo.Qemu.QmpErrorException or TimeoutException)
                    {
                        p = await DomainStatsAsync(vm, 1, ct);
                    }
                    records.Add((vm, p));
                }
                r.Array(records, (w, rec) =>
                {
                    Dom(w, rec.Vm);
                    w.Array(rec.Params, (pw, p) => p.Write(pw));
                });
                return true;
            }
            default:
                return false;
        }
    }

    private static RpcError NoBlockPull() =>
        new(VirErrorCode.NoSupport, "this function is not supported by the connection driver: block pull (blockpull, blockrebase without --copy); Vireo copies (blockcopy) and commits (blockcommit)");

    private static void NoBandwidth(ulong bandwidth)
    {
        if (bandwidth != 0)
            throw new RpcError(VirErrorCode.NoSupport, "this function is not supported by the connection driver: bandwidth limits on block jobs (Vireo runs them at full speed)");
    }

    /// <summary>The destination of virDomainBlockCopy: a &lt;disk type='file'&gt; with its source file and, optionally, its driver's format.</summary>
    private static (string Path, string? Format) CopyDestination(string xml)
    {
        XElement disk;
        try { disk = XmlLimits.Parse(xml, "The destination"); }
        catch (DefinitionException e) { throw new RpcError(VirErrorCode.XmlError, $"XML error: {e.Message}"); }
        if (disk.Name.LocalName != "disk" || (string?)disk.Attribute("type") is not (null or "file") || disk.Element("source")?.Attribute("file")?.Value is not { } file)
            throw new RpcError(VirErrorCode.XmlError, "XML error: the destination must be <disk type='file'><source file='/path'/></disk> (Vireo copies to files)");
        return (file, disk.Element("driver")?.Attribute("type")?.Value);
    }

    /// <summary>
    /// One domain's record for domstats, by group: state 1, cpu-total 2, balloon 4, vcpu 8,
    /// interface 16, block 32 (virDomainStatsTypes), with libvirt's field names. A stopped guest
    /// has its state, its vCPU and balloon maxima, and its devices' names only.
    /// </summary>
    private static async Task<List<TypedParam>> DomainStatsAsync(Vm vm, uint groups, CancellationToken ct)
    {
        var p = new List<TypedParam>();
        var s = vm.Summary();
        var running = vm.IsActive;
        if ((groups & 1) != 0)
        {
            p.Add(TypedParam.Int("state.state", State(s.State)));
            p.Add(TypedParam.Int("state.reason", Reason(s.State, s.Reason)));
        }
        if ((groups & 2) != 0 && running)
            p.Add(TypedParam.ULong("cpu.time", (ulong)(s.CpuTimeSeconds * 1e9)));
        if ((groups & 4) != 0)
        {
            if (running)
                foreach (var (name, value) in await vm.MemoryStatsAsync(ct))
                    p.Add(TypedParam.ULong(name == "actual" ? "balloon.current" : $"balloon.{name.Replace('_', '-')}", value));
            else p.Add(TypedParam.ULong("balloon.current", s.MemoryKiB));
            p.Add(TypedParam.ULong("balloon.maximum", s.MaxMemoryKiB));
        }
        if ((groups & 8) != 0)
        {
            p.Add(TypedParam.UInt("vcpu.current", (uint)s.Vcpus));
            p.Add(TypedParam.UInt("vcpu.maximum", (uint)vm.Def.Vcpus));
            if (running)
                foreach (var v in await vm.VcpuInfoAsync(ct))
                {
                    p.Add(TypedParam.Int($"vcpu.{v.Number}.state", 1)); // VIR_VCPU_RUNNING
                    p.Add(TypedParam.ULong($"vcpu.{v.Number}.time", (ulong)(v.CpuSeconds * 1e9)));
                }
        }
        if ((groups & 16) != 0)
        {
            var nics = (vm.Live ?? vm.Def).Devices.Interfaces;
            p.Add(TypedParam.UInt("net.count", (uint)nics.Count));
            for (var i = 0; i < nics.Count; i++)
            {
                p.Add(TypedParam.String($"net.{i}.name", nics[i].TargetDev ?? nics[i].Mac ?? ""));
                if (!running || nics[i].TargetDev is not { } tap) continue;
                var st = vm.InterfaceStats(tap);
                foreach (var (field, value) in new[] { ("rx.bytes", st.RxBytes), ("rx.pkts", st.RxPackets), ("rx.errs", st.RxErrs), ("rx.drop", st.RxDrop),
                             ("tx.bytes", st.TxBytes), ("tx.pkts", st.TxPackets), ("tx.errs", st.TxErrs), ("tx.drop", st.TxDrop) })
                    p.Add(TypedParam.ULong($"net.{i}.{field}", (ulong)value));
            }
        }
        if ((groups & 32) != 0)
        {
            var disks = vm.Disks(inactive: !running);
            var stats = running ? await vm.BlockStatsAsync(ct) : [];
            p.Add(TypedParam.UInt("block.count", (uint)disks.Count));
            for (var i = 0; i < disks.Count; i++)
            {
                p.Add(TypedParam.String($"block.{i}.name", disks[i].Target));
                if (disks[i].Source is { } src) p.Add(TypedParam.String($"block.{i}.path", src));
                if (stats.FirstOrDefault(x => x.Target == disks[i].Target).Stats is { } q)
                    foreach (var (field, key) in new[] { ("rd.reqs", "rd_operations"), ("rd.bytes", "rd_bytes"), ("rd.times", "rd_total_time_ns"), ("wr.reqs", "wr_operations"),
                                 ("wr.bytes", "wr_bytes"), ("wr.times", "wr_total_time_ns"), ("fl.reqs", "flush_operations"), ("fl.times", "flush_total_time_ns") })
                        p.Add(TypedParam.ULong($"block.{i}.{field}", (ulong)N(q, key)));
                if (disks[i].Source is not null && File.Exists(disks[i].Source))
                {
                    var (_, capacity, allocation, physical) = await vm.BlockInfoAsync(disks[i].Target, ct);
                    p.Add(TypedParam.ULong($"block.{i}.allocation", allocation));
                    p.Add(TypedParam.ULong($"block.{i}.capacity", capacity));
                    p.Add(TypedParam.ULong($"block.{i}.physical", physical));
                }
            }
        }
        return p;
    }

    /// <summary>A value of a remote_typed_param, read for its type (VIR_TYPED_PARAM_INT 1 … STRING 7).</summary>
    private static object TypedValue(XdrReader a) => a.Int() switch
    {
        1 => a.Int(),
        2 => a.UInt(),
        3 => a.Hyper(),
        4 => a.UHyper(),
        5 => a.Double(),
        6 => a.Int() != 0,
        7 => a.String(),
        var t => throw new RpcError(VirErrorCode.Rpc, $"RPC error: typed parameter of unknown type {t}", VirErrorDomain.Rpc),
    };
}

/// <summary>remote_typed_param: a field name and a typed value (virTypedParameterType numbers).</summary>
internal readonly record struct TypedParam(string Field, int Type, long Value, string? Text)
{
    public static TypedParam Int(string f, int v) => new(f, 1, v, null);
    public static TypedParam UInt(string f, uint v) => new(f, 2, v, null);
    public static TypedParam ULong(string f, ulong v) => new(f, 4, (long)v, null);
    public static TypedParam String(string f, string v) => new(f, 7, 0, v);

    public void Write(XdrWriter w)
    {
        w.String(Field).Int(Type);
        switch (Type)
        {
            case 1: w.Int((int)Value); break;
            case 2: w.UInt((uint)Value); break;
            case 4: w.UHyper((ulong)Value); break;
            default: w.String(Text!); break;
        }
    }
}
