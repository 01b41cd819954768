using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Vireo.Api;

namespace Vireo.Cli;

public static partial class CliMain
{
    private static Argument<string> NetworkArg() => new("network") { Description = "Network name or uuid" };

    private static async Task<string> ReadXmlArg(string path, CancellationToken ct)
    {
        try { return path == "-" ? await Console.In.ReadToEndAsync(ct) : await File.ReadAllTextAsync(path, ct); }
        catch (IOException e) { throw new CliException($"Failed to open file '{path}': {e.Message}"); }
    }

    private static void AddNetworkCommands(RootCommand root)
    {
        AddBridgeCommands(root);
        AddInterfaceCommands(root);
        {
            var file = new Argument<string>("file") { Description = "Network XML file (libvirt format); - reads stdin" };
            var cmd = new Command("net-define", "Define (but don't start) a network from an XML file") { file };
            Client(cmd, async (pr, c, ct) =>
            {
                var path = pr.GetValue(file)!;
                var r = await c.JsonAsync("POST", "v1/networks", ApiJson.Default.DefineResult, DaemonClient.Xml(await ReadXmlArg(path, ct)), ct);
                Console.WriteLine($"Network {r.Name} defined from {path}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var n = NetworkArg();
            var cmd = new Command("net-undefine", "Undefine a network (an active one goes on as transient)") { n };
            Client(cmd, async (pr, c, ct) =>
            {
                var info = await NetAsync(c, pr.GetValue(n)!, ct);
                (await c.SendAsync("DELETE", $"v1/networks/{DaemonClient.E(info.Name)}", null, ct)).Dispose();
                Console.WriteLine($"Network {info.Name} has been undefined");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var n = NetworkArg();
            var cmd = new Command("net-start", "Start a (previously defined) inactive network") { n };
            Client(cmd, async (pr, c, ct) =>
            {
                var r = await c.JsonAsync("POST", $"v1/networks/{DaemonClient.E(pr.GetValue(n)!)}/start", ApiJson.Default.NetworkActionResult, null, ct);
                foreach (var w in r.Warnings) Console.Error.WriteLine($"warning: {w}");
                Console.WriteLine($"Network {r.Network.Name} started");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var n = NetworkArg();
            var cmd = new Command("net-destroy", "Destroy (stop) a network: its bridge, dnsmasq and rules go") { n };
            Client(cmd, async (pr, c, ct) =>
            {
                var r = await c.JsonAsync("POST", $"v1/networks/{DaemonClient.E(pr.GetValue(n)!)}/destroy", ApiJson.Default.NetworkActionResult, null, ct);
                Console.WriteLine($"Network {r.Network.Name} destroyed");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var all = new Option<bool>("--all") { Description = "List active and inactive networks" };
            var inactive = new Option<bool>("--inactive") { Description = "List inactive networks only" };
            var name = new Option<bool>("--name") { Description = "List network names only" };
            var cmd = new Command("net-list", "List networks") { all, inactive, name };
            Client(cmd, async (pr, c, ct) =>
            {
                var list = await c.JsonAsync("GET", "v1/networks", ApiJson.Default.NetworkInfoArray, null, ct);
                var shown = list.Where(x => pr.GetValue(all) || (pr.GetValue(inactive) ? !x.Active : x.Active));
                if (pr.GetValue(name))
                {
                    foreach (var x in shown) Console.WriteLine(x.Name);
                    Console.WriteLine();
                    return 0;
                }
                Console.Write(Table.Render(["Name", "State", "Autostart", "Persistent"],
                    shown.Select(x => new[] { x.Name, x.Active ? "active" : "inactive", x.Autostart ? "yes" : "no", x.Persistent ? "yes" : "no" })));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var n = NetworkArg();
            var cmd = new Command("net-info", "Network information") { n };
            Client(cmd, async (pr, c, ct) =>
            {
                var i = await NetAsync(c, pr.GetValue(n)!, ct);
                Console.Write(Table.Pairs([
                    ("Name", i.Name), ("UUID", i.Uuid), ("Active", YesNo(i.Active)), ("Persistent", YesNo(i.Persistent)),
                    ("Autostart", YesNo(i.Autostart)), ("Bridge", i.Bridge ?? ""), ("Forward", i.Mode),
                ]));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var n = NetworkArg();
            var inactive = new Option<bool>("--inactive") { Description = "The persistent definition rather than the running one" };
            var cmd = new Command("net-dumpxml", "Network information in XML") { n, inactive };
            Client(cmd, async (pr, c, ct) =>
            {
                Console.Write(await c.TextAsync("GET", $"v1/networks/{DaemonClient.E(pr.GetValue(n)!)}/xml{(pr.GetValue(inactive) ? "?inactive=true" : "")}", null, ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var n = NetworkArg();
            var disable = new Option<bool>("--disable") { Description = "Turn autostart off" };
            var cmd = new Command("net-autostart", "Start the network when the daemon starts") { n, disable };
            Client(cmd, async (pr, c, ct) =>
            {
                var off = pr.GetValue(disable);
                var r = await c.JsonAsync("PUT", $"v1/networks/{DaemonClient.E(pr.GetValue(n)!)}/autostart?enable={(!off).ToString().ToLowerInvariant()}", ApiJson.Default.NetworkActionResult, null, ct);
                Console.WriteLine(off ? $"Network {r.Network.Name} unmarked as autostarted" : $"Network {r.Network.Name} marked as autostarted");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var n = NetworkArg();
            var command = new Argument<string>("command") { Description = "add | add-first | add-last | delete | modify" };
            var section = new Argument<string>("section") { Description = "ip-dhcp-host" };
            var xml = new Argument<string>("xml") { Description = "The <host mac='..' name='..' ip='..'/> element, or a file holding it" };
            var live = new Option<bool>("--live") { Description = "Change the running network" };
            var config = new Option<bool>("--config") { Description = "Change the persistent definition" };
            var current = new Option<bool>("--current") { Description = "The running network if active, else the definition (default)" };
            var cmd = new Command("net-update", "Update parts of a network's definition, live and/or persistent") { n, command, section, xml, live, config, current };
            Client(cmd, async (pr, c, ct) =>
            {
                var text = pr.GetValue(xml)!;
                if (!text.TrimStart().StartsWith('<')) text = await ReadXmlArg(text, ct);
                var body = new NetUpdateRequest(pr.GetValue(command)!, pr.GetValue(section)!, text, pr.GetValue(live), pr.GetValue(config));
                var r = await c.JsonAsync("POST", $"v1/networks/{DaemonClient.E(pr.GetValue(n)!)}/update", ApiJson.Default.NetworkActionResult,
                    DaemonClient.Json(body, ApiJson.Default.NetUpdateRequest), ct);
                var what = (pr.GetValue(live), pr.GetValue(config)) switch
                {
                    (true, true) => "live state and persistent config",
                    (true, false) => "live state",
                    (false, true) => "persistent config",
                    _ => r.Network.Active ? "live state" : "persistent config",
                };
                Console.WriteLine($"Updated network {r.Network.Name} {what}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var n = NetworkArg();
            var mac = new Option<string?>("--mac") { Description = "Only the lease of this MAC address" };
            var cmd = new Command("net-dhcp-leases", "Print the network's DHCP leases") { n, mac };
            Client(cmd, async (pr, c, ct) =>
            {
                var q = pr.GetValue(mac) is { } m ? $"?mac={DaemonClient.E(m)}" : "";
                var leases = await c.JsonAsync("GET", $"v1/networks/{DaemonClient.E(pr.GetValue(n)!)}/leases{q}", ApiJson.Default.LeaseInfoArray, null, ct);
                Console.Write(Table.Render(["Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"],
                    leases.Select(l => new[]
                    {
                        l.Expiry == DateTimeOffset.MaxValue ? "never" : l.Expiry.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                        l.Mac, l.Protocol, $"{l.IpAddress}/{l.Prefix}", l.Hostname ?? "-", l.ClientId ?? "-",
                    })));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var d = new Argument<string?>("domain") { Description = "Only this domain's forwards", Arity = ArgumentArity.ZeroOrOne };
            var cmd = new Command("port-forward-list", "List host ports forwarded to guests (NAT networks and user-mode NICs)") { d };
            Client(cmd, async (pr, c, ct) =>
            {
                var q = pr.GetValue(d) is { } dom ? $"?domain={DaemonClient.E(dom)}" : "";
                var list = await c.JsonAsync("GET", $"v1/port-forwards{q}", ApiJson.Default.PortForwardInfoArray, null, ct);
                Console.Write(Table.Render(["Domain", "Network", "Protocol", "Host address", "Host port", "Guest address", "Guest port"],
                    list.Select(f => new[] { f.Domain, f.Network, f.Proto, f.HostAddress ?? "*", f.HostPorts, f.GuestIp ?? (f.Network == "user" ? "guest" : "(no lease yet)"), f.GuestPorts })));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
    }

    private static void AddBridgeCommands(RootCommand root)
    {
        {
            var nic = new Argument<string>("interface") { Description = "The host NIC to put under the bridge" };
            var bridge = new Argument<string>("bridge") { Description = "Name of the new bridge" };
            var noStp = new Option<bool>("--no-stp") { Description = "Turn STP off on the bridge (faster port start; only without loops)" };
            var delay = new Option<int>("--delay") { Description = "STP forward delay in seconds", DefaultValueFactory = _ => 0 };
            var cmd = new Command("iface-bridge", "Create a bridge, attach a NIC and move its addresses and routes to it (rolled back if the host loses its gateway)") { nic, bridge, noStp, delay };
            Client(cmd, async (pr, c, ct) =>
            {
                var body = new BridgeRequest(pr.GetValue(nic)!, pr.GetValue(bridge)!, !pr.GetValue(noStp), pr.GetValue(delay));
                var r = await c.JsonAsync("POST", "v1/host/bridges", ApiJson.Default.BridgeResult,
                    DaemonClient.Json(body, ApiJson.Default.BridgeRequest), ct);
                Console.WriteLine($"Created bridge {r.Bridge} with attached device {r.Nic}");
                foreach (var a in r.Addresses) Console.WriteLine($"  address {a} moved to {r.Bridge}");
                foreach (var rt in r.Routes) Console.WriteLine($"  route {rt} moved to {r.Bridge}");
                Console.WriteLine($"Bridge interface {r.Bridge} started");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var bridge = new Argument<string>("bridge") { Description = "A bridge made by iface-bridge" };
            var cmd = new Command("iface-unbridge", "Give a bridge's addresses and routes back to its NIC and remove the bridge") { bridge };
            Client(cmd, async (pr, c, ct) =>
            {
                var r = await c.JsonAsync("DELETE", $"v1/host/bridges/{DaemonClient.E(pr.GetValue(bridge)!)}", ApiJson.Default.BridgeResult, null, ct);
                Console.WriteLine($"Device {r.Nic} un-attached from bridge {r.Bridge}");
                Console.WriteLine($"Interface {r.Nic} started");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
    }

    private static void AddInterfaceCommands(RootCommand root)
    {
        Command Make(string verb, string description, bool attach)
        {
            var d = DomainArg();
            var type = new Argument<string>("type") { Description = "network | bridge | direct | user" };
            var source = new Argument<string?>("source") { Description = "The network, bridge or host device", Arity = attach ? ArgumentArity.ZeroOrOne : ArgumentArity.Zero };
            var mac = new Option<string?>("--mac") { Description = attach ? "MAC address (default: a random 52:54:00 one)" : "Which interface (needed when there are several of the type)" };
            var model = new Option<string?>("--model") { Description = "NIC model: virtio (default), e1000, e1000e, rtl8139" };
            var target = new Option<string?>("--target") { Description = "Name of the tap on the host" };
            var scope = new ScopeOptions();
            var cmd = new Command(verb, description) { d, type, mac };
            scope.AddTo(cmd);
            if (attach) { cmd.Arguments.Add(source); cmd.Options.Add(model); cmd.Options.Add(target); }
            Client(cmd, async (pr, c, ct) =>
            {
                var name = pr.GetValue(d)!;
                var info = await c.DomainAsync(name, ct);
                var (l, cf) = scope.Resolve(pr, info);
                var body = new InterfaceRequest(pr.GetValue(type)!, attach ? pr.GetValue(source) : null, pr.GetValue(mac),
                    attach ? pr.GetValue(model) : null, attach ? pr.GetValue(target) : null, l, cf);
                using var resp = await c.SendAsync("POST", $"v1/domains/{DaemonClient.E(info.Name)}/interfaces{(attach ? "" : "/detach")}",
                    DaemonClient.Json(body, ApiJson.Default.InterfaceRequest), ct);
                Console.WriteLine(attach ? "Interface attached successfully" : resp.Status == 202 ? DetachRequested("Interface") : "Interface detached successfully");
                Console.WriteLine();
                return 0;
            });
            return cmd;
        }
        {
            // virsh domiflist: from the domain's XML (running configuration, or --inactive the definition).
            var d = DomainArg();
            var inactive = new Option<bool>("--inactive") { Description = "The definition rather than the running guest" };
            var cmd = new Command("domiflist", "List the network interfaces of a domain") { d, inactive };
            Client(cmd, async (pr, c, ct) =>
            {
                var xml = await c.TextAsync("GET", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/xml{(pr.GetValue(inactive) ? "?inactive=true" : "")}", ct: ct);
                var nics = Vireo.Model.DomainXml.Parse(xml).Devices.Interfaces;
                Console.Write(Table.Render(["Interface", "Type", "Source", "Model", "MAC"],
                    nics.Select(n => new[] { n.TargetDev ?? "-", n.Type, n.SourceNetwork ?? n.SourceBridge ?? n.SourceDev ?? "-", n.Model ?? "-", n.Mac ?? "-" })));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        root.Subcommands.Add(Make("attach-interface", "Attach a network interface (hot-plug with --live)", attach: true));
        root.Subcommands.Add(Make("detach-interface", "Detach a network interface (hot-unplug with --live)", attach: false));
    }

    private static string YesNo(bool b) => b ? "yes" : "no";

    private static async Task<NetworkInfo> NetAsync(DaemonClient c, string n, CancellationToken ct) =>
        await c.JsonAsync("GET", $"v1/networks/{DaemonClient.E(n)}", ApiJson.Default.NetworkInfo, null, ct);
}
