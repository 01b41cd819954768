using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Libvirt;

/// <summary>The host's side: its network interfaces (read-only, iface-list/iface-dumpxml) and memory figures (virsh nodememstats).</summary>
internal sealed partial class RemoteCalls
{
    private bool HostCall(Proc proc, XdrReader a, XdrWriter r)
    {
        switch (proc)
        {
            case Proc.ConnectListAllInterfaces:
            {
                // virConnectListAllInterfacesFlags: INACTIVE 1, ACTIVE 2.
                ListAll(a, r, HostInterfaces.List(), (i, f) => Pair(f, 2, 1, i.Active), Iface);
                return true;
            }
            case Proc.ConnectNumOfInterfaces:
                r.Int(HostInterfaces.List().Count(i => i.Active));
                return true;
            case Proc.ConnectListInterfaces:
                Names(a, r, HostInterfaces.List().Where(i => i.Active).Select(i => i.Name));
                return true;
            case Proc.ConnectNumOfDefinedInterfaces:
                r.Int(HostInterfaces.List().Count(i => !i.Active));
                return true;
            case Proc.ConnectListDefinedInterfaces:
                Names(a, r, HostInterfaces.List().Where(i => !i.Active).Select(i => i.Name));
                return true;
            case Proc.InterfaceLookupByName:
            {
                var name = a.String();
                Iface(r, HostInterfaces.List().FirstOrDefault(i => i.Name == name) ?? throw NoInterface($"no interface with matching name '{name}'"));
                return true;
            }
            case Proc.InterfaceLookupByMacString:
            {
                var mac = a.String();
                Iface(r, HostInterfaces.List().FirstOrDefault(i => string.Equals(i.Mac, mac, StringComparison.OrdinalIgnoreCase)) ?? throw NoInterface($"no interface with matching mac '{mac}'"));
                return true;
            }
            case Proc.InterfaceGetXmlDesc:
            {
                var i = Interface(a);
                CheckFlags(a.UInt(), 1, "virInterfaceGetXMLDesc"); // INACTIVE: the same, Vireo keeps no interface definitions
                r.String(DomainXml.ToText(HostInterfaces.Xml(i)));
                return true;
            }
            case Proc.InterfaceIsActive:
                r.Int(Interface(a).Active ? 1 : 0);
                return true;
            case Proc.NodeGetMemoryStats:
            {
                var nparams = a.Int();
                var cell = a.Int();
                CheckFlags(a.UInt(), 0, "virNodeGetMemoryStats");
                if (cell is not (-1 or 0)) throw new RpcError(VirErrorCode.InvalidArg, $"invalid argument: NUMA cell {cell} does not exist; this host has cell 0");
                // virsh asks for the count first (nparams 0), then for the fields: total, free, buffers, cached (KiB).
                var stats = MemInfo();
                if (nparams == 0) { r.UInt(0).Int(stats.Count); return true; }
                var shown = stats.Take(nparams).ToList();
                r.Array(shown, (w, s) => w.String(s.Name).UHyper(s.KiB)).Int(shown.Count);
                return true;
            }
            default:
                return false;
        }
    }

    private static List<(string Name, ulong KiB)> MemInfo()
    {
        var m = new Dictionary<string, ulong>();
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                var parts = line.Split(':', 2);
                if (parts.Length == 2 && ulong.TryParse(parts[1].Trim().Split(' ')[0], out var v)) m[parts[0]] = v;
            }
        }
        catch (IOException) { }
        return [("total", m.GetValueOrDefault("MemTotal")), ("free", m.GetValueOrDefault("MemFree")),
                ("buffers", m.GetValueOrDefault("Buffers")), ("cached", m.GetValueOrDefault("Cached"))];
    }

    /// <summary>remote_nonnull_interface: name, MAC.</summary>
    private static void Iface(XdrWriter w, HostInterface i) => w.String(i.Name).String(i.Mac);

    private static HostInterface Interface(XdrReader a)
    {
        var name = a.String();
        a.String();
        return HostInterfaces.List().FirstOrDefault(i => i.Name == name) ?? throw NoInterface($"no interface with matching name '{name}'");
    }

    private static RpcError NoInterface(string what) => new(VirErrorCode.NoInterface, $"Interface not found: {what}", VirErrorDomain.Interface);
}
