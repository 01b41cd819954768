using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>libvirt network XML, read and written in libvirt's layout.</summary>
public static class NetworkXml
{
    public static NetworkDef Parse(string xml)
    {
        var root = XmlReading.Load(xml, "network", "use define for domains and pool-define for pools");
        var r = new Reader();
        var def = r.Network(root);
        r.Problems.ThrowIfAny();
        return def;
    }

    private sealed class Reader : XmlReading
    {
        /// <summary>net-update delete names a host by MAC or name alone.</summary>
        public bool HostWithoutIp { get; init; }

        public NetworkDef Network(XElement root)
        {
            var n = new NetworkDef();
            foreach (var a in root.Attributes())
                if (a.Name.LocalName is not ("connections" or "ipv6" or "trustGuestRxFilters"))
                    Problems.Add($"Unsupported attribute {a.Name.LocalName} of <network>.", a);
            foreach (var e in root.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "name": n.Name = e.Value.Trim(); break;
                    case "uuid": if (Uuid(e) is { } g) n.Uuid = g; break;
                    case "title": n.Title = e.Value; break;
                    case "description": n.Description = e.Value; break;
                    case "metadata": break;
                    case "forward": n.Forward = Forward(e); break;
                    case "bridge":
                        n.BridgeName = A(e, "name");
                        n.Stp = OneOf(e, "stp", "on", "off");
                        n.Delay = Int(e, "delay");
                        foreach (var a in e.Attributes().Where(a => a.Name.LocalName is not ("name" or "stp" or "delay")))
                            Problems.Add($"Unsupported attribute {a.Name.LocalName} of <bridge>; Vireo's bridges take name, stp and delay.", a);
                        break;
                    case "mac": n.Mac = Mac(e); break;
                    case "mtu": n.Mtu = Int(e, "size"); break;
                    case "domain":
                        n.DomainName = A(e, "name");
                        n.DomainLocalOnly = OneOf(e, "localOnly", "yes", "no");
                        break;
                    case "dns": Dns(e, n); break;
                    case "ip": if (Ip(e) is { } ip) n.Ips.Add(ip); break;
                    default: Unsupported(e, "network"); break;
                }
            }
            return n;
        }

        private ForwardDef Forward(XElement e)
        {
            var f = new ForwardDef { Mode = OneOf(e, "mode", "nat", "route", "open", "bridge") ?? "nat", Dev = A(e, "dev") };
            foreach (var c in e.Elements())
            {
                switch (c.Name.LocalName)
                {
                    case "nat":
                        foreach (var x in c.Elements())
                        {
                            if (x.Name.LocalName != "port") { Unsupported(x, "nat"); continue; }
                            f.NatPortStart = Int(x, "start");
                            f.NatPortEnd = Int(x, "end");
                        }
                        break;
                    case "interface":
                        if (A(c, "dev") is { } dev) f.Interfaces.Add(dev);
                        else Problems.Add("A <forward><interface> needs dev='NAME'.", c);
                        break;
                    default: Unsupported(c, "forward"); break;
                }
            }
            return f;
        }

        private void Dns(XElement e, NetworkDef n)
        {
            foreach (var c in e.Elements())
            {
                if (c.Name.LocalName != "host") { Unsupported(c, "dns"); continue; }
                var ip = Address(c, "ip");
                var h = new DnsHostDef { Ip = ip ?? IPAddress.None };
                foreach (var hn in c.Elements())
                {
                    if (hn.Name.LocalName == "hostname") h.Hostnames.Add(hn.Value.Trim());
                    else Unsupported(hn, "host");
                }
                if (A(c, "ip") is null) Problems.Add("A <dns><host> needs ip='ADDRESS'.", c);
                if (h.Hostnames.Count == 0) Problems.Add("A <dns><host> needs at least one <hostname>.", c);
                n.DnsHosts.Add(h);
            }
        }

        private IPAddress? Address(XElement e, string attr)
        {
            var v = A(e, attr);
            if (v is null) return null;
            if (IPAddress.TryParse(v, out var ip) && v.Contains(ip.AddressFamily == AddressFamily.InterNetwork ? '.' : ':')) return ip;
            Problems.Add($"'{v}' in {attr} of <{e.Name.LocalName}> is not an IP address.", e.Attribute(attr));
            return null;
        }

