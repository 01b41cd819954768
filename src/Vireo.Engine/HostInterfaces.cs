using System.Globalization;
using System.Xml.Linq;

namespace Vireo.Engine;

/// <summary>A network interface of the host as virsh iface-list shows it.</summary>
public sealed record HostInterface(string Name, string Mac, bool Active, string Type, int? Mtu, string? LinkState, IReadOnlyList<string> BridgePorts);

/// <summary>
/// The host's network interfaces, read from /sys/class/net (libvirt's udev interface backend
/// reads the same): what cockpit-machines and virt-manager offer as a NIC's direct or bridge
/// source. Read-only: Vireo changes host links through its bridge commands, not iface-define.
/// </summary>
public static class HostInterfaces
{
    public static IReadOnlyList<HostInterface> List(string sysNet = "/sys/class/net")
    {
        var list = new List<HostInterface>();
        if (!Directory.Exists(sysNet)) return list;
        foreach (var dir in Directory.EnumerateFileSystemEntries(sysNet).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            string? Read(string f)
            {
                try { return File.ReadAllText(Path.Combine(dir, f)).Trim(); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
            }
            var flags = Read("flags") is { } fl && fl.StartsWith("0x", StringComparison.Ordinal) && int.TryParse(fl[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var f) ? f : 0;
            var isBridge = Directory.Exists(Path.Combine(dir, "bridge"));
            var ports = isBridge && Directory.Exists(Path.Combine(dir, "brif"))
                ? Directory.EnumerateFileSystemEntries(Path.Combine(dir, "brif")).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList()
                : [];
            list.Add(new HostInterface(name, Read("address") ?? "00:00:00:00:00:00", (flags & 1) != 0, // IFF_UP
                isBridge ? "bridge" : "ethernet", int.TryParse(Read("mtu"), out var mtu) ? mtu : null, Read("operstate"), ports));
        }
        return list;
    }

    /// <summary>The interface's XML as libvirt's udev backend writes it (virsh iface-dumpxml).</summary>
    public static XElement Xml(HostInterface i)
    {
        var e = new XElement("interface", new XAttribute("type", i.Type), new XAttribute("name", i.Name));
        if (i.Mtu is { } mtu) e.Add(new XElement("mtu", new XAttribute("size", mtu)));
        if (i.LinkState is { } state) e.Add(new XElement("link", new XAttribute("state", state)));
        e.Add(new XElement("mac", new XAttribute("address", i.Mac)));
        if (i.Type == "bridge")
            e.Add(new XElement("bridge", i.BridgePorts.Select(p => new XElement("interface", new XAttribute("type", "ethernet"), new XAttribute("name", p)))));
        return e;
    }
}
