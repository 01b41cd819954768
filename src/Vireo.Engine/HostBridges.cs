using System.Net.NetworkInformation;
using System.Text.Json.Nodes;
using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>What a bridge operation moved: addresses (CIDR) and routes (as ip prints them).</summary>
public sealed record BridgeChange(string Bridge, string Nic, IReadOnlyList<string> Addresses, IReadOnlyList<string> Routes);

/// <summary>
/// virsh iface-bridge / iface-unbridge: put a host NIC under a new bridge, moving its
/// addresses and routes there (what nmcli or brctl setups do by hand), and back. If the host
/// had a gateway on the NIC and cannot reach it through the bridge, the change is undone.
/// </summary>
public sealed class HostBridges
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    public async Task<BridgeChange> BridgeAsync(string nic, string bridge, bool stp, int delay, CancellationToken ct = default)
    {
        if (!NetworkRules.IsLinkName(bridge)) throw new VireoException(ErrorCode.InvalidArgument, $"Bridge name '{bridge}' is not a valid interface name; use at most 15 letters, digits and _ . : + -.");
        if (delay is < 0 or > 30) throw new VireoException(ErrorCode.InvalidArgument, $"Forward delay {delay} is outside 0-30 seconds.");
        await _lock.WaitAsync(ct);
        try
        {
            if (!Links.Exists(nic)) throw new VireoException(ErrorCode.NotFound, $"Interface '{nic}' does not exist on the host.");
            if (Links.Exists(bridge)) throw new VireoException(ErrorCode.InvalidOperation, $"Interface '{bridge}' already exists; pick another bridge name.");
            var link = (await Links.QueryAsync(["-d", "link", "show", "dev", nic], ct))[0]!;
            if (link["master"]?.GetValue<string>() is { } master)
                throw new VireoException(ErrorCode.InvalidOperation, $"Interface '{nic}' is already a port of '{master}'.");
            var kind = link["linkinfo"]?["info_kind"]?.GetValue<string>();
            if (kind is "bridge" or "tun" or "macvtap" or "bond_slave")
                throw new VireoException(ErrorCode.InvalidOperation, $"Interface '{nic}' is a {kind}; iface-bridge takes a NIC (ethernet, veth, bond, vlan).");
            var mac = link["address"]!.GetValue<string>();
            var (addrs, routes, gateway) = await StateAsync(nic, ct);
            var reachableBefore = gateway is not null && await ReachableAsync(gateway, TimeSpan.FromSeconds(2));

            var forward = new List<string>
            {
                $"link add name {bridge} address {mac} type bridge stp_state {(stp ? 1 : 0)} forward_delay {delay * 100}",
                $"link set dev {nic} master {bridge}",
            };
            forward.AddRange(addrs.Select(a => $"addr del {a} dev {nic}"));
            forward.AddRange(addrs.Select(a => $"addr add {a} dev {bridge}"));
            forward.Add($"link set dev {bridge} up");
            forward.AddRange(routes.Select(r => $"route replace {r} dev {bridge}"));
            try
            {
                await Links.BatchAsync(forward, ct);
            }
            catch (LinkException e)
            {
                await UndoAsync(nic, bridge, addrs, routes);
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot bridge '{nic}' as '{bridge}' (undone): {e.Message}");
            }
            if (reachableBefore)
            {
                // With STP the new port listens and learns for 2 x forward delay (at least 2 s each) first.
                var wait = TimeSpan.FromSeconds(stp ? 2 * Math.Max(delay, 2) + 4 : 4);
                if (!await ReachableAsync(gateway!, wait))
                {
                    await UndoAsync(nic, bridge, addrs, routes);
                    throw new VireoException(ErrorCode.OperationFailed,
                        $"The host lost its gateway {gateway} through bridge '{bridge}', so the change was rolled back: '{nic}' has its addresses and routes again. Check the bridge is allowed by the firewall and the switch port (STP, port security).");
                }
            }
            return new BridgeChange(bridge, nic, addrs, routes);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<BridgeChange> UnbridgeAsync(string bridge, CancellationToken ct = default)
    {
        await _lock.WaitAsync(ct);
        try
        {
            if (!Links.Exists(bridge)) throw new VireoException(ErrorCode.NotFound, $"Bridge '{bridge}' does not exist on the host.");
            if (!Links.IsBridge(bridge)) throw new VireoException(ErrorCode.InvalidArgument, $"'{bridge}' is not a bridge.");
            var ports = (await Links.QueryAsync(["-d", "link", "show", "master", bridge], ct))
                .Select(p => (Name: p!["ifname"]!.GetValue<string>(), Kind: p["linkinfo"]?["info_kind"]?.GetValue<string>()))
                .ToList();
            var nics = ports.Where(p => p.Kind is not ("tun" or "macvtap")).ToList();
            if (nics.Count != 1)
                throw new VireoException(ErrorCode.InvalidOperation, nics.Count == 0
                    ? $"Bridge '{bridge}' has no NIC to give its addresses back to."
                    : $"Bridge '{bridge}' has {nics.Count} NICs ({string.Join(", ", nics.Select(n => n.Name))}); iface-unbridge undoes a one-NIC bridge only.");
            var taps = ports.Where(p => p.Kind is "tun").Select(p => p.Name).ToList();
            if (taps.Count > 0)
                throw new VireoException(ErrorCode.InvalidOperation, $"Guests still use bridge '{bridge}' ({string.Join(", ", taps)}); stop or detach them first.");
            var nic = nics[0].Name;
            var (addrs, routes, _) = await StateAsync(bridge, ct);
            var cmds = new List<string>();
            cmds.AddRange(addrs.Select(a => $"addr del {a} dev {bridge}"));
            cmds.Add($"link set dev {nic} nomaster");
            cmds.Add($"link del dev {bridge}");
            cmds.AddRange(addrs.Select(a => $"addr add {a} dev {nic}"));
            cmds.Add($"link set dev {nic} up");
            cmds.AddRange(routes.Select(r => $"route replace {r} dev {nic}"));
            await Links.BatchAsync(cmds, ct);
            return new BridgeChange(bridge, nic, addrs, routes);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Global addresses (CIDR) and non-kernel routes of a link, and its IPv4 default gateway.</summary>
    private static async Task<(List<string> Addrs, List<string> Routes, string? Gateway)> StateAsync(string dev, CancellationToken ct)
    {
        var addrs = new List<string>();
        foreach (var a in (await Links.QueryAsync(["addr", "show", "dev", dev], ct))[0]?["addr_info"]?.AsArray() ?? [])
        {
            if (a?["scope"]?.GetValue<string>() != "global") continue;
            addrs.Add($"{a["local"]!.GetValue<string>()}/{a["prefixlen"]!.GetValue<int>()}");
        }
        var routes = new List<string>();
        string? gateway = null;
        foreach (var family in new[] { "-4", "-6" })
        {
            foreach (var r in await Links.QueryAsync([family, "route", "show", "dev", dev], ct))
            {
                if (r is null || r["protocol"]?.GetValue<string>() == "kernel") continue;
                var dst = r["dst"]!.GetValue<string>();
                if (family == "-6" && dst.StartsWith("fe80", StringComparison.Ordinal)) continue;
                var text = dst;
                if (r["gateway"]?.GetValue<string>() is { } gw)
                {
                    text += $" via {gw}";
                    if (dst == "default" && family == "-4") gateway = gw;
                }
                if (r["metric"] is JsonNode m) text += $" metric {m}";
                if (r["protocol"]?.GetValue<string>() is { } proto) text += $" proto {proto}";
                routes.Add(text);
            }
        }
        return (addrs, routes, gateway);
    }

    private static async Task UndoAsync(string nic, string bridge, List<string> addrs, List<string> routes)
    {
        var cmds = new List<string> { $"link set dev {nic} nomaster", $"link del dev {bridge}" };
        cmds.AddRange(addrs.Select(a => $"addr replace {a} dev {nic}"));
        cmds.Add($"link set dev {nic} up");
        cmds.AddRange(routes.Select(r => $"route replace {r} dev {nic}"));
        try { await Links.BatchAsync(cmds, force: true); }
        catch (Exception e) when (e is LinkException or CommandException) { } // the steps that could be undone are
    }

    private static async Task<bool> ReachableAsync(string address, TimeSpan within)
    {
        using var ping = new Ping();
        var until = DateTime.UtcNow + within;
        do
        {
            try
            {
                var r = await ping.SendPingAsync(address, 500);
                if (r.Status == IPStatus.Success) return true;
            }
            catch (PingException) { }
            await Task.Delay(200);
        } while (DateTime.UtcNow < until);
        return false;
    }
}
