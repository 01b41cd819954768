using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vireo.Api;
using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Daemon;

/// <summary>The net-* verbs, DHCP leases and port forwards.</summary>
internal static class NetworkRoutes
{
    public static void Map(WebApplication app, Hypervisor hv)
    {
        var nets = hv.Networks;
        app.MapGet("/v1/networks", () => Results.Json(nets.All().Select(Info).ToArray(), ApiJson.Default.NetworkInfoArray));

        app.MapPost("/v1/networks", async (HttpRequest req) =>
        {
            var xml = await new StreamReader(req.Body, Encoding.UTF8).ReadToEndAsync();
            var (n, created) = nets.Define(xml);
            return Results.Json(new DefineResult(n.Name, n.Uuid.ToString(), created), ApiJson.Default.DefineResult, statusCode: created ? 201 : 200);
        });

        app.MapGet("/v1/networks/{n}", (string n) => Results.Json(Info(nets.Get(n)), ApiJson.Default.NetworkInfo));
        app.MapDelete("/v1/networks/{n}", (string n) => { nets.Undefine(n); return Results.NoContent(); });
        app.MapGet("/v1/networks/{n}/xml", (string n, bool? inactive) =>
        {
            var net = nets.Get(n);
            return Results.Text(NetworkXml.Write(inactive == true ? net.Def : net.Live ?? net.Def), "application/xml");
        });

        app.MapPost("/v1/networks/{n}/start", async (string n, CancellationToken ct) =>
        {
            var net = nets.Get(n);
            var warnings = await net.StartAsync(ct);
            return Results.Json(new NetworkActionResult(Info(net), warnings.ToArray()), ApiJson.Default.NetworkActionResult);
        });
        app.MapPost("/v1/networks/{n}/destroy", async (string n, CancellationToken ct) =>
        {
            var net = nets.Get(n);
            await net.DestroyAsync(ct);
            return Results.Json(new NetworkActionResult(Info(net), []), ApiJson.Default.NetworkActionResult);
        });
        app.MapPut("/v1/networks/{n}/autostart", (string n, bool? enable) =>
        {
            nets.SetAutostart(n, enable != false);
            return Results.Json(new NetworkActionResult(Info(nets.Get(n)), []), ApiJson.Default.NetworkActionResult);
        });

        app.MapPost("/v1/networks/{n}/update", async (string n, NetUpdateRequest body, CancellationToken ct) =>
        {
            var net = nets.Get(n);
            await net.UpdateAsync(body.Command, body.Section, body.Xml, body.Live, body.Config, ct);
            return Results.Json(new NetworkActionResult(Info(net), []), ApiJson.Default.NetworkActionResult);
        });

        app.MapGet("/v1/networks/{n}/leases", (string n, string? mac) =>
        {
            var leases = nets.Get(n).ActiveLeases(mac, DateTimeOffset.UtcNow)
                .Select(l => new LeaseInfo(l.Expiry, l.Mac, l.V6 ? "ipv6" : "ipv4", l.Ip.ToString(), l.Prefix, l.Hostname, l.ClientId))
                .ToArray();
            return Results.Json(leases, ApiJson.Default.LeaseInfoArray);
        });

        app.MapGet("/v1/port-forwards", (string? domain) =>
        {
            var list = nets.PortForwards().Where(f => domain is null || f.Domain == domain)
                .Select(f => new PortForwardInfo(f.Domain, f.Network, f.Proto, f.HostAddress?.ToString(), f.HostPorts, f.GuestIp?.ToString(), f.GuestPorts));
            // User-mode NICs forward through QEMU itself.
            var user = hv.All().Where(v => v.Live is not null && (domain is null || v.Name == domain))
                .SelectMany(v => v.Live!.Devices.Interfaces.Where(i => i.Type == "user")
                    .SelectMany(i => i.PortForwards.SelectMany(pf => pf.Ranges.Select(r =>
                        new PortForwardInfo(v.Name, "user", pf.Proto, pf.Address, PortForward.Ports(r.Start, r.Count - 1), null, PortForward.Ports(r.GuestStart, r.Count - 1))))));
            return Results.Json(list.Concat(user).ToArray(), ApiJson.Default.PortForwardInfoArray);
        });
    }

    public static void MapHost(WebApplication app, Hypervisor hv)
    {
        app.MapPost("/v1/domains/{d}/interfaces", async (string d, InterfaceRequest body, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var nic = DeviceSpecs.Interface(body.Type, body.Source, body.Mac, body.Model, body.Target);
            var (live, config) = DeviceSpecs.Scope(vm, body.Live, body.Config);
            var done = await vm.AttachInterfaceAsync(nic, live, config, ct);
            return Results.Json(body with { Mac = done.Mac, Target = done.TargetDev, Live = live, Config = config }, ApiJson.Default.InterfaceRequest);
        });
        app.MapPost("/v1/domains/{d}/interfaces/detach", async (string d, InterfaceRequest body, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var (live, config) = DeviceSpecs.Scope(vm, body.Live, body.Config);
            var done = await vm.DetachInterfaceAsync(body.Type, body.Mac, live, config, ct);
            return Results.Json(body with { Mac = done.Mac, Live = live, Config = config }, ApiJson.Default.InterfaceRequest,
                statusCode: vm.RemovalPending(done.Alias) ? 202 : 200);
        });

        app.MapPost("/v1/host/bridges", async (BridgeRequest body, CancellationToken ct) =>
        {
            var c = await hv.Bridges.BridgeAsync(body.Nic, body.Bridge, body.Stp, body.Delay, ct);
            return Results.Json(new BridgeResult(c.Bridge, c.Nic, c.Addresses.ToArray(), c.Routes.ToArray()), ApiJson.Default.BridgeResult);
        });
        app.MapDelete("/v1/host/bridges/{b}", async (string b, CancellationToken ct) =>
        {
            var c = await hv.Bridges.UnbridgeAsync(b, ct);
            return Results.Json(new BridgeResult(c.Bridge, c.Nic, c.Addresses.ToArray(), c.Routes.ToArray()), ApiJson.Default.BridgeResult);
        });
    }

    internal static NetworkInfo Info(VirtualNetwork n)
    {
        var d = n.Live ?? n.Def;
        return new NetworkInfo(n.Name, n.Uuid.ToString(), n.IsActive, n.Persistent, n.Autostart,
            d.BridgeName, d.Mode, n.DnsmasqPid);
    }
}
