using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Vireo.Model;

/// <summary>What libvirt fills in on net-define, and the checks a network must pass, alone and beside the others.</summary>
public static partial class NetworkRules
{
    [GeneratedRegex(@"^[A-Za-z0-9_.:+-]{1,15}$")]
    private static partial Regex LinkNamePattern();

    public static bool IsLinkName(string name) => LinkNamePattern().IsMatch(name) && name is not ("." or "..");

    /// <summary>
    /// Parses, completes and checks a definition against the networks already defined. A
    /// redefinition (<paramref name="previous"/>) keeps the MAC and bridge generated the first
    /// time unless the XML sets them.
    /// </summary>
    public static NetworkDef ParseForDefine(string xml, IReadOnlyCollection<NetworkDef> others, out bool uuidGiven, NetworkDef? previous = null)
    {
        var n = NetworkXml.Parse(xml);
        uuidGiven = n.Uuid != Guid.Empty;
        Complete(n, others, previous);
        return n;
    }

    /// <summary>The define step after parsing: carry over from the previous definition, fill, validate.</summary>
    public static void Complete(NetworkDef n, IReadOnlyCollection<NetworkDef> others, NetworkDef? previous = null)
    {
        if (previous is not null)
        {
            n.Mac ??= previous.Mac;
            if (n.ManagedBridge == previous.ManagedBridge) n.BridgeName ??= previous.BridgeName;
        }
        Fill(n, others);
        Validate(n, others);
    }

    public static void Fill(NetworkDef n, IReadOnlyCollection<NetworkDef> others)
    {
        if (n.Uuid == Guid.Empty) n.Uuid = Guid.NewGuid();
        if (n.ManagedBridge)
        {
            if (n.BridgeName is null)
            {
                // virbrN, the lowest number no other network uses (libvirt's template).
                var used = others.Where(o => o.Name != n.Name).Select(o => o.BridgeName).ToHashSet();
                for (int i = 0; ; i++)
                    if (!used.Contains($"virbr{i}")) { n.BridgeName = $"virbr{i}"; break; }
            }
            // Off unless asked for: a Vireo bridge has only guest taps (no loop for STP to break),
            // and with STP on the kernel holds every new port for 2 x forward_delay (at least
            // 2 s each), which loses a booting guest's first DHCP requests.
            n.Stp ??= "off";
            n.Delay ??= 0;
            n.Mac ??= MacAddress.Generate();
        }
        if (n.Mode == "nat" && n.Forward is { NatPortStart: null, NatPortEnd: null } f)
        {
            f.NatPortStart = 1024;
            f.NatPortEnd = 65535;
        }
    }

