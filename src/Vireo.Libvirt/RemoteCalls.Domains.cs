using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Libvirt;

/// <summary>
/// Domain calls beyond the lifecycle: device hot-plug from XML, save/restore and managed save,
/// snapshots, statistics (block, interface, memory, vCPUs) and the host's sysinfo — what virsh's
/// verbs of those names and virt-manager's details pages call.
/// </summary>
internal sealed partial class RemoteCalls
{
    // virDomainModificationImpact / virDomainDeviceModifyFlags
    private const uint AffectLive = 1, AffectConfig = 2, DeviceForce = 4;

    private async Task<StreamWork?> DomainCallAsync(Proc proc, XdrReader a, XdrWriter r, CancellationToken ct)
    {
        switch (proc)
        {
            case Proc.ConnectGetUri:
                r.String("qemu:///system");
                break;
            case Proc.ConnectGetSysinfo:
                CheckFlags(a.UInt(), 0, "virConnectGetSysinfo");
                r.String(DomainXml.ToText(Capabilities.HostSysinfo()));
                break;

            case Proc.DomainAttachDevice or Proc.DomainAttachDeviceFlags or Proc.DomainDetachDevice or Proc.DomainDetachDeviceFlags or Proc.DomainUpdateDeviceFlags:
            {
                var vm = Domain(a);
                var xml = a.String();
                var flags = proc is Proc.DomainAttachDevice or Proc.DomainDetachDevice ? AffectLive // the old calls act on the running domain only
                    : CheckFlags(a.UInt(), AffectLive | AffectConfig | DeviceForce, $"vir{ProcName(proc)}");
                var (live, config) = DeviceSpecs.Scope(vm, (flags & AffectLive) != 0, (flags & AffectConfig) != 0);
                await (proc switch
                {
                    Proc.DomainAttachDevice or Proc.DomainAttachDeviceFlags => vm.AttachDeviceAsync(xml, live, config, ct),
                    Proc.DomainUpdateDeviceFlags => vm.UpdateDeviceAsync(xml, live, config, ct),
                    _ => vm.DetachDeviceAsync(xml, live, config, ct),
                });
                break;
            }

            case Proc.DomainSave or Proc.DomainSaveFlags:
            {
                var vm = Domain(a);
                var to = a.String();
                var flags = 0u;
                if (proc == Proc.DomainSaveFlags)
                {
                    NoAlternateXml(a.OptString(), "save");
                    flags = CheckFlags(a.UInt(), 7, "virDomainSaveFlags"); // BYPASS_CACHE (nothing to bypass: QEMU writes to the file), RUNNING, PAUSED
                }
                await vm.SaveAsync(to, RunningAfterRestore(flags), null, ct);
                break;
            }
            case Proc.DomainRestore or Proc.DomainRestoreFlags:
            {
                var from = a.String();
                var flags = 0u;
                if (proc == Proc.DomainRestoreFlags)
                {
                    NoAlternateXml(a.OptString(), "restore");
                    flags = CheckFlags(a.UInt(), 7, "virDomainRestoreFlags");
                }
                await hv.RestoreAsync(from, RunningAfterRestore(flags) is { } run ? !run : null, ct);
                break;
            }
            case Proc.DomainManagedSave:
            {
                var vm = Domain(a);
                var flags = CheckFlags(a.UInt(), 7, "virDomainManagedSave");
                await vm.ManagedSaveAsync(RunningAfterRestore(flags), null, ct);
                break;
            }
            case Proc.DomainManagedSaveRemove:
            {
                var vm = Domain(a);
                CheckFlags(a.UInt(), 0, "virDomainManagedSaveRemove");
                if (vm.HasManagedSave) vm.RemoveManagedSave(); // libvirt succeeds when there is none
                break;
            }

            case Proc.DomainBlockStats:
            {
                var vm = Domain(a);
                var path = a.String();
                var s = await BlockStats(vm, path, ct);
                r.Hyper(N(s, "rd_operations")).Hyper(N(s, "rd_bytes")).Hyper(N(s, "wr_operations")).Hyper(N(s, "wr_bytes")).Hyper(-1); // errs: QEMU keeps none
                break;
            }
            case Proc.DomainBlockStatsFlags:
            {
                var vm = Domain(a);
                var path = a.String();
                var nparams = a.Int();
                a.UInt();
                // virsh asks for the count first (nparams 0), then for the fields.
                string[] names = ["rd_operations", "rd_bytes", "rd_total_times", "wr_operations", "wr_bytes", "wr_total_times", "flush_operations", "flush_total_times"];
                if (nparams == 0) { r.UInt(0).Int(names.Length); break; }
                var s = await BlockStats(vm, path, ct);
                string[] qemu = ["rd_operations", "rd_bytes", "rd_total_time_ns", "wr_operations", "wr_bytes", "wr_total_time_ns", "flush_operations", "flush_total_time_ns"];
                var fields = names.Zip(qemu).Take(nparams).ToList();
                r.Array(fields, (w, f) => w.String(f.First).Int(TypedLLong).Hyper(N(s, f.Second))).Int(fields.Count);
                break;
            }
            case Proc.DomainInterfaceStats:
            {
                var vm = Domain(a);
                var s = vm.InterfaceStats(a.String());
                r.Hyper(s.RxBytes).Hyper(s.RxPackets).Hyper(s.RxErrs).Hyper(s.RxDrop).Hyper(s.TxBytes).Hyper(s.TxPackets).Hyper(s.TxErrs).Hyper(s.TxDrop);
                break;
            }
            case Proc.DomainMemoryStats:
            {
                var vm = Domain(a);
                var max = a.UInt();
                CheckFlags(a.UInt(), 0, "virDomainMemoryStats");
                if (max > 1024) throw new RpcError(VirErrorCode.Rpc, $"RPC error: maxStats {max} is beyond the limit of 1024", VirErrorDomain.Rpc); // REMOTE_DOMAIN_MEMORY_STATS_MAX
                var stats = (await vm.MemoryStatsAsync(ct)).Where(s => MemoryStatTag(s.Name) >= 0).Take((int)max).ToList();
                r.Array(stats, (w, s) => w.Int(MemoryStatTag(s.Name)).UHyper(s.Value));
                break;
            }
            case Proc.DomainGetVcpus:
            {
                var vm = Domain(a);
                var maxinfo = a.Int();
                var maplen = a.Int();
                // REMOTE_VCPUINFO_MAX and REMOTE_CPUMAPS_MAX, as libvirtd checks them.
                if (maxinfo is < 0 or > 16384 || maplen is < 0 || (long)maxinfo * maplen > 8388608)
                    throw new RpcError(VirErrorCode.Rpc, $"RPC error: vCPU info for {maxinfo} vCPUs with {maplen}-byte maps is beyond the protocol's limits", VirErrorDomain.Rpc);
                var vcpus = (await vm.VcpuInfoAsync(ct)).Take(maxinfo).ToList();
                r.Array(vcpus, (w, v) => w.UInt((uint)v.Number).Int(1).UHyper((ulong)(v.CpuSeconds * 1e9)).Int(v.HostCpu)); // state 1: VIR_VCPU_RUNNING
                var maps = new byte[vcpus.Count * maplen];
                for (int i = 0; i < vcpus.Count; i++)
                    foreach (var cpu in vcpus[i].Affinity.Where(c => c < maplen * 8)) maps[i * maplen + cpu / 8] |= (byte)(1 << (cpu % 8));
                r.Opaque(maps);
                break;
            }

            case Proc.DomainSnapshotCreateXml:
            {
                var vm = Domain(a);
                var xml = a.String();
                // virDomainSnapshotCreateFlags: DISK_ONLY 16, ATOMIC 128 (Vireo's snapshots are all or nothing), VALIDATE 512.
                var flags = CheckFlags(a.UInt(), 16 | 128 | 512, "virDomainSnapshotCreateXML");
                Snap(r, vm, (await vm.CreateSnapshotAsync(xml, (flags & 16) != 0, ct)).Name);
                break;
            }
            case Proc.DomainSnapshotGetXmlDesc:
            {
                var (vm, s) = Snapshot(a);
                CheckFlags(a.UInt(), 1, "virDomainSnapshotGetXMLDesc"); // SECURE: the XML holds no secrets
                r.String(SnapshotXml.Write(s, vm.CurrentSnapshot == s.Name));
                break;
            }
            case Proc.DomainSnapshotNum:
            {
                var vm = Domain(a);
                r.Int(SnapshotsMatching(vm, vm.Snapshots(), a.UInt(), rootsBit: true).Count);
                break;
            }
            case Proc.DomainSnapshotListNames:
            {
                var vm = Domain(a);
                var max = a.Int();
                r.Array(SnapshotsMatching(vm, vm.Snapshots(), a.UInt(), rootsBit: true).Take(max).ToList(), (w, s) => w.String(s.Name));
                break;
            }
            case Proc.DomainListAllSnapshots:
            {
                var vm = Domain(a);
                var need = a.Int() != 0;
                var list = SnapshotsMatching(vm, vm.Snapshots(), a.UInt(), rootsBit: true);
                if (need) r.Array(list, (w, s) => Snap(w, vm, s.Name)); else r.UInt(0);
                r.Int(list.Count);
                break;
            }
            case Proc.DomainSnapshotNumChildren or Proc.DomainSnapshotListChildrenNames or Proc.DomainSnapshotListAllChildren:
            {
                var (vm, s) = Snapshot(a);
                var max = proc == Proc.DomainSnapshotListChildrenNames ? a.Int() : 0;
                var need = proc == Proc.DomainSnapshotListAllChildren && a.Int() != 0;
                var flags = a.UInt();
                var list = SnapshotsMatching(vm, Children(vm.Snapshots(), s.Name, descendants: (flags & 1) != 0), flags & ~1u, rootsBit: false); // DESCENDANTS
                switch (proc)
                {
                    case Proc.DomainSnapshotNumChildren: r.Int(list.Count); break;
                    case Proc.DomainSnapshotListChildrenNames: r.Array(list.Take(max).ToList(), (w, c) => w.String(c.Name)); break;
                    default:
                        if (need) r.Array(list, (w, c) => Snap(w, vm, c.Name)); else r.UInt(0);
                        r.Int(list.Count);
                        break;
                }
                break;
            }
            case Proc.DomainSnapshotLookupByName:
            {
                var vm = Domain(a);
                var name = a.String();
                a.UInt();
                Snap(r, vm, FindSnapshot(vm, name).Name);
                break;
            }
            case Proc.DomainHasCurrentSnapshot:
            {
                var vm = Domain(a);
                a.UInt();
                r.Int(vm.CurrentSnapshot is not null ? 1 : 0);
                break;
            }
            case Proc.DomainSnapshotCurrent:
            {
                var vm = Domain(a);
                a.UInt();
                Snap(r, vm, vm.CurrentSnapshot ?? throw new RpcError(VirErrorCode.NoDomainSnapshot, $"Domain snapshot not found: the domain '{vm.Name}' has no current snapshot"));
                break;
            }
            case Proc.DomainSnapshotGetParent:
            {
                var (vm, s) = Snapshot(a);
                a.UInt();
                Snap(r, vm, s.Parent ?? throw new RpcError(VirErrorCode.NoDomainSnapshot, $"Domain snapshot not found: snapshot '{s.Name}' does not have a parent"));
                break;
            }
            case Proc.DomainSnapshotIsCurrent:
            {
                var (vm, s) = Snapshot(a);
                a.UInt();
                r.Int(vm.CurrentSnapshot == s.Name ? 1 : 0);
                break;
            }
            case Proc.DomainSnapshotHasMetadata:
            {
                Snapshot(a);
                a.UInt();
                r.Int(1); // every snapshot Vireo knows has its record
                break;
            }
            case Proc.DomainRevertToSnapshot:
            {
                var (vm, s) = Snapshot(a);
                // virDomainSnapshotRevertFlags: RUNNING 1, PAUSED 2, FORCE 4 (Vireo has no reverts it calls risky).
                var flags = CheckFlags(a.UInt(), 7, "virDomainRevertToSnapshot");
                await vm.RevertSnapshotAsync(s.Name, (flags & 2) != 0 ? true : (flags & 1) != 0 ? false : null, ct);
                break;
            }
            case Proc.DomainSnapshotDelete:
            {
                var (vm, s) = Snapshot(a);
                var flags = a.UInt();
                if ((flags & 7) != 0)
                    throw new RpcError(VirErrorCode.NoSupport, $"this function is not supported by the connection driver: deleting a snapshot's children or only its metadata (flags 0x{flags:x}); delete the snapshots one at a time");
                await vm.DeleteSnapshotAsync(s.Name, null, ct);
                break;
            }
            default:
                return await NetworkCallAsync(proc, a, r, ct);
        }
        return null;
    }

