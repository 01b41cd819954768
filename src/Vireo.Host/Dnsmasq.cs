using System.Globalization;
using System.Net;
using System.Text;
using Vireo.Model;

namespace Vireo.Host;

/// <summary>Where one network's dnsmasq keeps its files (all in the daemon's run dir).</summary>
public sealed record DnsmasqFiles(string Conf, string HostsFile, string AddnHosts, string Leases, string Pid, string Log);

/// <summary>A DHCP lease as dnsmasq records it.</summary>
public sealed record DhcpLease(DateTimeOffset Expiry, string Mac, IPAddress Ip, string? Hostname, string? ClientId);

/// <summary>
/// dnsmasq for one network: its configuration (written like libvirt's, so people who know
/// /var/lib/libvirt/dnsmasq/default.conf read it at once), its host files, its leases.
/// </summary>
public static class Dnsmasq
{
    public const string Binary = "/usr/sbin/dnsmasq";

    public static string Config(NetworkDef n, DnsmasqFiles f)
    {
        var sb = new StringBuilder();
        void L(string line) => sb.Append(line).Append('\n');
        L("# Written by vireod; changes here are overwritten. Change the network with net-define or net-update.");
        L("strict-order");
        L($"pid-file={f.Pid}");
        L("except-interface=lo");
        L("bind-dynamic");
        L($"interface={n.BridgeName}");
        L("log-facility=-");
        if (n.DomainName is { } dn)
        {
            if (n.DomainLocalOnly == "yes") L($"local=/{dn}/");
            L($"domain={dn}");
            L("expand-hosts");
        }
        var leases = 0;
        foreach (var ip in n.Ips.Where(i => i.HasDhcp))
        {
            foreach (var r in ip.Ranges)
            {
                var lease = r.LeaseExpiry is { } e ? "," + (e == 0 ? "infinite" : Seconds(e, r.LeaseUnit).ToString(CultureInfo.InvariantCulture)) : "";
                if (ip.Family == "ipv4")
                {
                    L($"dhcp-range={r.Start},{r.End},{NetIpDef.Netmask(ip.Prefix)}{lease}");
                    leases += (int)Math.Min(int.MaxValue / 2, Distance(r.Start, r.End) + 1);
                }
                else
                {
                    L($"dhcp-range={r.Start},{r.End},{ip.Prefix}{lease}");
                }
            }
            if (ip.Family == "ipv4" && ip.Ranges.Count == 0)
                L($"dhcp-range={ip.Subnet.BaseAddress},static,{NetIpDef.Netmask(ip.Prefix)}");
        }
        if (n.Ips.Any(i => i.Family == "ipv6")) L("enable-ra");
        if (n.Ips.Any(i => i.HasDhcp))
        {
            L("dhcp-no-override");
            // dnsmasq is the only address source on the network and keeps its leases, so its
            // ping-before-offer check buys nothing and delays every new guest by 3 s (long
            // enough for a busy guest's DHCP client to time out and start over).
            L("no-ping");
            L("dhcp-authoritative");
            L($"dhcp-lease-max={Math.Max(leases, n.Ips.Sum(i => i.Hosts.Count))}");
            L($"dhcp-hostsfile={f.HostsFile}");
            L($"dhcp-leasefile={f.Leases}");
        }
        L($"addn-hosts={f.AddnHosts}");
        return sb.ToString();
    }

    private static long Seconds(int value, string? unit) => unit switch
    {
        "seconds" => value,
        "hours" => value * 3600L,
        _ => value * 60L, // libvirt's default unit is minutes
    };

    private static long Distance(IPAddress a, IPAddress b)
    {
        var x = a.GetAddressBytes();
        var y = b.GetAddressBytes();
        long d = 0;
        for (int i = Math.Max(0, x.Length - 4); i < x.Length; i++) d = d * 256 + (y[i] - x[i]);
        return Math.Max(0, d);
    }

    /// <summary>dhcp-hostsfile: one "mac,ip,name" line per static host; dnsmasq re-reads it on SIGHUP.</summary>
    public static string HostsFile(NetworkDef n)
    {
        var sb = new StringBuilder();
        foreach (var ip in n.Ips)
            foreach (var h in ip.Hosts)
            {
                var parts = new List<string>();
                if (h.Mac is not null) parts.Add(h.Mac);
                if (h.Ip is not null) parts.Add(ip.Family == "ipv6" ? $"[{h.Ip}]" : h.Ip.ToString());
                if (h.Name is not null) parts.Add(h.Name);
                sb.Append(string.Join(',', parts)).Append('\n');
            }
        return sb.ToString();
    }

    /// <summary>addn-hosts: the network's &lt;dns&gt;&lt;host&gt; entries in /etc/hosts form.</summary>
    public static string AddnHosts(NetworkDef n)
    {
        var sb = new StringBuilder();
        foreach (var h in n.DnsHosts) sb.Append(h.Ip).Append('\t').Append(string.Join(' ', h.Hostnames)).Append('\n');
        return sb.ToString();
    }

    public static IReadOnlyList<string> Argv(DnsmasqFiles f) =>
        [Binary, $"--conf-file={f.Conf}", "--keep-in-foreground"];

    /// <summary>Parses dnsmasq's lease file: "expiry mac ip hostname clientid" per line ("*" for none).</summary>
    public static IReadOnlyList<DhcpLease> ParseLeases(string text)
    {
        var list = new List<DhcpLease>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = line.Split(' ');
            if (p.Length < 4 || p[0] == "duid") continue;
            if (!long.TryParse(p[0], CultureInfo.InvariantCulture, out var exp) || !IPAddress.TryParse(p[2], out var ip)) continue;
            list.Add(new DhcpLease(exp == 0 ? DateTimeOffset.MaxValue : DateTimeOffset.FromUnixTimeSeconds(exp), p[1], ip,
                p[3] == "*" ? null : p[3], p.Length > 4 && p[4] != "*" ? p[4] : null));
        }
        return list;
    }
}
