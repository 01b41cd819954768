using System.Net;
using System.Net.Sockets;

namespace Vireo.Model;

/// <summary>A libvirt &lt;network&gt; definition: a virtual switch and what the host does around it.</summary>
public sealed class NetworkDef
{
    public string Name { get; set; } = "";
    public Guid Uuid { get; set; }
    public string? Title { get; set; }
    public string? Description { get; set; }
    /// <summary>Null for an isolated (host-only) network.</summary>
    public ForwardDef? Forward { get; set; }
    public string? BridgeName { get; set; }
    public string? Stp { get; set; }                    // on | off
    public int? Delay { get; set; }
    public string? Mac { get; set; }
    public int? Mtu { get; set; }
    public string? DomainName { get; set; }
    public string? DomainLocalOnly { get; set; }        // yes | no
    public List<NetIpDef> Ips { get; set; } = [];
    public List<DnsHostDef> DnsHosts { get; set; } = [];

    /// <summary>nat | route | open | bridge | isolated.</summary>
    public string Mode => Forward?.Mode ?? "isolated";

    /// <summary>Vireo makes (and removes) the bridge: every mode but bridge, which joins one the host has.</summary>
    public bool ManagedBridge => Mode != "bridge";

    /// <summary>forward mode='bridge' with &lt;interface dev&gt; entries and no bridge: guests get macvtaps on those devices.</summary>
    public bool MacvtapPool => Mode == "bridge" && BridgeName is null;

    public NetIpDef? Ipv4 => Ips.FirstOrDefault(i => i.Family == "ipv4");

    public NetworkDef Clone() => NetworkXml.Parse(NetworkXml.Write(this));
}

public sealed class ForwardDef
{
    public string Mode { get; set; } = "nat";
    /// <summary>The uplink: masquerade/route only out of this device when set.</summary>
    public string? Dev { get; set; }
    /// <summary>&lt;interface dev&gt; entries: the devices of a macvtap pool (mode bridge).</summary>
    public List<string> Interfaces { get; set; } = [];
    public int? NatPortStart { get; set; }
    public int? NatPortEnd { get; set; }
}

public sealed class NetIpDef
{
    public string Family { get; set; } = "ipv4";
    public IPAddress Address { get; set; } = IPAddress.None;
    public int Prefix { get; set; }
    /// <summary>Written back as netmask= when it was read that way (libvirt keeps the form).</summary>
    public bool NetmaskForm { get; set; }
    public List<DhcpRangeDef> Ranges { get; set; } = [];
    public List<DhcpHostDef> Hosts { get; set; } = [];

    public IPNetwork Subnet => new(Mask(Address, Prefix), Prefix);
    public bool HasDhcp => Ranges.Count > 0 || Hosts.Count > 0;

    public static IPAddress Mask(IPAddress a, int prefix)
    {
        var bytes = a.GetAddressBytes();
        for (int i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - i * 8, 0, 8);
            bytes[i] &= (byte)(0xff << (8 - keep));
        }
        return new IPAddress(bytes);
    }

    public static IPAddress Netmask(int prefix) => Mask(IPAddress.Broadcast, prefix);

    public IPAddress? Broadcast
    {
        get
        {
            if (Address.AddressFamily != AddressFamily.InterNetwork) return null;
            var b = Subnet.BaseAddress.GetAddressBytes();
            var m = Netmask(Prefix).GetAddressBytes();
            for (int i = 0; i < 4; i++) b[i] |= (byte)~m[i];
            return new IPAddress(b);
        }
    }
}

public sealed class DhcpRangeDef
{
    public IPAddress Start { get; set; } = IPAddress.None;
    public IPAddress End { get; set; } = IPAddress.None;
    public int? LeaseExpiry { get; set; }
    public string? LeaseUnit { get; set; }              // seconds | minutes | hours
}

public sealed class DhcpHostDef
{
    public string? Mac { get; set; }
    public string? Name { get; set; }
    public IPAddress? Ip { get; set; }
}

public sealed class DnsHostDef
{
    public IPAddress Ip { get; set; } = IPAddress.None;
    public List<string> Hostnames { get; set; } = [];
}
