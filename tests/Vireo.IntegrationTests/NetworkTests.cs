using System.Diagnostics;
using System.Text;

namespace Vireo.IntegrationTests;

/// <summary>
/// Networks end to end, each test in namespaces of its own: the daemon (and its dnsmasq and
/// QEMUs) in a "host" namespace; "remote" hosts in others, reached over veth pairs.
/// </summary>
[Collection("vireo")]
public sealed class NetworkTests(VireoFixture fx)
{
    /// <summary>A TCP server that answers every connection with the address it came from.</summary>
    private const string SeenAsServer =
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',7000))\ns.listen(8)\n" +
        "while True:\n c,a=s.accept()\n c.sendall((a[0]+'\\n').encode())\n c.close()\n";

    internal static string NatXml(string name = "default", string bridge = "virbr0", string prefix = "192.168.122", string hosts = "", string forward = "<forward/>") => $"""
        <network>
          <name>{name}</name>
          <bridge name='{bridge}'/>
          {forward}
          <domain name='vm.test' localOnly='yes'/>
          <ip address='{prefix}.1' netmask='255.255.255.0'>
            <dhcp>
              <range start='{prefix}.100' end='{prefix}.199'/>
              {hosts}
            </dhcp>
          </ip>
        </network>
        """;

    /// <summary>A guest that takes a DHCP lease (sending its name) and then runs a script.</summary>
    internal static string NetGuest(TestDaemon d, string name, string nics, string script = "", bool dhcp = true) =>
        d.GuestXml(name,
            (dhcp ? $"vireo.dhcp=eth0 vireo.hostname={name} " : "") + (script.Length > 0 ? "vireo.run=" + Convert.ToBase64String(Encoding.ASCII.GetBytes(script)) : ""),
            devices: nics);

    internal static string Nic(string type, string source, string mac, string extra = "") =>
        $"<interface type='{type}'><mac address='{mac}'/><source {source}/><model type='virtio'/>{extra}</interface>";

    private static async Task DefineNetworkAsync(TestDaemon d, string xml)
    {
        var file = Path.Combine(d.Root, $"net-{Guid.NewGuid():N}.xml");
        await File.WriteAllTextAsync(file, xml);
        await d.OkAsync("net-define", file);
    }

    private static async Task<(NetNs Host, NetNs Remote)> HostAndRemoteAsync()
    {
        var host = await NetNs.CreateAsync();
        var remote = await NetNs.CreateAsync();
        await NetNs.VethAsync(host, "uplink0", "10.99.0.1/24", remote, "eth0", "10.99.0.2/24");
        remote.Spawn("python3", "-c", SeenAsServer);
        return (host, remote);
    }