    private const int TypedLLong = 3; // VIR_TYPED_PARAM_LLONG

    private static long N(System.Text.Json.Nodes.JsonObject o, string k) => o[k]?.GetValue<long>() ?? 0;

    /// <summary>One disk's QEMU block statistics, the disk named by its target (vda) or its source path, as virsh domblkstat accepts.</summary>
    private static async Task<System.Text.Json.Nodes.JsonObject> BlockStats(Vm vm, string path, CancellationToken ct)
    {
        if (!vm.IsActive) throw new RpcError(VirErrorCode.OperationInvalid, "Requested operation is not valid: domain is not running");
        var target = vm.FindDisk(path, inactive: false).Target;
        return (await vm.BlockStatsAsync(ct)).FirstOrDefault(s => s.Target == target).Stats
            ?? throw new RpcError(VirErrorCode.OperationFailed, $"operation failed: cannot find statistics for device '{path}'");
    }

    /// <summary>virDomainMemoryStatTags for the names dommemstat prints; -1 for one libvirt has no tag for.</summary>
    private static int MemoryStatTag(string name) => Array.IndexOf(MemoryStatNames, name);

    private static readonly string[] MemoryStatNames =
        ["swap_in", "swap_out", "major_fault", "minor_fault", "unused", "available", "actual", "rss", "usable", "last_update", "disk_caches", "hugetlb_pgalloc", "hugetlb_pgfail"];

