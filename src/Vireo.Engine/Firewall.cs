using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>A host port forwarded to a guest on a NAT network (a DNAT rule).</summary>
public sealed record PortForward(string Domain, string Network, string Bridge, string Proto, IPAddress? HostAddress,
    int HostStart, int HostEnd, IPAddress? GuestIp, int GuestStart)
{
    public string HostPorts => Ports(HostStart, HostEnd - HostStart);
    public string GuestPorts => Ports(GuestStart, HostEnd - HostStart);

    /// <summary>"80" or "80-89", as nft and port-forward-list write port ranges.</summary>
    public static string Ports(int start, int extra) => extra == 0 ? $"{start}" : $"{start}-{start + extra}";
}

/// <summary>
/// Vireo's nftables rules: one table of its own, rewritten whole in one transaction whenever a
/// network or a port forward changes, so it never drifts and never touches anyone else's rules.
/// </summary>
/// <remarks>
/// The table's base chains run just before the standard priorities, and a "reject" there is
/// final. An "accept" is not: netfilter still runs every other table's chain on the same hook,
/// so another manager's forward chain with a drop policy (Docker's, a hardened host's) would
/// still drop guest traffic. <see cref="FirewallGuard"/> deals with that.
/// </remarks>
public static class Firewall
{
    public static string Render(string table, IEnumerable<NetworkDef> active, IEnumerable<PortForward> forwards)
    {
        var nets = active.Where(n => n.ManagedBridge && n.BridgeName is not null).OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
        var fwds = forwards.Where(f => f.GuestIp is not null).ToList();
        var sb = new StringBuilder();
        void L(string s) => sb.Append(s).Append('\n');
        // Create-then-delete makes the replace work whether or not the table exists; nft applies
        // the whole file atomically.
        L($"table inet {table} {{}}");
        L($"delete table inet {table}");
        if (nets.Count == 0 && fwds.Count == 0) return sb.ToString(); // nothing active: no table at all
        L($"table inet {table} {{");
        L("  chain forward {");
        L("    type filter hook forward priority filter - 5; policy accept;");
        foreach (var n in nets)
        {
            var br = Q(n.BridgeName!);
            L($"    # network {n.Name}: {n.Mode}");
            L($"    iifname {br} oifname {br} accept");
            switch (n.Mode)
            {
                case "nat" or "route":
                {
                    var outDev = n.Forward?.Dev is { } d ? $" oifname {Q(d)}" : "";
                    var inDev = n.Forward?.Dev is { } d2 ? $" iifname {Q(d2)}" : "";
                    foreach (var ip in n.Ips)
                    {
                        // NAT lets in only replies to IPv4; IPv6 is routed (libvirt has no IPv6 masquerade).
                        var replies = n.Mode == "nat" && ip.Family == "ipv4" ? " ct state established,related" : "";
                        L($"   {inDev} oifname {br} {Fam(ip)} daddr {ip.Subnet}{replies} accept");
                        L($"    iifname {br}{outDev} {Fam(ip)} saddr {ip.Subnet} accept");
                    }
                    foreach (var f in fwds.Where(f => f.Network == n.Name))
                        L($"    oifname {br} ip daddr {f.GuestIp} {f.Proto} dport {f.GuestPorts} ct status dnat accept");
                    L($"    iifname {br} reject");
                    L($"    oifname {br} reject");
                    break;
                }
                case "isolated":
                    L($"    iifname {br} reject");
                    L($"    oifname {br} reject");
                    break;
                // open: no rules at all, by definition.
            }
        }
        L("  }");
        L("  chain postrouting {");
        L("    type nat hook postrouting priority srcnat - 5; policy accept;");
        foreach (var n in nets.Where(n => n.Mode == "nat"))
        {
            foreach (var ip in n.Ips.Where(i => i.Family == "ipv4"))
            {
                var s = ip.Subnet;
                var outDev = n.Forward?.Dev is { } d ? $" oifname {Q(d)}" : "";
                var ports = n.Forward?.NatPortStart is { } ps && n.Forward.NatPortEnd is { } pe ? $" to :{ps}-{pe}" : "";
                L($"    # network {n.Name}");
                L($"    ip saddr {s} ip daddr 224.0.0.0/24 return");
                L($"    ip saddr {s} ip daddr 255.255.255.255 return");
                L($"   {outDev} ip saddr {s} ip daddr != {s} meta l4proto {{ tcp, udp }} masquerade{ports}");
                L($"   {outDev} ip saddr {s} ip daddr != {s} masquerade");
            }
        }
        L("  }");
        // nft names the dstnat priority (-100) only on prerouting; output takes the number.
        foreach (var (chain, priority) in new[] { ("prerouting", "dstnat - 5"), ("output", "-105") })
        {
            L($"  chain {chain} {{");
            L($"    type nat hook {chain} priority {priority}; policy accept;");
            foreach (var f in fwds)
            {
                var match = f.HostAddress is { } a ? $"{(a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "ip" : "ip6")} daddr {a}" : "fib daddr type local";
                var to = $"{f.GuestIp}:{f.GuestPorts}";
                L($"    # {f.Domain} on {f.Network}");
                L($"    {match} {f.Proto} dport {f.HostPorts} dnat ip to {to}");
            }
            L("  }");
        }
        L("}");
        return sb.ToString();
    }