    public static void Validate(NetworkDef n, IReadOnlyCollection<NetworkDef> others)
    {
        var p = new List<Problem>();
        if (string.IsNullOrEmpty(n.Name)) p.Add(new("The network needs a <name>."));
        else if (n.Name.Length > 200 || !DomainRules.NamePattern().IsMatch(n.Name))
            p.Add(new($"Network name '{n.Name}' is not allowed; use letters, digits and _ . + : - (at most 200), not starting with a dot or dash."));
        if (n.BridgeName is { } br && (!IsLinkName(br) || br.Contains('%')))
            p.Add(new($"Bridge name '{br}' is not a valid interface name; use at most 15 letters, digits and _ . : + -."));
        if (n.Delay is < 0 or > 30) p.Add(new($"Bridge forward delay {n.Delay} is outside 0-30 seconds."));
        if (n.Mtu is < 68 or > 65535) p.Add(new($"MTU {n.Mtu} is outside 68-65535."));
        if (n.Forward is { } f)
        {
            if (f.Dev is { } dev && !IsLinkName(dev)) p.Add(new($"Forward device '{dev}' is not a valid interface name."));
            if (f.Mode == "bridge")
            {
                if (n.BridgeName is null && f.Interfaces.Count == 0)
                    p.Add(new("A network with <forward mode='bridge'> needs <bridge name='BRIDGE'/> (an existing host bridge) or <interface dev='NIC'/> entries (macvtap)."));
                if (n.BridgeName is not null && f.Interfaces.Count > 0)
                    p.Add(new("A network with <forward mode='bridge'> takes either <bridge name=...> or <interface dev=...> entries, not both."));
                if (n.Ips.Count > 0 || n.DnsHosts.Count > 0 || n.DomainName is not null)
                    p.Add(new("A network with <forward mode='bridge'> joins a bridge the host already has: it takes no <ip>, <dns> or <domain> (the LAN's own DHCP serves its guests)."));
                if (n.Mac is not null) p.Add(new("A network with <forward mode='bridge'> does not own its bridge and takes no <mac>."));
            }
            if (f.Mode != "nat" && (f.NatPortStart is not null || f.NatPortEnd is not null))
                p.Add(new($"<nat> applies to mode='nat' only, not mode='{f.Mode}'."));
            if (f.NatPortStart is { } s && f.NatPortEnd is { } e && (s < 1 || e > 65535 || s > e))
                p.Add(new($"NAT port range {s}-{e} is not within 1-65535 in order."));
            if (f.Mode == "route" && n.Ipv4 is null && !n.Ips.Any())
                p.Add(new("A routed network needs an <ip> (the subnet the host routes to)."));
            if (f.Mode == "nat" && n.Ipv4 is null)
                p.Add(new("A NAT network needs an IPv4 <ip address='GATEWAY' netmask='...'> to masquerade."));
        }
        if (n.Ips.Count(i => i.Family == "ipv4" && i.HasDhcp) > 1) p.Add(new("Only one IPv4 <ip> may have <dhcp>."));
        if (n.Ips.Count(i => i.Family == "ipv6" && i.HasDhcp) > 1) p.Add(new("Only one IPv6 <ip> may have <dhcp>."));
        foreach (var ip in n.Ips) CheckIp(ip, p);
        foreach (var h in n.DnsHosts)
        {
            foreach (var name in h.Hostnames.Where(x => !IsHostname(x)))
                p.Add(new($"DNS host name '{name}' is not a valid host name."));
        }
        if (n.DomainName is { } dn && !IsHostname(dn)) p.Add(new($"Domain name '{dn}' is not a valid DNS domain."));

        foreach (var o in others.Where(o => o.Name != n.Name))
        {
            if (n.ManagedBridge && o.BridgeName is not null && o.BridgeName == n.BridgeName)
                p.Add(new($"Bridge name '{n.BridgeName}' is already used by network '{o.Name}'; pick another <bridge name=...> or leave it out for the next free virbrN."));
            else if (!n.ManagedBridge && o.ManagedBridge && o.BridgeName == n.BridgeName)
                p.Add(new($"Bridge '{n.BridgeName}' is made and removed by network '{o.Name}'; a forward mode='bridge' network must name a bridge of the host's own."));
            foreach (var ip in n.Ips)
                foreach (var oip in o.Ips.Where(x => x.Family == ip.Family))
                    if (Overlap(ip.Subnet, oip.Subnet))
                        p.Add(new($"Subnet {ip.Subnet} overlaps {oip.Subnet} of network '{o.Name}'; choose another address range."));
        }
        if (p.Count > 0) throw new DefinitionException(p);
    }