    [Fact]
    public async Task Nat_network_gives_leases_names_masquerade_and_port_forwards_and_destroy_removes_everything()
    {
        var (host, remote) = await HostAndRemoteAsync();
        await using var _h = host;
        await using var _r = remote;
        await using var d = await TestDaemon.StartAsync(fx, host);
        var forwardBefore = (await host.ExecOkAsync("cat", "/proc/sys/net/ipv4/ip_forward")).Trim();

        await DefineNetworkAsync(d, NatXml(hosts: "<host mac='52:54:00:aa:00:01' name='alpha' ip='192.168.122.42'/>"));
        await d.OkAsync("net-start", "default");
        Assert.Matches(@" default +active +no +yes", await d.OkAsync("net-list"));
        Assert.Contains("192.168.122.1/24", await host.ExecOkAsync("ip", "-br", "addr", "show", "virbr0"));
        Assert.Equal("1", (await host.ExecOkAsync("cat", "/proc/sys/net/ipv4/ip_forward")).Trim());

        await d.DefineAsync(NetGuest(d, "alpha",
            Nic("network", "network='default'", "52:54:00:aa:00:01", "<portForward proto='tcp'><range start='2222' to='22'/></portForward>"),
            "nc -ll -p 22 -e echo VIREO-PF-HELLO &\nsleep 1\necho SEEN $(nc -w 5 10.99.0.2 7000)\n"));
        // beta has no static address: its port forward follows the lease dnsmasq gives it.
        await d.DefineAsync(NetGuest(d, "beta",
            Nic("network", "network='default'", "52:54:00:aa:00:02", "<portForward proto='tcp'><range start='2223' to='22'/></portForward>"),
            "nc -ll -p 22 -e echo VIREO-PF-BETA &\n" +
            "for i in 1 2 3 4 5 6 7 8 9 10; do ping -c 1 -W 1 192.168.122.42 >/dev/null && { echo PING-ALPHA-OK; exit; }; sleep 1; done; echo PING-ALPHA-FAIL\n"));
        await d.OkAsync("start", "alpha");
        await d.OkAsync("start", "beta");
        // The tap is vnetN, on the bridge, with the guest MAC behind fe:.
        var links = await host.ExecOkAsync("ip", "-br", "link");
        Assert.Matches(@"vnet\d+ +\S+ +fe:54:00:aa:00:01", links);
        Assert.Contains("master virbr0", await host.ExecOkAsync("ip", "link", "show", "vnet0"));

        // The static host entry is honoured; the other guest gets one from the range.
        await d.WaitForSerialAsync("alpha", "VIREO-GUEST: lease eth0 192.168.122.42/24 router 192.168.122.1");
        await d.WaitForSerialAsync("beta", "VIREO-GUEST: lease eth0 192.168.122.1");
        // Out through the uplink, masqueraded to the host's address there.
        await d.WaitForSerialAsync("alpha", "VIREO-RUN: SEEN 10.99.0.1");
        await d.WaitForSerialAsync("beta", "VIREO-RUN: PING-ALPHA-OK");

        var leases = await d.OkAsync("net-dhcp-leases", "default");
        Assert.Matches(@"52:54:00:aa:00:01 +ipv4 +192\.168\.122\.42/24 +alpha", leases);
        Assert.Matches(@"52:54:00:aa:00:02 +ipv4 +192\.168\.122\.1\d\d/24 +beta", leases);
        Assert.DoesNotContain("52:54:00:aa:00:01", await d.OkAsync("net-dhcp-leases", "default", "--mac", "52:54:00:aa:00:02"));
        // DNS for guest names, on the network's domain too.
        Assert.Contains("192.168.122.42", (await host.ExecOkAsync("busybox", "nslookup", "-type=a", "alpha.vm.test", "192.168.122.1")));
        Assert.Matches(@"192\.168\.122\.1\d\d", await host.ExecOkAsync("busybox", "nslookup", "-type=a", "beta", "192.168.122.1"));

        // A host port forwarded to the guest's listener, reached from the remote host.
        Assert.Matches(@"alpha +default +tcp +\* +2222 +192\.168\.122\.42 +22", await d.OkAsync("port-forward-list"));
        string reply = "";
        for (int i = 0; i < 20 && !reply.Contains("VIREO-PF-HELLO"); i++)
        {
            reply = (await remote.ExecAsync("busybox", "nc", "-w", "3", "10.99.0.1", "2222")).Out;
            if (!reply.Contains("VIREO-PF-HELLO")) await Task.Delay(500);
        }
        Assert.Contains("VIREO-PF-HELLO", reply);
        Assert.Matches(@"beta +default +tcp +\* +2223 +192\.168\.122\.1\d\d +22", await d.OkAsync("port-forward-list", "beta"));
        reply = "";
        for (int i = 0; i < 20 && !reply.Contains("VIREO-PF-BETA"); i++)
        {
            reply = (await remote.ExecAsync("busybox", "nc", "-w", "3", "10.99.0.1", "2223")).Out;
            if (!reply.Contains("VIREO-PF-BETA")) await Task.Delay(500);
        }
        Assert.Contains("VIREO-PF-BETA", reply);

        await d.OkAsync("destroy", "alpha");
        // A guest whose QEMU dies takes its tap with it.
        Process.GetProcessById(d.QemuPids()["beta"]).Kill();
        await d.WaitForStateAsync("beta", "shut off (crashed)", 10);
        Assert.DoesNotContain("vnet", await host.ExecOkAsync("ip", "-br", "link"));
        Assert.DoesNotContain("alpha", await d.OkAsync("port-forward-list"));
        var dnsmasq = d.DnsmasqPids()["default"];
        var netEvents = Task.Run(() => d.RunAsync("net-event", "--network", "default", "--event", "lifecycle", "--timeout", "30"));
        await Task.Delay(500);
        await d.OkAsync("net-destroy", "default");
        Assert.Contains("event 'lifecycle' for network 'default': Stopped", (await netEvents).Stdout);
        Assert.DoesNotContain("virbr0", await host.ExecOkAsync("ip", "-br", "link"));
        Assert.DoesNotContain("vireo", await host.ExecOkAsync("nft", "list", "tables"));
        Assert.False(TestDaemon.Alive(dnsmasq), "dnsmasq still runs after net-destroy");
        Assert.Equal(forwardBefore, (await host.ExecOkAsync("cat", "/proc/sys/net/ipv4/ip_forward")).Trim());
        Assert.Matches(@" default +inactive +no +yes", await d.OkAsync("net-list", "--all"));
    }

