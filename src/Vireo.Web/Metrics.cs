using System.Globalization;
using System.Text;
using Vireo.Engine;

namespace Vireo.Web;

/// <summary>
/// The machines' figures in Prometheus' text format (GET /metrics): state, vCPUs, memory, CPU
/// time and QEMU's resident memory (from /proc), disk I/O (QMP query-blockstats) and NIC
/// traffic (the tap devices' counters in /sys).
/// </summary>
public static class Metrics
{
    public static async Task<string> RenderAsync(Hypervisor hv, CancellationToken ct)
    {
        var sb = new StringBuilder();
        var families = new SortedDictionary<string, (string Type, string Help, List<string> Samples)>(StringComparer.Ordinal);
        void Add(string name, string type, string help, string labels, double value)
        {
            if (!families.TryGetValue(name, out var f)) families[name] = f = (type, help, []);
            f.Samples.Add($"{name}{{{labels}}} {value.ToString("R", CultureInfo.InvariantCulture)}");
        }
        static string L(string v) => v.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
        foreach (var vm in hv.All().OrderBy(v => v.Name, StringComparer.Ordinal))
        {
            var s = vm.Summary();
            var d = $"domain=\"{L(s.Name)}\"";
            Add("vireo_domain_up", "gauge", "1 while the domain's QEMU runs (running or paused).", d, vm.IsActive ? 1 : 0);
            Add("vireo_domain_info", "gauge", "The domain's state, as a label.", $"{d},state=\"{L(StateText.Of(s.State))}\"", 1);
            Add("vireo_domain_vcpus", "gauge", "vCPUs of the domain.", d, s.Vcpus);
            Add("vireo_domain_memory_bytes", "gauge", "Memory given to the guest.", d, s.MemoryKiB * 1024.0);
            if (!vm.IsActive) continue;
            Add("vireo_domain_cpu_seconds_total", "counter", "CPU time QEMU used for this guest.", d, s.CpuTimeSeconds);
            if (s.Pid is { } pid && Vireo.Host.ProcessWatch.RssKiB(pid) * 1024.0 is { } rss) Add("vireo_domain_resident_bytes", "gauge", "Resident memory of the guest's QEMU.", d, rss);
            try
            {
                foreach (var (target, st) in await vm.BlockStatsAsync(ct))
                {
                    var dl = $"{d},disk=\"{L(target)}\"";
                    Add("vireo_domain_block_read_bytes_total", "counter", "Bytes the guest read from the disk.", dl, (double?)st["rd_bytes"] ?? 0);
                    Add("vireo_domain_block_write_bytes_total", "counter", "Bytes the guest wrote to the disk.", dl, (double?)st["wr_bytes"] ?? 0);
                }
            }
            catch (Exception e) when (e is VireoException or Vireo.Qemu.QmpDisconnectedException or Vireo.Qemu.QmpErrorException or TimeoutException) { }
            foreach (var tap in (vm.Live?.Devices.Interfaces ?? []).Select(n => n.TargetDev).OfType<string>())
            {
                InterfaceStats st;
                try { st = vm.InterfaceStats(tap); }
                catch (VireoException) { continue; } // stopped meanwhile
                var nl = $"{d},interface=\"{L(tap)}\"";
                Add("vireo_domain_net_receive_bytes_total", "counter", "Bytes the guest received.", nl, st.RxBytes);
                Add("vireo_domain_net_transmit_bytes_total", "counter", "Bytes the guest sent.", nl, st.TxBytes);
            }
        }
        foreach (var (name, f) in families)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(f.Help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(f.Type).Append('\n');
            foreach (var line in f.Samples) sb.Append(line).Append('\n');
        }
        return sb.ToString();
    }
}