        private NetIpDef? Ip(XElement e)
        {
            var family = OneOf(e, "family", "ipv4", "ipv6");
            var address = Address(e, "address");
            if (address is null)
            {
                if (A(e, "address") is null) Problems.Add("An <ip> needs address='GATEWAY' (the host's address on the network).", e);
                return null;
            }
            var v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
            if (family is not null && family == "ipv6" != v6)
                Problems.Add($"Address '{address}' is not an {family} address.", e);
            var ip = new NetIpDef { Family = v6 ? "ipv6" : "ipv4", Address = address };
            var bits = v6 ? 128 : 32;
            if (A(e, "netmask") is { } nm)
            {
                ip.NetmaskForm = true;
                if (v6) Problems.Add("IPv6 addresses take prefix='N', not a netmask.", e);
                else if (!IPAddress.TryParse(nm, out var mask) || PrefixOf(mask) is not { } p)
                    Problems.Add($"Netmask '{nm}' is not a valid IPv4 netmask (like 255.255.255.0).", e.Attribute("netmask"));
                else ip.Prefix = p;
                if (A(e, "prefix") is not null) Problems.Add("Give either netmask= or prefix= on <ip>, not both.", e);
            }
            else if (Int(e, "prefix") is { } prefix)
            {
                if (prefix < 1 || prefix > bits) Problems.Add($"Prefix {prefix} is outside 1-{bits}.", e.Attribute("prefix"));
                else ip.Prefix = prefix;
            }
            else if (A(e, "prefix") is null)
            {
                if (v6) Problems.Add("An IPv6 <ip> needs prefix='N' (64 usually).", e);
                else ip.Prefix = ClassfulPrefix(address); // libvirt's fallback when neither is given
            }
            foreach (var c in e.Elements())
            {
                switch (c.Name.LocalName)
                {
                    case "dhcp":
                        foreach (var d in c.Elements())
                        {
                            switch (d.Name.LocalName)
                            {
                                case "range":
                                    var r = new DhcpRangeDef { Start = Address(d, "start") ?? IPAddress.None, End = Address(d, "end") ?? IPAddress.None };
                                    if (A(d, "start") is null || A(d, "end") is null) Problems.Add("A DHCP <range> needs start= and end=.", d);
                                    foreach (var l in d.Elements())
                                    {
                                        if (l.Name.LocalName != "lease") { Unsupported(l, "range"); continue; }
                                        r.LeaseExpiry = Int(l, "expiry");
                                        r.LeaseUnit = OneOf(l, "unit", "seconds", "minutes", "hours");
                                    }
                                    ip.Ranges.Add(r);
                                    break;
                                case "host":
                                    var h = new DhcpHostDef { Name = A(d, "name"), Ip = Address(d, "ip") };
                                    if (A(d, "mac") is not null) h.Mac = Mac(d);
                                    if (A(d, "id") is not null) Problems.Add("DHCP hosts by client id (id=) are not supported; use mac=.", d);
                                    if (h.Mac is null && h.Name is null && A(d, "mac") is null) Problems.Add("A DHCP <host> needs mac= or name=.", d);
                                    if (h.Ip is null && A(d, "ip") is null && !v6 && !HostWithoutIp) Problems.Add("A DHCP <host> needs ip='ADDRESS'.", d);
                                    ip.Hosts.Add(h);
                                    break;
                                default: Unsupported(d, "dhcp"); break;
                            }
                        }
                        break;
                    default: Unsupported(c, "ip"); break;
                }
            }
            return ip;
        }

        private static int ClassfulPrefix(IPAddress a)
        {
            var first = a.GetAddressBytes()[0];
            return first < 128 ? 8 : first < 192 ? 16 : 24;
        }

