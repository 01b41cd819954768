using Vireo.Engine;

namespace Vireo.Web;

/// <summary>What the pages show of one machine.</summary>
public sealed record MachineView(string Name, string State, string Reason, int Vcpus, ulong MemoryKiB, bool Autostart, bool Persistent,
    IReadOnlyList<string> Disks, IReadOnlyList<string> Addresses, double? CpuPercent)
{
    /// <summary>IPv4 addresses the guest's NICs on virtual networks hold (from dnsmasq's leases).</summary>
    private static List<string> LeasedAddresses(Vm vm, Hypervisor hv)
    {
        var result = new List<string>();
        if (vm.Live is not { } live) return result;
        foreach (var nic in live.Devices.Interfaces.Where(i => i.Type == "network" && i.Mac is not null))
        {
            VirtualNetwork net;
            try { net = hv.Networks.Get(nic.SourceNetwork ?? ""); }
            catch (VireoException) { continue; }
            if (!net.IsActive) continue;
            result.AddRange(net.Leases().Where(l => l.Mac == nic.Mac).Select(l => l.Ip.ToString()));
        }
        return result;
    }

    public static MachineView Of(Vm vm, CpuMeter cpu, Hypervisor hv)
    {
        var s = vm.Summary();
        var disks = vm.Disks(inactive: false).Where(d => d.Device == "disk").Select(d => d.Target).ToList();
        return new MachineView(s.Name, StateText.Of(s.State), s.Reason, s.Vcpus, s.MemoryKiB, s.Autostart, s.Persistent, disks, LeasedAddresses(vm, hv),
            s.State == DomainState.Shutoff ? null : cpu.Percent(s.Name, s.CpuTimeSeconds));
    }
}

/// <summary>CPU use per machine: the change in QEMU's CPU time between two looks, as a share of one host CPU.</summary>
public sealed class CpuMeter(TimeProvider time)
{
    private readonly Dictionary<string, (double Cpu, long At)> _last = [];
    private readonly Lock _lock = new();

    public double? Percent(string name, double cpuSeconds)
    {
        var now = time.GetTimestamp();
        lock (_lock)
        {
            double? result = null;
            if (_last.TryGetValue(name, out var prev))
            {
                var wall = time.GetElapsedTime(prev.At, now).TotalSeconds;
                if (wall >= 0.5 && cpuSeconds >= prev.Cpu) result = (cpuSeconds - prev.Cpu) / wall * 100;
                else if (wall < 0.5) return _lastPercent.GetValueOrDefault(name);
            }
            _last[name] = (cpuSeconds, now);
            if (result is not null) _lastPercent[name] = result.Value;
            return result ?? _lastPercent.GetValueOrDefault(name);
        }
    }

    private readonly Dictionary<string, double?> _lastPercent = [];
}