    [Fact]
    public async Task Nat_works_beside_a_forward_drop_policy_and_an_isolated_network_reaches_only_the_host()
    {
        var (host, remote) = await HostAndRemoteAsync();
        await using var _h = host;
        await using var _r = remote;
        // Other managers' firewalls, there first: an inet filter table with forward policy drop,
        // and the FORWARD chain Docker makes through iptables-nft.
        await host.ExecOkAsync("nft", "add table inet filter");
        await host.ExecOkAsync("nft", "add chain inet filter forward { type filter hook forward priority 0; policy drop; }");
        await host.ExecOkAsync("nft", "add table ip filter");
        await host.ExecOkAsync("nft", "add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }");
        // The remote host routes the isolated subnet back through us, so only our rules stop it.
        await remote.ExecOkAsync("ip", "route", "add", "10.98.0.0/24", "via", "10.99.0.1");
        await using var d = await TestDaemon.StartAsync(fx, host);

        await DefineNetworkAsync(d, NatXml());
        await DefineNetworkAsync(d, NatXml("hostonly", "br_local0", "10.98.0", forward: ""));
        var start = await d.RunAsync("net-start", "default");
        Assert.Equal(0, start.ExitCode);
        Assert.Equal("", start.Stderr); // no conflict it could not fix
        await d.OkAsync("net-start", "hostonly");
        Assert.Contains("vireo:default", await host.ExecOkAsync("nft", "list", "chain", "inet", "filter", "forward"));
        Assert.Contains("iifname \"virbr0\" accept comment \"vireo:default\"", await host.ExecOkAsync("nft", "list", "chain", "ip", "filter", "FORWARD"));
        Assert.DoesNotContain("vireo:hostonly", await host.ExecOkAsync("nft", "list", "chain", "inet", "filter", "forward"));

        await d.DefineAsync(NetGuest(d, "natted", Nic("network", "network='default'", "52:54:00:bb:00:01"),
            "echo SEEN $(nc -w 5 10.99.0.2 7000)\n"));
        await d.DefineAsync(NetGuest(d, "island", Nic("network", "network='hostonly'", "52:54:00:bb:00:02"),
            "ping -c 1 -W 2 10.98.0.1 >/dev/null && echo HOST-OK\nping -c 2 -W 2 10.99.0.2 >/dev/null && echo REMOTE-REACHED || echo REMOTE-BLOCKED\n" +
            "echo SEEN $(nc -w 3 10.99.0.2 7000)\n"));
        await d.OkAsync("start", "natted");
        await d.OkAsync("start", "island");
        await d.WaitForSerialAsync("natted", "VIREO-RUN: SEEN 10.99.0.1");
        await d.WaitForSerialAsync("island", "VIREO-GUEST: lease eth0 10.98.0.1");
        await d.WaitForSerialAsync("island", "VIREO-RUN: HOST-OK");
        await d.WaitForSerialAsync("island", "VIREO-RUN: REMOTE-BLOCKED");
        await d.WaitForSerialAsync("island", "VIREO-RUN: SEEN");
        Assert.DoesNotContain("VIREO-RUN: SEEN 10.", await File.ReadAllTextAsync(d.SerialLog("island")));

        await d.OkAsync("destroy", "natted");
        await d.OkAsync("destroy", "island");
        await d.OkAsync("net-destroy", "default");
        await d.OkAsync("net-destroy", "hostonly");
        // Our accept rules are gone; the other table and its policy are untouched.
        foreach (var (fam, table, name) in new[] { ("inet", "filter", "forward"), ("ip", "filter", "FORWARD") })
        {
            var chain = await host.ExecOkAsync("nft", "list", "chain", fam, table, name);
            Assert.DoesNotContain("vireo", chain);
            Assert.Contains("policy drop", chain);
        }
        Assert.DoesNotContain("table inet vireo", await host.ExecOkAsync("nft", "list", "tables"));
    }

