using System.Net;
using System.Text.Json.Nodes;
using Vireo.Engine;
using Vireo.Host;
using Vireo.Model;

namespace Vireo.Tests;

public class NetworkTests
{
    private static readonly Guid FixedUuid = Guid.Parse("00000000-0000-4000-8000-000000000001");

    public static IEnumerable<object[]> Inputs() =>
        Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Golden", "networks"), "*.xml")
            .Where(f => !f.EndsWith(".out.xml", StringComparison.Ordinal))
            .Select(f => new object[] { Path.GetFileNameWithoutExtension(f) })
            .OrderBy(x => (string)x[0]);

    private static NetworkDef Define(string name, IReadOnlyCollection<NetworkDef>? others = null)
    {
        var xml = GoldenFiles.Read($"networks/{name}.xml");
        var n = NetworkRules.ParseForDefine(xml, others ?? [], out var uuidGiven);
        // Generated values are random: pin them so the golden file is stable.
        if (!uuidGiven) n.Uuid = FixedUuid;
        if (!xml.Contains("<mac", StringComparison.Ordinal) && n.Mac is not null) n.Mac = "52:54:00:ff:ff:ff";
        return n;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Net_define_fills_like_libvirt_and_net_dumpxml_round_trips(string name)
    {
        var written = NetworkXml.Write(Define(name));
        GoldenFiles.Check($"networks/{name}.out.xml", written);
        Assert.Equal(written, NetworkXml.Write(NetworkRules.ParseForDefine(written, [], out _)));
    }

    /// <summary>Networks Vireo runs a dnsmasq for (not forward mode='bridge': the LAN's own DHCP serves those).</summary>
    public static IEnumerable<object[]> ManagedInputs() => Inputs().Where(x => Define((string)x[0]).ManagedBridge);

    [Fact]
    public void Only_bridge_mode_networks_have_no_dnsmasq() =>
        Assert.Equal(["hostbridge", "macvtap"], Inputs().Select(x => (string)x[0]).Where(n => !Define(n).ManagedBridge));

    [Theory]
    [MemberData(nameof(ManagedInputs))]
    public void Dnsmasq_configuration_matches_libvirts_shape(string name)
    {
        var n = Define(name);
        var files = new DnsmasqFiles("/run/vireo/network/x.conf", "/run/vireo/network/x.hostsfile", "/run/vireo/network/x.addnhosts",
            "/run/vireo/network/x.leases", "/run/vireo/network/x.pid", "/run/vireo/network/x.log");
        var text = Dnsmasq.Config(n, files) + "--- hostsfile\n" + Dnsmasq.HostsFile(n) + "--- addnhosts\n" + Dnsmasq.AddnHosts(n);
        GoldenFiles.Check($"networks/{name}.dnsmasq", text);
    }

    [Fact]
    public void Default_network_gets_what_libvirt_gives_it()
    {
        var n = NetworkRules.ParseForDefine(GoldenFiles.Read("networks/default.xml"), [], out var uuidGiven);
        Assert.False(uuidGiven);
        Assert.NotEqual(Guid.Empty, n.Uuid);
        Assert.Equal("nat", n.Mode);
        Assert.Equal(1024, n.Forward!.NatPortStart);
        Assert.Matches("^52:54:00:", n.Mac);
        Assert.Equal(24, n.Ipv4!.Prefix);
        Assert.Equal("off", n.Stp); // Vireo's default: no STP hold-down on new guest ports
    }

    [Fact]
    public void Bridge_names_are_the_next_free_virbrN()
    {
        var a = NetworkRules.ParseForDefine("<network><name>a</name><ip address='10.1.0.1' prefix='24'/></network>", [], out _);
        var b = NetworkRules.ParseForDefine("<network><name>b</name><ip address='10.2.0.1' prefix='24'/></network>", [a], out _);
        Assert.Equal("virbr0", a.BridgeName);
        Assert.Equal("virbr1", b.BridgeName);
    }

    private const string Base = "<network><name>n</name>{0}<ip address='192.168.50.1' netmask='255.255.255.0'><dhcp><range start='192.168.50.10' end='192.168.50.20'/>{1}</dhcp></ip></network>";

    [Theory]
    [InlineData("<forward mode='nat'/><bridge name='this-name-is-too-long'/>", "", "Bridge name 'this-name-is-too-long' is not a valid interface name")]
    [InlineData("<forward mode='nat'/><bridge name='virbr9' delay='99'/>", "", "Bridge forward delay 99 is outside 0-30 seconds.")]
    [InlineData("<forward mode='weird'/>", "", "Unsupported mode of <forward> 'weird'; expected 'nat', 'route', 'open', 'bridge'.")]
    [InlineData("<forward mode='bridge'/>", "", "A network with <forward mode='bridge'> needs <bridge name='BRIDGE'/>")]
    [InlineData("<forward mode='route'><nat><port start='1' end='2'/></nat></forward>", "", "<nat> applies to mode='nat' only, not mode='route'.")]
    [InlineData("<forward/>", "<host mac='52:54:00:00:00:01' ip='192.168.60.5'/>", "DHCP host 192.168.60.5 is outside the network 192.168.50.0/24.")]
    [InlineData("<forward/>", "<host mac='52:54:00:00:00:01' ip='192.168.50.5'/><host mac='52:54:00:00:00:01' ip='192.168.50.6'/>", "DHCP host MAC 52:54:00:00:00:01 is given twice.")]
    [InlineData("<forward/>", "<host mac='52:54:00:00:00:01' ip='192.168.50.5'/><host mac='52:54:00:00:00:02' ip='192.168.50.5'/>", "DHCP host address 192.168.50.5 is given twice.")]
    [InlineData("<forward/>", "<host mac='52:54:00:00:00:01' ip='192.168.50.1'/>", "DHCP host 192.168.50.1 is the host's own address on the network.")]
    [InlineData("<forward/>", "<host mac='01:54:00:00:00:01' ip='192.168.50.5'/>", "MAC address '01:54:00:00:00:01' is a multicast address")]
    [InlineData("<forward/>", "<host mac='52:54:00:00:00:01' name='bad_name!' ip='192.168.50.5'/>", "DHCP host name 'bad_name!' is not a valid host name.")]
    [InlineData("<forward/><domain name='-bad-'/>", "", "Domain name '-bad-' is not a valid DNS domain.")]
    [InlineData("<forward/><dns><host ip='192.168.50.9'/></dns>", "", "A <dns><host> needs at least one <hostname>.")]
    [InlineData("<forward/>", "<bootp file='pxelinux.0'/>", "Unsupported element <bootp> in <dhcp>")]
    public void Bad_networks_get_exact_errors(string extra, string hosts, string error)
    {
        var e = Assert.Throws<DefinitionException>(() => NetworkRules.ParseForDefine(string.Format(Base, extra, hosts), [], out _));
        Assert.Contains(error, e.Message);
    }

    [Theory]
    [InlineData("<ip address='192.168.50.0' prefix='24'/>", "Address 192.168.50.0 is the network address of 192.168.50.0/24")]
    [InlineData("<ip address='192.168.50.255' prefix='24'/>", "Address 192.168.50.255 is the broadcast address of 192.168.50.0/24.")]
    [InlineData("<ip address='192.168.50.1' prefix='40'/>", "Prefix 40 is outside 1-32.")]
    [InlineData("<ip address='192.168.50.1' netmask='255.255.0.255'/>", "Netmask '255.255.0.255' is not a valid IPv4 netmask")]
    [InlineData("<ip address='192.168.50.1' prefix='24'><dhcp><range start='192.168.50.90' end='192.168.50.10'/></dhcp></ip>", "DHCP range 192.168.50.90-192.168.50.10 ends before it starts.")]
    [InlineData("<ip address='192.168.50.1' prefix='24'><dhcp><range start='192.168.50.0' end='192.168.50.10'/></dhcp></ip>", "includes the network or broadcast address")]
    [InlineData("<ip address='not-an-ip' prefix='24'/>", "'not-an-ip' in address of <ip> is not an IP address.")]
    [InlineData("<ip family='ipv6' address='fd00::1'/>", "An IPv6 <ip> needs prefix='N'")]
    [InlineData("<ip family='ipv4' address='fd00::1' prefix='64'/>", "Address 'fd00::1' is not an ipv4 address.")]
    public void Bad_addresses_get_exact_errors(string ip, string error)
    {
        var e = Assert.Throws<DefinitionException>(() => NetworkRules.ParseForDefine($"<network><name>n</name>{ip}</network>", [], out _));
        Assert.Contains(error, e.Message);
    }

    [Fact]
    public void Errors_carry_their_line()
    {
        var e = Assert.Throws<DefinitionException>(() => NetworkXml.Parse("<network>\n  <name>x</name>\n  <portgroup name='a'/>\n</network>"));
        Assert.Equal("line 3: Unsupported element <portgroup> in <network>; remove it or see the list of supported elements in ARCHITECTURE.md.", e.Message);
    }

    [Fact]
    public void Networks_are_checked_against_each_other()
    {
        var def = NetworkRules.ParseForDefine(GoldenFiles.Read("networks/default.xml"), [], out _);
        var overlap = Assert.Throws<DefinitionException>(() => NetworkRules.ParseForDefine(
            "<network><name>b</name><bridge name='virbr1'/><ip address='192.168.122.129' prefix='25'/></network>", [def], out _));
        Assert.Equal("Subnet 192.168.122.128/25 overlaps 192.168.122.0/24 of network 'default'; choose another address range.", overlap.Message);
        var clash = Assert.Throws<DefinitionException>(() => NetworkRules.ParseForDefine(
            "<network><name>b</name><bridge name='virbr0'/><ip address='10.0.0.1' prefix='24'/></network>", [def], out _));
        Assert.Contains("Bridge name 'virbr0' is already used by network 'default'", clash.Message);
        var owned = Assert.Throws<DefinitionException>(() => NetworkRules.ParseForDefine(
            "<network><name>b</name><forward mode='bridge'/><bridge name='virbr0'/></network>", [def], out _));
        Assert.Contains("Bridge 'virbr0' is made and removed by network 'default'", owned.Message);
        // Redefining the same network is not a clash with itself.
        NetworkRules.ParseForDefine(GoldenFiles.Read("networks/default.xml"), [def], out _);
    }

    [Fact]
    public void Net_update_hosts_are_checked_against_the_network()
    {
        var n = Define("full");
        Assert.Equal("52:54:00:00:00:99", NetworkXml.ParseHost("<host mac='52:54:00:00:00:99'/>").Mac);
        var e = Assert.Throws<DefinitionException>(() => NetworkRules.ValidateHost(n, new DhcpHostDef { Mac = "52:54:00:00:00:99", Ip = IPAddress.Parse("10.20.0.10") }));
        Assert.Contains("DHCP host address 10.20.0.10 is given twice.", e.Message);
        var noIp = Assert.Throws<DefinitionException>(() => NetworkRules.ValidateHost(n, new DhcpHostDef { Mac = "52:54:00:00:00:98" }));
        Assert.Contains("needs ip=", noIp.Message);
        Assert.Throws<DefinitionException>(() => NetworkXml.ParseHost("<lease/>"));
    }

    [Fact]
    public void Firewall_table_covers_every_mode_and_port_forward()
    {
        var nets = new[] { Define("full"), Define("isolated"), Define("routed"), Define("hostbridge"), Define("default") };
        nets[4].BridgeName = "virbr0";
        var forwards = new[]
        {
            new PortForward("web", "lab", "labbr0", "tcp", null, 8080, 8080, IPAddress.Parse("10.20.0.10"), 80),
            new PortForward("web", "lab", "labbr0", "udp", IPAddress.Parse("192.0.2.7"), 5000, 5009, IPAddress.Parse("10.20.0.10"), 6000),
            new PortForward("db", "lab", "labbr0", "tcp", null, 5432, 5432, null, 5432), // no lease yet: no rule
        };
        GoldenFiles.Check("networks/firewall.nft", Firewall.Render("vireo", nets, forwards));
    }

    [Fact]
    public void Firewall_with_nothing_active_removes_the_table()
    {
        Assert.Equal("table inet vireo {}\ndelete table inet vireo\n", Firewall.Render("vireo", [], []));
    }

    [Fact]
    public void Guard_finds_other_tables_forward_chains_that_drop_and_our_own_rules()
    {
        // What `nft -j list ruleset` prints for Docker's FORWARD chain, a hardened inet filter,
        // a harmless chain, and one of our guard rules.
        var ruleset = JsonNode.Parse("""
            [
              {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
              {"table": {"family": "ip", "name": "filter", "handle": 1}},
              {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
              {"table": {"family": "inet", "name": "fw", "handle": 3}},
              {"chain": {"family": "inet", "table": "fw", "name": "fwd", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
              {"rule": {"family": "inet", "table": "fw", "chain": "fwd", "handle": 4, "expr": [{"drop": null}]}},
              {"table": {"family": "inet", "name": "calm", "handle": 5}},
              {"chain": {"family": "inet", "table": "calm", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
              {"chain": {"family": "inet", "table": "vireo", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": -5, "policy": "drop"}},
              {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 9, "comment": "vireo:default", "expr": []}},
              {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 10, "comment": "vireo:lab", "expr": []}},
              {"table": {"family": "inet", "name": "firewalld", "handle": 7, "flags": ["owner", "persist"]}},
              {"chain": {"family": "inet", "table": "firewalld", "name": "filter_FORWARD", "handle": 1, "type": "filter", "hook": "forward", "prio": 10, "policy": "drop"}}
            ]
            """)!.AsArray();
        var chains = FirewallGuard.DroppingChains(ruleset, "vireo");
        Assert.Equal(["ip filter FORWARD policy drop False", "inet fw fwd a rule that drops everything False", "inet firewalld filter_FORWARD policy drop True"],
            chains.Select(c => $"{c.Family} {c.Table} {c.Name} {c.Why} {c.Owned}"));
        Assert.Equal([9L], FirewallGuard.OwnRules(ruleset, "default").Select(r => r.Handle));
        Assert.Equal(2, FirewallGuard.OwnRules(ruleset, null).Count);
        Assert.Equal(
            "insert rule ip filter FORWARD oifname \"virbr0\" accept comment \"vireo:default\"\n" +
            "insert rule ip filter FORWARD iifname \"virbr0\" accept comment \"vireo:default\"\n",
            FirewallGuard.InsertScript([chains[0]], "default", "virbr0"));
        Assert.Equal("delete rule ip filter FORWARD handle 9\n", FirewallGuard.DeleteScript(FirewallGuard.OwnRules(ruleset, "default")));
    }

    [Fact]
    public void Leases_parse_as_dnsmasq_writes_them()
    {
        var leases = Dnsmasq.ParseLeases(
            "1795320000 52:54:00:aa:00:01 192.168.122.42 alpha 01:52:54:00:aa:00:01\n" +
            "0 52:54:00:aa:00:02 192.168.122.150 * *\n" +
            "duid 00:01:00:01:2c:aa:bb:cc\n" +
            "garbage\n");
        Assert.Equal(2, leases.Count);
        Assert.Equal(("52:54:00:aa:00:01", "192.168.122.42", "alpha", "01:52:54:00:aa:00:01"), (leases[0].Mac, leases[0].Ip.ToString(), leases[0].Hostname, leases[0].ClientId));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1795320000), leases[0].Expiry);
        Assert.Equal(DateTimeOffset.MaxValue, leases[1].Expiry); // infinite
        Assert.Null(leases[1].Hostname);
    }

    [Fact]
    public void Port_forwards_read_and_write_like_libvirts_passt_backend()
    {
        var d = DomainXml.Parse("""
            <domain type='qemu'><name>p</name><memory>1024</memory><os><type>hvm</type></os><devices>
              <interface type='user'>
                <backend type='passt'/>
                <portForward proto='tcp' address='127.0.0.1'><range start='2222' to='22'/><range start='8080' end='8081'/></portForward>
                <portForward proto='udp'><range start='5353'/></portForward>
              </interface>
            </devices></domain>
            """);
        var n = d.Devices.Interfaces[0];
        Assert.Equal("passt", n.Backend);
        Assert.Equal(2, n.PortForwards.Count);
        Assert.Equal((2222, 22, 1), (n.PortForwards[0].Ranges[0].Start, n.PortForwards[0].Ranges[0].GuestStart, n.PortForwards[0].Ranges[0].Count));
        Assert.Equal(2, n.PortForwards[0].Ranges[1].Count);
        var xml = DomainXml.Write(d);
        Assert.Contains("<portForward proto='tcp' address='127.0.0.1'>", xml);
        Assert.Contains("<range start='2222' to='22'/>", xml);
        Assert.Equal(xml, DomainXml.Write(DomainXml.Parse(xml)));
    }

    [Theory]
    [InlineData("<portForward><range start='0'/></portForward>", "Port start='0' of <range> is outside 1-65535.")]
    [InlineData("<portForward><range start='90' end='80'/></portForward>", "Port range 90-80 ends before it starts.")]
    [InlineData("<portForward proto='sctp'><range start='90'/></portForward>", "Unsupported proto of <portForward> 'sctp'; expected 'tcp', 'udp'.")]
    [InlineData("<portForward><range start='90' exclude='yes'/></portForward>", "Excluded port ranges")]
    [InlineData("<portForward/>", "A <portForward> needs at least one <range start='PORT'/>.")]
    [InlineData("<portForward address='localhost'><range start='90'/></portForward>", "Port forward address 'localhost' is not an IP address.")]
    public void Bad_port_forwards_get_exact_errors(string pf, string error)
    {
        var e = Assert.Throws<DefinitionException>(() => DomainXml.Parse(
            $"<domain type='qemu'><name>p</name><memory>1024</memory><os><type>hvm</type></os><devices><interface type='user'>{pf}</interface></devices></domain>"));
        Assert.Contains(error, e.Message);
    }
}
