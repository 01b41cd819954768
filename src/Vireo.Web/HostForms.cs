using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Web;

/// <summary>
/// virt-manager's "new virtual network" form: NAT, isolated (host-only) or bridged onto a host
/// bridge, an IPv4 subnet with DHCP. It becomes network XML for the same net-define the CLI uses.
/// </summary>
public sealed class NetworkForm
{
    public string Name { get; set; } = "";
    public string Mode { get; set; } = "nat";          // nat | isolated | bridge
    public string Ipv4 { get; set; } = "192.168.150.1/24";
    public bool Dhcp { get; set; } = true;
    public string Bridge { get; set; } = "";
    public bool Start { get; set; } = true;
    public bool Autostart { get; set; } = true;

    public static NetworkForm Read(IFormCollection f) => new()
    {
        Name = f["name"].ToString().Trim(), Mode = f["mode"].ToString(), Ipv4 = f["ipv4"].ToString().Trim(), Dhcp = f["dhcp"] == "on",
        Bridge = f["bridge"].ToString().Trim(), Start = f["start"] == "on", Autostart = f["autostart"] == "on",
    };

    /// <summary>The network's XML, or the problems by field (name, mode, ipv4, bridge).</summary>
    public (string? Xml, List<(string Field, string Message)> Problems) Build()
    {
        var problems = new List<(string, string)>();
        var def = new NetworkDef { Name = Name };
        switch (Mode)
        {
            case "nat": def.Forward = new ForwardDef { Mode = "nat" }; break;
            case "isolated": break;
            case "bridge":
                def.Forward = new ForwardDef { Mode = "bridge" };
                if (Bridge.Length == 0) problems.Add(("bridge", "Name the host bridge the guests join (for example br0; 'vireo iface-bridge' makes one)."));
                def.BridgeName = Bridge;
                break;
            default: problems.Add(("mode", $"Unknown mode '{Mode}'; choose NAT, isolated or bridged.")); break;
        }
        if (Mode is "nat" or "isolated")
        {
            if (Subnet(Ipv4, Dhcp) is { } ip) def.Ips.Add(ip);
            else problems.Add(("ipv4", $"'{Ipv4}' is not a host address with a prefix; write it as 192.168.150.1/24 (the host's address on the network, prefix 8 to 30)."));
        }
        return (problems.Count == 0 ? NetworkXml.Write(def) : null, problems);
    }

    /// <summary>ADDRESS/PREFIX as the host's address on the network, with a DHCP range over the rest of the subnet.</summary>
    private static NetIpDef? Subnet(string text, bool dhcp)
    {
        var slash = text.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(text[..slash], out var addr) || addr.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix is < 8 or > 30)
            return null;
        uint a = ToUInt(addr), mask = uint.MaxValue << (32 - prefix), net = a & mask, broadcast = net | ~mask;
        if (a == net || a == broadcast) return null;
        var ip = new NetIpDef { Address = addr, Prefix = prefix };
        if (dhcp)
        {
            // The larger side of the subnet around the host's own address.
            var (start, end) = a - net - 1 >= broadcast - a - 1 ? (net + 1, a - 1) : (a + 1, broadcast - 1);
            ip.Ranges.Add(new DhcpRangeDef { Start = FromUInt(start), End = FromUInt(end) });
        }
        return ip;
    }

    private static uint ToUInt(IPAddress a) { var b = a.GetAddressBytes(); return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]); }
    private static IPAddress FromUInt(uint v) => new([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);

    /// <summary>Which field a define error is about.</summary>
    public static string FieldOf(string message) => message switch
    {
        _ when message.Contains("name", StringComparison.OrdinalIgnoreCase) && !message.Contains("bridge", StringComparison.OrdinalIgnoreCase) => "name",
        _ when message.Contains("bridge", StringComparison.OrdinalIgnoreCase) => "bridge",
        _ when message.Contains("address", StringComparison.OrdinalIgnoreCase) || message.Contains("subnet", StringComparison.OrdinalIgnoreCase) || message.Contains("overlap", StringComparison.OrdinalIgnoreCase) => "ipv4",
        _ => "",
    };
}

/// <summary>The storage page's new-pool form (kept after an error), and sizes as typed.</summary>
public sealed class StorageForms
{
    public string PoolName { get; set; } = "";
    public string PoolPath { get; set; } = "";

    /// <summary>GiB as typed ("10", "0.5") in bytes; null when it is not a size.</summary>
    public static ulong? GiB(string text) =>
        double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var g) && g > 0 && g <= 1 << 20 ? (ulong)(g * (1UL << 30)) : null;
}