    /// <summary>virDomainSaveRestoreFlags RUNNING (2) and PAUSED (4): the state after restore, else the state at save.</summary>
    private static bool? RunningAfterRestore(uint flags) =>
        (flags & 6) == 6 ? throw new RpcError(VirErrorCode.InvalidArg, "invalid argument: running and paused flags are mutually exclusive")
        : (flags & 2) != 0 ? true : (flags & 4) != 0 ? false : null;

    private static void NoAlternateXml(string? dxml, string what)
    {
        if (dxml is not null)
            throw new RpcError(VirErrorCode.NoSupport, $"this function is not supported by the connection driver: {what} with an alternative domain XML; Vireo restores the definition the guest was saved with");
    }

    /// <summary>remote_nonnull_domain_snapshot: its name and its domain.</summary>
    private static void Snap(XdrWriter w, Vm vm, string name) => Dom(w.String(name), vm);

    /// <summary>Reads a remote_nonnull_domain_snapshot.</summary>
    private (Vm Vm, SnapshotDef Snap) Snapshot(XdrReader a)
    {
        var name = a.String();
        var vm = Domain(a);
        return (vm, FindSnapshot(vm, name));
    }

    private static SnapshotDef FindSnapshot(Vm vm, string name) =>
        vm.Snapshots().FirstOrDefault(s => s.Name == name)
        ?? throw new RpcError(VirErrorCode.NoDomainSnapshot, $"Domain snapshot not found: no domain snapshot with matching name '{name}'");

