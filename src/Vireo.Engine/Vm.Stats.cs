using System.Globalization;
using System.Text.Json.Nodes;
using Vireo.Host;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>A NIC's counters as the guest sees them (domifstat): what it received and what it sent.</summary>
public sealed record InterfaceStats(string Device, long RxBytes, long RxPackets, long RxErrs, long RxDrop, long TxBytes, long TxPackets, long TxErrs, long TxDrop);

/// <summary>A vCPU as vcpuinfo shows it: its QEMU thread's CPU time, the host CPU it last ran on and those it may run on.</summary>
public sealed record VcpuInfo(int Number, int ThreadId, double CpuSeconds, int HostCpu, IReadOnlySet<int> Affinity);

/// <summary>
/// A running guest's figures beyond its state: NIC counters (the tap's counters in /sys) and
/// memory (the balloon over QMP, QEMU's resident set from /proc). The REST API, /metrics and
/// libvirt's protocol read them here.
/// </summary>
public sealed partial class Vm
{
    /// <summary>domifstat: the interface named by its host device (vnet0), or by its MAC address, as virsh accepts either.</summary>
    public InterfaceStats InterfaceStats(string device)
    {
        var nics = Live?.Devices.Interfaces ?? throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; it has no interface counters.");
        var nic = nics.FirstOrDefault(n => n.TargetDev == device || string.Equals(n.Mac, device, StringComparison.OrdinalIgnoreCase))
            ?? throw new VireoException(ErrorCode.InvalidArgument, $"Domain '{Name}' has no interface '{device}'; give its host device ({string.Join(", ", nics.Select(n => n.TargetDev).OfType<string>().DefaultIfEmpty("none"))}) or its MAC address.");
        if (nic.TargetDev is not { } tap)
            throw new VireoException(ErrorCode.InvalidOperation, $"Interface {nic.Mac} of '{Name}' is of type '{nic.Type}', which has no host device to count on.");
        long C(string name) => TapCounter(tap, name) ?? 0;
        // The tap's receive is the guest's transmit, and the other way round.
        return new InterfaceStats(tap, C("tx_bytes"), C("tx_packets"), C("tx_errors"), C("tx_dropped"), C("rx_bytes"), C("rx_packets"), C("rx_errors"), C("rx_dropped"));
    }

    private static long? TapCounter(string dev, string name)
    {
        try { return long.Parse(File.ReadAllText($"/sys/class/net/{dev}/statistics/{name}").Trim(), CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// dommemstat: the balloon's size ("actual"), QEMU's resident set ("rss") and, when the guest
    /// reports them (a <c>&lt;stats period&gt;</c> on the balloon), the guest's own figures. KiB, as libvirt gives them.
    /// </summary>
    public async Task<IReadOnlyList<(string Name, ulong Value)>> MemoryStatsAsync(CancellationToken ct)
    {
        if (!IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; it has no memory statistics.");
        var stats = new List<(string, ulong)>();
        var live = Live!;
        if (live.Devices.Memballoon is { Model: not "none", Alias: { } balloon })
        {
            var qmp = Monitor();
            try
            {
                var guest = await qmp.ExecuteAsync("qom-get", new JsonObject { ["path"] = $"/machine/peripheral/{balloon}", ["property"] = "guest-stats" }, ct);
                if (guest?["stats"] is JsonObject s)
                    foreach (var (qemu, name, bytes) in GuestMemoryStats)
                        // A figure the guest has not reported is -1, which QEMU writes as 2^64 - 1.
                        if (s[qemu] is JsonValue jv && jv.TryGetValue(out long v) && v >= 0) stats.Add((name, (ulong)(bytes ? v / 1024 : v)));
                if (guest?["last-update"]?.GetValue<long>() is { } at and > 0) stats.Add(("last_update", (ulong)at));
            }
            catch (QmpErrorException) { } // a guest without the balloon driver has no figures yet
            var actual = await qmp.ExecuteAsync("query-balloon", null, ct);
            if (actual?["actual"]?.GetValue<long>() is { } b) stats.Insert(0, ("actual", (ulong)(b / 1024)));
        }
        else stats.Add(("actual", live.CurrentMemoryKiB is > 0 ? live.CurrentMemoryKiB : live.MemoryKiB));
        if (Pid is { } pid && ProcessWatch.RssKiB(pid) is { } rss) stats.Add(("rss", rss));
        return stats;
    }

    /// <summary>vcpuinfo: each vCPU's thread (QMP query-cpus-fast) and what /proc says of it.</summary>
    public async Task<IReadOnlyList<VcpuInfo>> VcpuInfoAsync(CancellationToken ct)
    {
        if (!IsActive || Pid is not { } pid) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; its vCPUs have no threads.");
        var list = new List<VcpuInfo>();
        foreach (var c in (await Monitor().ExecuteAsync("query-cpus-fast", null, ct))?.AsArray() ?? [])
        {
            var index = c!["cpu-index"]!.GetValue<int>();
            var tid = c["thread-id"]!.GetValue<int>();
            var stat = ProcessWatch.ThreadStat(pid, tid);
            IReadOnlySet<int> allowed = new SortedSet<int>();
            try
            {
                var line = File.ReadLines($"/proc/{pid}/task/{tid}/status").FirstOrDefault(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));
                if (line is not null && Vireo.Model.CpuList.Parse(line["Cpus_allowed_list:".Length..].Trim()) is { } set) allowed = set;
            }
            catch (IOException) { } // the thread ended meanwhile
            list.Add(new VcpuInfo(index, tid, stat?.CpuSeconds ?? 0, stat?.Processor ?? -1, allowed));
        }
        return list.OrderBy(v => v.Number).ToList();
    }

    /// <summary>QEMU's guest-stats names, libvirt's names for them (virsh dommemstat), and whether QEMU gives bytes.</summary>
    private static readonly (string Qemu, string Name, bool Bytes)[] GuestMemoryStats =
    [
        ("stat-swap-in", "swap_in", true), ("stat-swap-out", "swap_out", true), ("stat-major-faults", "major_fault", false),
        ("stat-minor-faults", "minor_fault", false), ("stat-free-memory", "unused", true), ("stat-total-memory", "available", true),
        ("stat-available-memory", "usable", true), ("stat-disk-caches", "disk_caches", true),
        ("stat-htlb-pgalloc", "hugetlb_pgalloc", false), ("stat-htlb-pgfail", "hugetlb_pgfail", false),
    ];
}
