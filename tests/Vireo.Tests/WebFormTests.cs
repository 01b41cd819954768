using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Vireo.Engine;
using Vireo.Model;
using Vireo.Web;

namespace Vireo.Tests;

/// <summary>The web console's forms turned into definitions: networks, display, sizes, listen addresses.</summary>
public class WebFormTests
{
    private static IFormCollection Form(params (string, string)[] fields) =>
        new FormCollection(fields.ToDictionary(f => f.Item1, f => new StringValues(f.Item2)));

    [Fact]
    public void A_nat_network_gets_the_rest_of_its_subnet_for_dhcp()
    {
        var (xml, problems) = NetworkForm.Read(Form(("name", "lab"), ("mode", "nat"), ("ipv4", "10.9.0.1/24"), ("dhcp", "on"))).Build();
        Assert.Empty(problems);
        var def = NetworkXml.Parse(xml!);
        Assert.Equal("nat", def.Mode);
        Assert.Equal("10.9.0.1", def.Ipv4!.Address.ToString());
        Assert.Equal(24, def.Ipv4.Prefix);
        var range = Assert.Single(def.Ipv4.Ranges);
        Assert.Equal(("10.9.0.2", "10.9.0.254"), (range.Start.ToString(), range.End.ToString()));
    }

    [Fact]
    public void The_dhcp_range_takes_the_larger_side_of_the_hosts_address()
    {
        var (xml, _) = NetworkForm.Read(Form(("name", "lab"), ("mode", "isolated"), ("ipv4", "192.168.5.200/24"), ("dhcp", "on"))).Build();
        var def = NetworkXml.Parse(xml!);
        Assert.Equal("isolated", def.Mode);
        var range = Assert.Single(def.Ipv4!.Ranges);
        Assert.Equal(("192.168.5.1", "192.168.5.199"), (range.Start.ToString(), range.End.ToString()));
        var (noDhcp, _) = NetworkForm.Read(Form(("name", "lab"), ("mode", "isolated"), ("ipv4", "192.168.5.1/24"))).Build();
        Assert.Empty(NetworkXml.Parse(noDhcp!).Ipv4!.Ranges);
    }

    [Theory]
    [InlineData("10.9.0.1", "ipv4")]
    [InlineData("10.9.0.0/24", "ipv4")]      // the network's own address
    [InlineData("10.9.0.255/24", "ipv4")]    // its broadcast
    [InlineData("10.9.0.1/31", "ipv4")]
    [InlineData("fd00::1/64", "ipv4")]
    public void A_bad_subnet_is_named_and_makes_no_xml(string ipv4, string field)
    {
        var (xml, problems) = NetworkForm.Read(Form(("name", "lab"), ("mode", "nat"), ("ipv4", ipv4))).Build();
        Assert.Null(xml);
        Assert.Equal(field, Assert.Single(problems).Field);
    }

    [Fact]
    public void A_bridged_network_names_its_host_bridge()
    {
        var (xml, problems) = NetworkForm.Read(Form(("name", "lan"), ("mode", "bridge"), ("bridge", "br0"), ("ipv4", "ignored"))).Build();
        Assert.Empty(problems);
        var def = NetworkXml.Parse(xml!);
        Assert.Equal(("bridge", "br0"), (def.Mode, def.BridgeName));
        Assert.Null(def.Ipv4);
        var (none, missing) = NetworkForm.Read(Form(("name", "lan"), ("mode", "bridge"))).Build();
        Assert.Null(none);
        Assert.Equal("bridge", Assert.Single(missing).Field);
    }

    [Fact]
    public void Vnc_brings_a_card_and_a_tablet_and_none_takes_the_display_away()
    {
        var def = new DomainDef { Name = "g" };
        MachineEdits.SetGraphics(def, "vnc", "0.0.0.0");
        Assert.Equal("0.0.0.0", Assert.Single(def.Devices.Graphics).Listen);
        Assert.Equal("vga", Assert.Single(def.Devices.Videos).Model);
        Assert.Single(def.Devices.Inputs, i => i.Type == "tablet");
        MachineEdits.SetGraphics(def, "vnc", "127.0.0.1");   // changes the one there is
        Assert.Equal("127.0.0.1", Assert.Single(def.Devices.Graphics).Listen);
        Assert.Single(def.Devices.Videos);
        MachineEdits.SetGraphics(def, "none", "");
        Assert.Empty(def.Devices.Graphics);
        Assert.Empty(def.Devices.Videos);
        var e = Assert.Throws<VireoException>(() => MachineEdits.SetGraphics(def, "vnc", "everywhere"));
        Assert.Equal("Listen address 'everywhere' is not an IP address; use 127.0.0.1 (this host only) or 0.0.0.0 (every network).", e.Message);
        Assert.Empty(def.Devices.Graphics);   // nothing changed
    }

    [Theory]
    [InlineData("10", 10UL << 30)]
    [InlineData("0.5", 1UL << 29)]
    [InlineData(" 1 ", 1UL << 30)]
    [InlineData("0", null)]
    [InlineData("-1", null)]
    [InlineData("big", null)]
    public void Sizes_are_gib(string text, ulong? bytes) => Assert.Equal(bytes, StorageForms.GiB(text));

    [Theory]
    [InlineData("127.0.0.1:8780", true)]
    [InlineData("[::1]:8780", true)]
    [InlineData("unix:/run/vireo/web.sock", true)]
    [InlineData("unix:relative.sock", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("localhost:8780", false)]
    public void The_console_listens_on_tcp_or_a_unix_socket(string text, bool ok) =>
        Assert.Equal(ok, Vireo.Host.ListenAddress.TryParse(text, out _));
}