    private static IReadOnlyList<SnapshotDef> Children(IReadOnlyList<SnapshotDef> all, string name, bool descendants)
    {
        var result = new List<SnapshotDef>();
        var frontier = new Queue<string>([name]);
        while (frontier.TryDequeue(out var n))
            foreach (var c in all.Where(x => x.Parent == n))
            {
                result.Add(c);
                if (descendants) frontier.Enqueue(c.Name);
            }
        return result;
    }

    /// <summary>
    /// virDomainSnapshotListFlags: ROOTS 1 (for a domain's list; DESCENDANTS for children), METADATA 2,
    /// LEAVES 4, NO_LEAVES 8, NO_METADATA 16, INACTIVE 32, ACTIVE 64, DISK_ONLY 128, INTERNAL 256,
    /// EXTERNAL 512, TOPOLOGICAL 1024 (parents first: creation order is that already).
    /// </summary>
    private static List<SnapshotDef> SnapshotsMatching(Vm vm, IReadOnlyList<SnapshotDef> list, uint flags, bool rootsBit)
    {
        CheckFlags(flags, 0x7ff, "virDomainListAllSnapshots");
        var all = vm.Snapshots();
        bool Leaf(SnapshotDef s) => !all.Any(x => x.Parent == s.Name);
        var states = flags & (32 | 64 | 128);
        return list.Where(s =>
                (!rootsBit || (flags & 1) == 0 || s.Parent is null)
                && Pair(flags, 4, 8, Leaf(s))
                && (flags & 16) == 0 // NO_METADATA: every snapshot has its record
                && (states == 0 || (flags & 32) != 0 && s.State == "shutoff" || (flags & 64) != 0 && s.State is "running" or "paused"
                    || (flags & 128) != 0 && s.State == "disk-snapshot")
                && Pair(flags, 512, 256, s.IsExternal))
            .OrderBy(s => s.CreationTime).ToList();
    }
}