    private static void CheckIp(NetIpDef ip, List<Problem> p)
    {
        if (ip.Prefix == 0) return; // already reported by the reader
        var net = ip.Subnet;
        if (ip.Family == "ipv4" && ip.Prefix < 31)
        {
            if (ip.Address.Equals(net.BaseAddress)) p.Add(new($"Address {ip.Address} is the network address of {net}; give the host an address inside it (like {Offset(net.BaseAddress, 1)})."));
            if (ip.Address.Equals(ip.Broadcast)) p.Add(new($"Address {ip.Address} is the broadcast address of {net}."));
        }
        var seenMac = new HashSet<string>();
        var seenIp = new HashSet<IPAddress>();
        var seenName = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var r in ip.Ranges)
        {
            if (r.Start.Equals(IPAddress.None) || r.End.Equals(IPAddress.None)) continue;
            foreach (var (what, a) in new[] { ("start", r.Start), ("end", r.End) })
                if (!net.Contains(a)) p.Add(new($"DHCP range {what} {a} is outside the network {net}; keep the range inside the subnet."));
            if (Compare(r.Start, r.End) > 0) p.Add(new($"DHCP range {r.Start}-{r.End} ends before it starts."));
            if (ip.Family == "ipv4" && (r.Start.Equals(net.BaseAddress) || r.End.Equals(ip.Broadcast)))
                p.Add(new($"DHCP range {r.Start}-{r.End} includes the network or broadcast address of {net}."));
            if (r.LeaseExpiry is < 0) p.Add(new($"Lease expiry {r.LeaseExpiry} is negative."));
        }
        foreach (var h in ip.Hosts)
        {
            if (h.Ip is { } a)
            {
                if (!net.Contains(a)) p.Add(new($"DHCP host {a} is outside the network {net}."));
                else if (a.Equals(ip.Address)) p.Add(new($"DHCP host {a} is the host's own address on the network."));
                if (!seenIp.Add(a)) p.Add(new($"DHCP host address {a} is given twice."));
            }
            if (h.Mac is { } mac && !seenMac.Add(mac)) p.Add(new($"DHCP host MAC {mac} is given twice."));
            if (h.Name is { } name)
            {
                if (!IsHostname(name)) p.Add(new($"DHCP host name '{name}' is not a valid host name."));
                else if (!seenName.Add(name) && h.Mac is null) p.Add(new($"DHCP host name '{name}' is given twice."));
            }
        }
    }

    public static bool Overlap(IPNetwork a, IPNetwork b) =>
        a.BaseAddress.AddressFamily == b.BaseAddress.AddressFamily && (a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress));

    public static int Compare(IPAddress a, IPAddress b)
    {
        var x = a.GetAddressBytes();
        var y = b.GetAddressBytes();
        if (x.Length != y.Length) return x.Length.CompareTo(y.Length);
        for (int i = 0; i < x.Length; i++) if (x[i] != y[i]) return x[i].CompareTo(y[i]);
        return 0;
    }

    public static IPAddress Offset(IPAddress a, int delta)
    {
        var b = a.GetAddressBytes();
        int carry = delta;
        for (int i = b.Length - 1; i >= 0 && carry != 0; i--)
        {
            var v = b[i] + carry;
            b[i] = (byte)(v & 0xff);
            carry = v >> 8;
        }
        return new IPAddress(b);
    }

    [GeneratedRegex(@"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")]
    private static partial Regex HostnamePattern();

    public static bool IsHostname(string s) => HostnamePattern().IsMatch(s);

    /// <summary>Checks one DHCP host entry for net-update against the network it joins.</summary>
    public static void ValidateHost(NetworkDef n, DhcpHostDef h)
    {
        var copy = n.Clone();
        var ip = (h.Ip?.AddressFamily == AddressFamily.InterNetworkV6 ? copy.Ips.FirstOrDefault(i => i.Family == "ipv6") : copy.Ipv4)
            ?? throw new DefinitionException($"Network '{n.Name}' has no {(h.Ip?.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} <ip> for DHCP hosts.");
        ip.Hosts.Add(h);
        var p = new List<Problem>();
        if (h.Ip is null && ip.Family == "ipv4") p.Add(new("A DHCP <host> needs ip='ADDRESS'."));
        CheckIp(ip, p);
        if (p.Count > 0) throw new DefinitionException(p);
    }
}