        /// <summary>The prefix length of a contiguous netmask; null for 255.0.255.0 and the like.</summary>
        internal static int? PrefixOf(IPAddress mask)
        {
            if (mask.AddressFamily != AddressFamily.InterNetwork) return null;
            var b = mask.GetAddressBytes();
            uint v = (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
            var ones = System.Numerics.BitOperations.PopCount(v);
            return ones > 0 && (ones == 32 || v << ones == 0) ? ones : null;
        }
    }

    public static string Write(NetworkDef n)
    {
        var root = new XElement("network");
        root.Add(new XElement("name", n.Name));
        if (n.Uuid != Guid.Empty) root.Add(new XElement("uuid", n.Uuid.ToString()));
        if (n.Title is not null) root.Add(new XElement("title", n.Title));
        if (n.Description is not null) root.Add(new XElement("description", n.Description));
        if (n.Forward is { } f)
        {
            var fe = new XElement("forward", new XAttribute("mode", f.Mode), Attr("dev", f.Dev));
            if (f.NatPortStart is not null || f.NatPortEnd is not null)
                fe.Add(new XElement("nat", new XElement("port", Attr("start", f.NatPortStart), Attr("end", f.NatPortEnd))));
            foreach (var i in f.Interfaces) fe.Add(new XElement("interface", new XAttribute("dev", i)));
            root.Add(fe);
        }
        if (n.BridgeName is not null || n.Stp is not null || n.Delay is not null)
            root.Add(new XElement("bridge", Attr("name", n.BridgeName), Attr("stp", n.Stp), Attr("delay", n.Delay)));
        if (n.Mtu is { } mtu) root.Add(new XElement("mtu", new XAttribute("size", mtu)));
        if (n.Mac is not null) root.Add(new XElement("mac", new XAttribute("address", n.Mac)));
        if (n.DomainName is not null) root.Add(new XElement("domain", new XAttribute("name", n.DomainName), Attr("localOnly", n.DomainLocalOnly)));
        if (n.DnsHosts.Count > 0)
            root.Add(new XElement("dns", n.DnsHosts.Select(h => new XElement("host", new XAttribute("ip", h.Ip),
                h.Hostnames.Select(x => new XElement("hostname", x))))));
        foreach (var ip in n.Ips)
        {
            var ie = new XElement("ip", ip.Family == "ipv6" ? new XAttribute("family", "ipv6") : null, new XAttribute("address", ip.Address));
            if (ip.NetmaskForm) ie.Add(new XAttribute("netmask", NetIpDef.Netmask(ip.Prefix)));
            else ie.Add(new XAttribute("prefix", ip.Prefix));
            if (ip.HasDhcp)
            {
                var dhcp = new XElement("dhcp");
                foreach (var r in ip.Ranges)
                {
                    var re = new XElement("range", new XAttribute("start", r.Start), new XAttribute("end", r.End));
                    if (r.LeaseExpiry is { } exp) re.Add(new XElement("lease", new XAttribute("expiry", exp), Attr("unit", r.LeaseUnit)));
                    dhcp.Add(re);
                }
                foreach (var h in ip.Hosts) dhcp.Add(HostElement(h));
                ie.Add(dhcp);
            }
            root.Add(ie);
        }
        return DomainXml.ToText(root);
    }

    /// <summary>A &lt;host&gt; element as net-update takes and dumpxml writes it.</summary>
    public static XElement HostElement(DhcpHostDef h) =>
        new("host", Attr("mac", h.Mac), Attr("name", h.Name), Attr("ip", h.Ip));

    /// <summary>Reads one &lt;host mac name ip/&gt; for net-update.</summary>
    public static DhcpHostDef ParseHost(string xml)
    {
        var root = XmlReading.Load(xml, "host", "net-update ip-dhcp-host takes <host mac='..' name='..' ip='..'/>");
        var r = new Reader { HostWithoutIp = true };
        var ip = r.Network(XElement.Parse($"<network><ip address='0.0.0.1' prefix='1'><dhcp>{root}</dhcp></ip></network>"));
        r.Problems.ThrowIfAny();
        return ip.Ips[0].Hosts[0];
    }

    private static XAttribute? Attr(string name, object? value) =>
        value is null ? null : new XAttribute(name, Convert.ToString(value, CultureInfo.InvariantCulture)!);
}