    private static string Fam(NetIpDef ip) => ip.Family == "ipv6" ? "ip6" : "ip";

    private static string Q(string s) => "\"" + s.Replace("\"", "") + "\"";
}

/// <summary>
/// Finds other managers' forward chains that would drop guest traffic and puts accept rules for
/// Vireo's bridges at their top, each marked with a comment "vireo:NETWORK" so only those are
/// ever removed. Vireo's own table still decides what is allowed; these rules only keep another
/// table from dropping it.
/// </summary>
public static class FirewallGuard
{
    public sealed record Chain(string Family, string Table, string Name, string Why, bool Owned);

    /// <summary>Base chains on the forward hook, outside Vireo's table, that drop by policy or by an unconditional rule.</summary>
    public static List<Chain> DroppingChains(JsonArray ruleset, string ownTable)
    {
        var tables = new Dictionary<(string, string), bool>();
        var chains = new List<Chain>();
        var unconditionalDrop = new HashSet<(string, string, string)>();
        foreach (var item in ruleset)
        {
            if (item?["table"] is JsonObject t)
                tables[(t["family"]!.GetValue<string>(), t["name"]!.GetValue<string>())] =
                    t["flags"] is JsonNode fl && fl.ToJsonString().Contains("owner");
            if (item?["rule"] is JsonObject r && r["expr"] is JsonArray ex && ex.Count == 1 && ex[0] is JsonObject verdict && verdict.ContainsKey("drop"))
                unconditionalDrop.Add((r["family"]!.GetValue<string>(), r["table"]!.GetValue<string>(), r["chain"]!.GetValue<string>()));
        }
        foreach (var item in ruleset)
        {
            if (item?["chain"] is not JsonObject c || c["hook"]?.GetValue<string>() != "forward") continue;
            var fam = c["family"]!.GetValue<string>();
            var table = c["table"]!.GetValue<string>();
            var name = c["name"]!.GetValue<string>();
            if (table == ownTable && fam == "inet") continue;
            if (fam is not ("ip" or "ip6" or "inet")) continue;
            string? why = c["policy"]?.GetValue<string>() == "drop" ? "policy drop"
                : unconditionalDrop.Contains((fam, table, name)) ? "a rule that drops everything" : null;
            if (why is null) continue;
            chains.Add(new Chain(fam, table, name, why, tables.GetValueOrDefault((fam, table))));
        }
        return chains;
    }

    /// <summary>Our accept rules in other tables, found by their comment.</summary>
    public static List<(string Family, string Table, string Chain, long Handle, string Comment)> OwnRules(JsonArray ruleset, string? network)
    {
        var list = new List<(string, string, string, long, string)>();
        foreach (var item in ruleset)
        {
            if (item?["rule"] is not JsonObject r) continue;
            var comment = r["comment"]?.GetValue<string>();
            if (comment is null || !comment.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            if (network is not null && comment != Prefix + network) continue;
            list.Add((r["family"]!.GetValue<string>(), r["table"]!.GetValue<string>(), r["chain"]!.GetValue<string>(), r["handle"]!.GetValue<long>(), comment));
        }
        return list;
    }

    public const string Prefix = "vireo:";

    public static string InsertScript(IEnumerable<Chain> chains, string network, string bridge)
    {
        var sb = new StringBuilder();
        foreach (var c in chains)
        {
            sb.Append($"insert rule {c.Family} {c.Table} {c.Name} oifname \"{bridge}\" accept comment \"{Prefix}{network}\"\n");
            sb.Append($"insert rule {c.Family} {c.Table} {c.Name} iifname \"{bridge}\" accept comment \"{Prefix}{network}\"\n");
        }
        return sb.ToString();
    }

    public static string DeleteScript(IEnumerable<(string Family, string Table, string Chain, long Handle, string Comment)> rules) =>
        string.Concat(rules.Select(r => $"delete rule {r.Family} {r.Table} {r.Chain} handle {r.Handle}\n"));
}
