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

    public static MachineView Of(Vm vm, ResourceHistory history, Hypervisor hv)
    {
        var s = vm.Summary();
        var disks = vm.Disks(inactive: false).Where(d => d.Device == "disk").Select(d => d.Target).ToList();
        return new MachineView(s.Name, StateText.Of(s.State), s.Reason, s.Vcpus, s.MemoryKiB, s.Autostart, s.Persistent, disks, LeasedAddresses(vm, hv),
            s.State == DomainState.Shutoff ? null : history.Of(s.Name).LastOrDefault()?.CpuPercent);
    }
}