    [Fact]
    public async Task Routed_network_is_not_masqueraded_and_open_network_gets_no_rules()
    {
        var (host, remote) = await HostAndRemoteAsync();
        await using var _h = host;
        await using var _r = remote;
        await remote.ExecOkAsync("ip", "route", "add", "192.168.100.0/24", "via", "10.99.0.1");
        await using var d = await TestDaemon.StartAsync(fx, host);
        await DefineNetworkAsync(d, NatXml("routed", "virbr5", "192.168.100", "<host mac='52:54:00:cc:00:01' ip='192.168.100.10'/>", "<forward mode='route'/>"));
        await DefineNetworkAsync(d, NatXml("opennet", "virbr6", "192.168.101", forward: "<forward mode='open'/>"));
        await d.OkAsync("net-start", "routed");
        await d.OkAsync("net-start", "opennet");
        var rules = await host.ExecOkAsync("nft", "list", "table", "inet", "vireo");
        Assert.Contains("iifname \"virbr5\" reject", rules);
        Assert.DoesNotContain("virbr6\" reject", rules);
        Assert.DoesNotContain("masquerade", rules);

        await d.DefineAsync(NetGuest(d, "routed1", Nic("network", "network='routed'", "52:54:00:cc:00:01"), "echo SEEN $(nc -w 5 10.99.0.2 7000)\n"));
        await d.OkAsync("start", "routed1");
        await d.WaitForSerialAsync("routed1", "VIREO-RUN: SEEN 192.168.100.10");
        await d.OkAsync("destroy", "routed1");
        await d.OkAsync("net-destroy", "routed");
        await d.OkAsync("net-destroy", "opennet");
    }

    [Fact]
    public async Task Macvtap_guest_reaches_a_peer_namespace_and_its_macvtap_goes_with_it()
    {
        await using var host = await NetNs.CreateAsync();
        await using var peer = await NetNs.CreateAsync();
        await NetNs.VethAsync(host, "lan0", null, peer, "eth0", "10.97.0.2/24");
        await using var d = await TestDaemon.StartAsync(fx, host);
        // A second NIC through a macvtap pool network (forward mode='bridge' with devices).
        await DefineNetworkAsync(d, "<network><name>pool</name><forward mode='bridge'><interface dev='lan0'/></forward></network>");
        await d.OkAsync("net-start", "pool");
        await d.DefineAsync(NetGuest(d, "mvt", "<interface type='direct'><mac address='52:54:00:dd:00:01'/><source dev='lan0' mode='bridge'/><model type='virtio'/></interface>" +
            Nic("network", "network='pool'", "52:54:00:dd:00:02"),
            "ip addr add 10.97.0.10/24 dev eth0\nip link set eth0 up\nfor i in 1 2 3 4 5 6 7 8; do ping -c 1 -W 1 10.97.0.2 >/dev/null && { echo PEER-OK; exit; }; done; echo PEER-FAIL\n", dhcp: false));
        await d.OkAsync("start", "mvt");
        var link = await host.ExecOkAsync("ip", "-d", "link", "show", "macvtap0");
        Assert.Contains("52:54:00:dd:00:01", link);
        Assert.Contains("macvtap mode bridge", link);
        Assert.Contains("<target dev='macvtap0'/>", await d.OkAsync("dumpxml", "mvt"));
        var pooled = await host.ExecOkAsync("ip", "-d", "link", "show", "macvtap1");
        Assert.Contains("52:54:00:dd:00:02", pooled);
        Assert.Contains("macvtap1@lan0", pooled);
        await d.WaitForSerialAsync("mvt", "VIREO-RUN: PEER-OK");
        Assert.Contains("52:54:00:dd:00:01", await peer.ExecOkAsync("ip", "neigh"));
        await d.OkAsync("destroy", "mvt");
        for (int i = 0; i < 50 && (await host.ExecOkAsync("ip", "-br", "link")).Contains("macvtap"); i++) await Task.Delay(50);
        Assert.DoesNotContain("macvtap", await host.ExecOkAsync("ip", "-br", "link"));
        await d.OkAsync("net-destroy", "pool");
    }

    [Fact]
    public async Task A_restarted_daemon_keeps_its_dnsmasq_and_taps_and_restarts_a_dnsmasq_that_died()
    {
        await using var host = await NetNs.CreateAsync();
        await using var d = await TestDaemon.StartAsync(fx, host);
        await DefineNetworkAsync(d, NatXml());
        await d.OkAsync("net-autostart", "default");
        await d.OkAsync("net-start", "default");
        await d.DefineAsync(NetGuest(d, "stay", Nic("network", "network='default'", "52:54:00:ee:00:01")));
        await d.OkAsync("start", "stay");
        await d.WaitForSerialAsync("stay", "VIREO-GUEST: lease eth0 192.168.122.1");
        var dnsmasq = d.DnsmasqPids()["default"];
        var rules = await host.ExecOkAsync("nft", "list", "table", "inet", "vireo");

        await d.KillAsync();
        Assert.True(TestDaemon.Alive(dnsmasq), "dnsmasq died with the daemon");
        await d.LaunchAsync();
        Assert.Equal(dnsmasq, d.DnsmasqPids()["default"]);
        Assert.Matches(@" default +active +yes +yes", await d.OkAsync("net-list"));
        Assert.Contains("master virbr0", await host.ExecOkAsync("ip", "link", "show", "vnet0"));
        Assert.Equal(rules, await host.ExecOkAsync("nft", "list", "table", "inet", "vireo"));
        Assert.Contains("52:54:00:ee:00:01", await d.OkAsync("net-dhcp-leases", "default"));

        // dnsmasq killed from outside: the daemon starts a new one, and live updates reach it.
        Process.GetProcessById(dnsmasq).Kill();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10) && (!d.DnsmasqPids().TryGetValue("default", out var p) || p == dnsmasq || !TestDaemon.Alive(p))) await Task.Delay(50);
        var fresh = d.DnsmasqPids()["default"];
        Assert.NotEqual(dnsmasq, fresh);
        Assert.True(TestDaemon.Alive(fresh));
        await d.OkAsync("net-update", "default", "add", "ip-dhcp-host", "<host mac='52:54:00:ee:00:09' name='late' ip='192.168.122.9'/>", "--live", "--config");
        Assert.Contains("52:54:00:ee:00:09,192.168.122.9,late", await File.ReadAllTextAsync(Path.Combine(d.RunDir, "network", "default.hostsfile")));
        Assert.Contains("<host mac='52:54:00:ee:00:09' name='late' ip='192.168.122.9'/>", await d.OkAsync("net-dumpxml", "default", "--inactive"));
        await d.OkAsync("net-update", "default", "delete", "ip-dhcp-host", "<host mac='52:54:00:ee:00:09'/>", "--live");
        Assert.DoesNotContain("late", await d.OkAsync("net-dumpxml", "default"));
        Assert.Contains("late", await d.OkAsync("net-dumpxml", "default", "--inactive"));
        // A network destroyed under a running guest and started again gets the guest's tap back.
        await d.OkAsync("net-destroy", "default");
        Assert.False(TestDaemon.Alive(fresh));
        Assert.DoesNotContain("master", await host.ExecOkAsync("ip", "link", "show", "vnet0"));
        await d.OkAsync("net-start", "default");
        Assert.Contains("master virbr0", await host.ExecOkAsync("ip", "link", "show", "vnet0"));
        await d.OkAsync("destroy", "stay");
        await d.OkAsync("net-destroy", "default");
        // Autostart: a daemon that comes up finds the network inactive and starts it.
        await d.KillAsync();
        await d.LaunchAsync();
        Assert.Matches(@" default +active +yes +yes", await d.OkAsync("net-list"));
        await d.OkAsync("net-destroy", "default");
    }

    [Fact]
    public async Task Bad_network_definitions_and_uses_get_exact_errors_and_change_nothing()
    {
        await using var host = await NetNs.CreateAsync();
        await using var peer = await NetNs.CreateAsync();
        await NetNs.VethAsync(host, "uplink0", "10.99.0.1/24", peer, "eth0", "10.99.0.2/24");
        await using var d = await TestDaemon.StartAsync(fx, host);
        await DefineNetworkAsync(d, NatXml());

        async Task<string> Define(string xml)
        {
            var file = Path.Combine(d.Root, $"bad-{Guid.NewGuid():N}.xml");
            await File.WriteAllTextAsync(file, xml);
            return await d.FailAsync("net-define", file);
        }
        Assert.Contains("Subnet 192.168.122.128/25 overlaps 192.168.122.0/24 of network 'default'",
            await Define(NatXml("other", "virbr1", "192.168.122").Replace("netmask='255.255.255.0'", "prefix='25'").Replace(".1'", ".129'").Replace(".100'", ".130'").Replace(".199'", ".140'")));
        Assert.Contains("Bridge name 'virbr0' is already used by network 'default'", await Define(NatXml("other", "virbr0", "192.168.50")));
        Assert.Contains("DHCP range end 192.168.51.250 is outside the network 192.168.50.0/24", await Define(NatXml("other", "virbr1", "192.168.50").Replace("192.168.50.199", "192.168.51.250")));
        Assert.Contains("Netmask '255.0.255.0' is not a valid IPv4 netmask", await Define(NatXml("other", "virbr1", "192.168.50").Replace("255.255.255.0", "255.0.255.0")));
        Assert.Contains("line 3: Unsupported element <bandwidth> in <network>", await Define("<network>\n  <name>x</name>\n  <bandwidth/>\n</network>"));
        Assert.Contains("takes no <ip>", await Define(NatXml("other", "br9", "192.168.50", forward: "<forward mode='bridge'/>")));
        Assert.Contains("Expected a <network> document, found <domain>", await Define(d.GuestXml("x")));
        Assert.DoesNotContain("other", await d.OkAsync("net-list", "--all"));

        // Host conflicts at net-start: the subnet is on the uplink already.
        await DefineNetworkAsync(d, NatXml("clash", "virbr3", "10.99.0").Replace("10.99.0.1'", "10.99.0.254'"));
        Assert.Contains("Subnet 10.99.0.0/24 is already in use on the host by interface 'uplink0'", await d.FailAsync("net-start", "clash"));
        Assert.DoesNotContain("virbr3", await host.ExecOkAsync("ip", "-br", "link"));
        Assert.Contains("Network 'default' is not active", await d.FailAsync("net-destroy", "default"));
        await d.OkAsync("net-start", "default");
        Assert.Contains("Network 'default' is already active", await d.FailAsync("net-start", "default"));
        Assert.Contains("DHCP host 10.1.1.1 is outside the network 192.168.122.0/24",
            await d.FailAsync("net-update", "default", "add", "ip-dhcp-host", "<host mac='52:54:00:00:00:01' ip='10.1.1.1'/>", "--live"));
        Assert.Contains("Network not found: no network with matching name 'nope'", await d.FailAsync("net-start", "nope"));

        // Guests whose networks are not there: nothing starts, nothing is left.
        await d.DefineAsync(NetGuest(d, "orphan", Nic("network", "network='clash'", "52:54:00:00:00:02")));
        Assert.Contains("Network 'clash' is not active; start it with net-start clash", await d.FailAsync("start", "orphan"));
        await d.DefineAsync(NetGuest(d, "nobridge", Nic("bridge", "bridge='br-missing'", "52:54:00:00:00:03")));
        Assert.Contains("Bridge 'br-missing' of interface 52:54:00:00:00:03 does not exist on the host", await d.FailAsync("start", "nobridge"));
        await d.DefineAsync(NetGuest(d, "nodev", Nic("direct", "dev='eth7' mode='bridge'", "52:54:00:00:00:04")));
        Assert.Contains("Device 'eth7' of interface 52:54:00:00:00:04 does not exist on the host", await d.FailAsync("start", "nodev"));
        Assert.Empty(d.QemuPids());
        Assert.DoesNotContain("vnet", await host.ExecOkAsync("ip", "-br", "link"));
        Assert.DoesNotContain("macvtap", await host.ExecOkAsync("ip", "-br", "link"));
        await d.OkAsync("net-destroy", "default");
    }

    [Fact]
    public async Task Iface_bridge_moves_the_nic_under_a_bridge_guests_join_it_and_unbridge_puts_it_back()
    {
        await using var host = await NetNs.CreateAsync();
        await using var lan = await NetNs.CreateAsync();
        await NetNs.VethAsync(host, "lan1", "10.96.0.1/24", lan, "eth0", "10.96.0.2/24");
        await host.ExecOkAsync("ip", "route", "add", "default", "via", "10.96.0.2");
        await host.ExecOkAsync("ip", "route", "add", "10.95.0.0/24", "via", "10.96.0.2", "metric", "50");
        await using var d = await TestDaemon.StartAsync(fx, host);

        var made = await d.OkAsync("iface-bridge", "lan1", "br0");
        Assert.Contains("Created bridge br0 with attached device lan1", made);
        Assert.Contains("address 10.96.0.1/24 moved to br0", made);
        Assert.Contains("route default via 10.96.0.2", made);
        Assert.Contains("10.96.0.1/24", await host.ExecOkAsync("ip", "-br", "addr", "show", "br0"));
        Assert.DoesNotContain("10.96.0.1", await host.ExecOkAsync("ip", "-br", "addr", "show", "lan1"));
        Assert.Contains("default via 10.96.0.2 dev br0", await host.ExecOkAsync("ip", "route"));
        Assert.Contains("10.95.0.0/24 via 10.96.0.2 dev br0 metric 50", await host.ExecOkAsync("ip", "route"));
        Assert.Contains("master br0", await host.ExecOkAsync("ip", "link", "show", "lan1"));
        Assert.Contains("iface-bridge takes a NIC", await d.FailAsync("iface-bridge", "br0", "br1"));

        // A guest on the host bridge, directly and through a forward mode='bridge' network: its
        // taps join br0 and it reaches the LAN.
        await DefineNetworkAsync(d, "<network><name>lanbr</name><forward mode='bridge'/><bridge name='br0'/></network>");
        await d.OkAsync("net-start", "lanbr");
        await d.DefineAsync(NetGuest(d, "bridged", Nic("bridge", "bridge='br0'", "52:54:00:ff:00:01") + Nic("network", "network='lanbr'", "52:54:00:ff:00:02"),
            "ip addr add 10.96.0.10/24 dev eth0\nip link set eth0 up\nfor i in $(seq 1 15); do ping -c 1 -W 1 10.96.0.2 >/dev/null && { echo LAN-OK; exit; }; done; echo LAN-FAIL\n", dhcp: false));
        await d.OkAsync("start", "bridged");
        Assert.Contains("master br0", await host.ExecOkAsync("ip", "link", "show", "vnet0"));
        Assert.Contains("master br0", await host.ExecOkAsync("ip", "link", "show", "vnet1"));
        await d.WaitForSerialAsync("bridged", "VIREO-RUN: LAN-OK");
        Assert.Contains("Guests still use bridge 'br0' (vnet0, vnet1)", await d.FailAsync("iface-unbridge", "br0"));
        await d.OkAsync("destroy", "bridged");
        await d.OkAsync("net-destroy", "lanbr"); // the host's bridge stays: the network only used it
        Assert.Contains("br0", await host.ExecOkAsync("ip", "-br", "link"));

        Assert.Contains("Device lan1 un-attached from bridge br0", await d.OkAsync("iface-unbridge", "br0"));
        Assert.DoesNotContain("br0", await host.ExecOkAsync("ip", "-br", "link"));
        Assert.Contains("10.96.0.1/24", await host.ExecOkAsync("ip", "-br", "addr", "show", "lan1"));
        Assert.Contains("default via 10.96.0.2 dev lan1", await host.ExecOkAsync("ip", "route"));
        Assert.Contains("10.95.0.0/24 via 10.96.0.2 dev lan1 metric 50", await host.ExecOkAsync("ip", "route"));

        // A bridge that cannot carry traffic (frames from the NIC dropped at the bridge): the
        // gateway is lost, so the change is rolled back.
        await host.ExecOkAsync("nft", "add table bridge blocker");
        await host.ExecOkAsync("nft", "add chain bridge blocker input { type filter hook input priority 0; }");
        await host.ExecOkAsync("nft", "add rule bridge blocker input iifname lan1 drop");
        var err = await d.FailAsync("iface-bridge", "lan1", "br0", "--no-stp");
        Assert.Contains("The host lost its gateway 10.96.0.2 through bridge 'br0', so the change was rolled back", err);
        Assert.DoesNotContain("br0", await host.ExecOkAsync("ip", "-br", "link"));
        Assert.Contains("10.96.0.1/24", await host.ExecOkAsync("ip", "-br", "addr", "show", "lan1"));
        Assert.Contains("default via 10.96.0.2 dev lan1", await host.ExecOkAsync("ip", "route"));
    }

    [Fact]
    public async Task Attach_and_detach_interface_hot_plug_a_nic_the_guest_uses_and_config_changes_the_definition()
    {
        await using var host = await NetNs.CreateAsync();
        await using var d = await TestDaemon.StartAsync(fx, host);
        await DefineNetworkAsync(d, NatXml());
        await DefineNetworkAsync(d, NatXml("spare", "virbr7", "192.168.77"));
        await d.OkAsync("net-start", "default");
        await d.DefineAsync(NetGuest(d, "hot", Nic("network", "network='default'", "52:54:00:ab:00:01"),
            "for i in $(seq 1 240); do [ -e /sys/class/net/eth1 ] && break; sleep 0.5; done\n" +
            "ip link set eth1 up\nudhcpc -i eth1 -s /etc/udhcpc/default.script -n -q -t 10 -T 1 -A 1 >/dev/null 2>&1 && echo ETH1-LEASE $(ip -4 -o addr show eth1 | awk '{print $4}')\n" +
            "for i in $(seq 1 240); do [ -e /sys/class/net/eth1 ] || { echo ETH1-GONE; exit; }; sleep 0.5; done\n"));
        await d.OkAsync("start", "hot");
        await d.WaitForSerialAsync("hot", "VIREO-GUEST-READY");

        Assert.Contains("Network 'spare' is not active", await d.FailAsync("attach-interface", "hot", "network", "spare", "--live"));
        Assert.Contains("Interface attached successfully", await d.OkAsync("attach-interface", "hot", "network", "default", "--mac", "52:54:00:ab:00:05", "--live"));
        Assert.Contains("master virbr0", await host.ExecOkAsync("ip", "link", "show", "vnet1"));
        var liveXml = await d.OkAsync("dumpxml", "hot");
        Assert.Contains("<mac address='52:54:00:ab:00:05'/>", liveXml);
        Assert.Contains("<target dev='vnet1'/>", liveXml);
        Assert.DoesNotContain("52:54:00:ab:00:05", await d.OkAsync("dumpxml", "hot", "--inactive"));
        await d.WaitForSerialAsync("hot", "VIREO-RUN: ETH1-LEASE 192.168.122.");
        Assert.Contains("52:54:00:ab:00:05", await d.OkAsync("net-dhcp-leases", "default"));

        Assert.Contains("Interface detached successfully", await d.OkAsync("detach-interface", "hot", "network", "--mac", "52:54:00:ab:00:05", "--live"));
        await d.WaitForSerialAsync("hot", "VIREO-RUN: ETH1-GONE");
        Assert.DoesNotContain("vnet1", await host.ExecOkAsync("ip", "-br", "link"));
        Assert.DoesNotContain("52:54:00:ab:00:05", await d.OkAsync("dumpxml", "hot"));
        await d.OkAsync("attach-interface", "hot", "network", "default", "--mac", "52:54:00:ab:00:06", "--live");
        Assert.Contains("Domain 'hot' has 2 interfaces of type 'network'; name one with --mac", await d.FailAsync("detach-interface", "hot", "network", "--live"));

        // --config changes only the definition.
        await d.OkAsync("attach-interface", "hot", "bridge", "virbr0", "--mac", "52:54:00:ab:00:07", "--config");
        Assert.Contains("<mac address='52:54:00:ab:00:07'/>", await d.OkAsync("dumpxml", "hot", "--inactive"));
        Assert.DoesNotContain("52:54:00:ab:00:07", await d.OkAsync("dumpxml", "hot"));
        await d.OkAsync("detach-interface", "hot", "bridge", "--mac", "52:54:00:ab:00:07", "--config");
        Assert.DoesNotContain("52:54:00:ab:00:07", await d.OkAsync("dumpxml", "hot", "--inactive"));
        Assert.Contains("No interface of type 'direct'", await d.FailAsync("detach-interface", "hot", "direct", "--live"));
        await d.OkAsync("destroy", "hot");
        await d.OkAsync("net-destroy", "default");
    }

    [Fact]
    public async Task User_mode_nic_forwards_host_ports_to_the_guest()
    {
        await using var host = await NetNs.CreateAsync();
        await using var d = await TestDaemon.StartAsync(fx, host);
        await d.DefineAsync(NetGuest(d, "slirp",
            "<interface type='user'><mac address='52:54:00:12:00:01'/><model type='virtio'/><backend type='passt'/>" +
            "<portForward proto='tcp' address='127.0.0.1'><range start='10022' to='22'/></portForward></interface>",
            "nc -ll -p 22 -e echo VIREO-USER-HELLO &\necho LISTENING\n"));
        await d.OkAsync("start", "slirp");
        await d.WaitForSerialAsync("slirp", "VIREO-GUEST: lease eth0 10.0.2.15/24");
        await d.WaitForSerialAsync("slirp", "VIREO-RUN: LISTENING");
        Assert.Matches(@"slirp +user +tcp +127\.0\.0\.1 +10022 +guest +22", await d.OkAsync("port-forward-list", "slirp"));
        string reply = "";
        for (int i = 0; i < 20 && !reply.Contains("VIREO-USER-HELLO"); i++)
        {
            reply = (await host.ExecAsync("busybox", "nc", "-w", "3", "127.0.0.1", "10022")).Out;
            if (!reply.Contains("VIREO-USER-HELLO")) await Task.Delay(500);
        }
        Assert.Contains("VIREO-USER-HELLO", reply);
        await d.OkAsync("destroy", "slirp");
    }
}
