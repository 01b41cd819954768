using System.Globalization;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;
using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>
/// One network: its definition, and while active its bridge, addresses, dnsmasq and firewall
/// share. Operations on one network are serialised; the state is read under a lock.
/// </summary>
public sealed class VirtualNetwork
{
    private readonly NetworkManager _mgr;
    private readonly EngineOptions _o;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _op = new(1, 1);
    private readonly Lock _state = new();
    private ProcessWatch? _dnsmasq;
    private int? _dnsmasqPid;
    private long _dnsmasqStart;
    private bool _stopping;

    public NetworkDef Def { get; private set; }
    /// <summary>The definition the network runs with; null when inactive.</summary>
    public NetworkDef? Live { get; private set; }
    public bool Persistent { get; private set; }
    public bool Autostart { get; private set; }
    public string Name => Def.Name;
    public Guid Uuid => Def.Uuid;
    public bool IsActive => Live is not null;
    public int? DnsmasqPid { get { lock (_state) return _dnsmasqPid; } }

    internal VirtualNetwork(NetworkManager mgr, NetworkDef def, bool persistent, bool autostart, EngineOptions o, ILogger log)
    {
        _mgr = mgr;
        Def = def;
        Persistent = persistent;
        Autostart = autostart;
        _o = o;
        _log = log;
    }

    internal void ReplaceDefinition(NetworkDef def) => Def = def;
    internal void SetAutostartFlag(bool on) => Autostart = on;
    internal void MakeTransient() => Persistent = false;

    private string RunFile(string ext) => Path.Combine(_o.NetworkRunDir, Name + ext);
    private DnsmasqFiles Files => new(RunFile(".conf"), RunFile(".hostsfile"), RunFile(".addnhosts"), RunFile(".leases"), RunFile(".pid"), RunFile(".log"));

    public async Task<IReadOnlyList<string>> StartAsync(CancellationToken ct = default)
    {
        await _op.WaitAsync(ct);
        try
        {
            if (IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Network '{Name}' is already active.");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var live = Def.Clone();
            await PreflightAsync(live, ct);
            Directory.CreateDirectory(_o.NetworkRunDir);
            // Recorded before anything is made: a daemon killed half-way cleans up after itself.
            SaveStatus(live, starting: true);
            // A start that fails at any step (whatever the exception) takes all of it down again:
            // bridge, rules, dnsmasq, run files.
            await using var revert = new Reverter(e => Log.UndoFailed(_log, e, Name));
            revert.Add(() => TearDownAsync(live, CancellationToken.None));
            var warnings = new List<string>();
            try
            {
                if (live.ManagedBridge)
                {
                    await Links.BatchAsync(BridgeCommands(live), ct);
                    _mgr.ForwardingNeeded(live, true);
                    // Guests still running from before a net-destroy get their taps back on the bridge.
                    foreach (var tap in _mgr.TapsOf(Name).Where(Links.Exists))
                        Links.AddToBridge(live.BridgeName!, tap);
                }
                lock (_state) Live = live;
                warnings.AddRange(await _mgr.RefreshFirewallAsync(ct));
                if (live.ManagedBridge && live.Ips.Count > 0) SpawnDnsmasq(live);
            }
            catch (Exception e) when (e is LinkException or FirewallException or CommandException or IOException)
            {
                throw new VireoException(ErrorCode.OperationFailed, $"Failed to start network '{Name}': {e.Message}");
            }
            SaveStatus(live, starting: false);
            revert.Commit();
            _mgr.Events.Publish(Name, "Started", "", "network");
            Log.NetworkStarted(_log, Name, clock.Elapsed.TotalMilliseconds, live.BridgeName);
            return warnings;
        }
        finally
        {
            _op.Release();
        }
    }

    /// <summary>What the kernel would refuse later with a worse message.</summary>
    private async Task PreflightAsync(NetworkDef n, CancellationToken ct)
    {
        var problems = new List<string>();
        if (n.ManagedBridge)
        {
            if (Links.Exists(n.BridgeName!))
                problems.Add($"Bridge '{n.BridgeName}' already exists on the host; another network or tool made it. Pick another <bridge name=...> or remove that link.");
            var routes = await Links.QueryAsync(["route", "show", "table", "main"], ct);
            foreach (var ip in n.Ips)
                foreach (var r in routes)
                {
                    var dst = r?["dst"]?.GetValue<string>();
                    var dev = r?["dev"]?.GetValue<string>();
                    if (dst is null || dst == "default" || dev is null || dev == n.BridgeName) continue;
                    if (!System.Net.IPNetwork.TryParse(dst.Contains('/') ? dst : dst + (dst.Contains(':') ? "/128" : "/32"), out var net)) continue;
                    if (NetworkRules.Overlap(ip.Subnet, net))
                        problems.Add($"Subnet {ip.Subnet} is already in use on the host by interface '{dev}' (route {dst}); choose another address range.");
                }
        }
        else if (n.BridgeName is { } br)
        {
            if (!Links.Exists(br)) problems.Add($"Bridge '{br}' does not exist on the host; create it first (vireo iface-bridge NIC {br}).");
            else if (!Links.IsBridge(br)) problems.Add($"'{br}' is not a bridge; a forward mode='bridge' network needs a host bridge.");
        }
        else
        {
            foreach (var dev in n.Forward!.Interfaces.Where(d => !Links.Exists(d)))
                problems.Add($"Interface '{dev}' of the macvtap pool does not exist on the host.");
        }
        if (n.Forward?.Dev is { } fdev && !Links.Exists(fdev))
            problems.Add($"Forward device '{fdev}' does not exist on the host; fix <forward dev=...> or leave it out to use any uplink.");
        if (problems.Count > 0)
            throw new VireoException(ErrorCode.InvalidOperation, string.Join(" ", problems), problems);
    }

    private static IEnumerable<string> BridgeCommands(NetworkDef n)
    {
        var stp = n.Stp == "on" ? 1 : 0;
        var mtu = n.Mtu is { } m ? $" mtu {m}" : "";
        // forward_delay is in hundredths of a second; the kernel raises it to 2 s while STP runs.
        yield return $"link add name {n.BridgeName} address {n.Mac}{mtu} type bridge stp_state {stp} forward_delay {(n.Delay ?? 0) * 100}";
        foreach (var ip in n.Ips)
            yield return ip.Family == "ipv4"
                ? $"addr add {ip.Address}/{ip.Prefix} broadcast {ip.Broadcast} dev {n.BridgeName}"
                : $"addr add {ip.Address}/{ip.Prefix} dev {n.BridgeName} nodad";
        yield return $"link set dev {n.BridgeName} up";
    }

    private void SpawnDnsmasq(NetworkDef live)
    {
        var f = Files;
        AtomicFile.Write(f.HostsFile, Dnsmasq.HostsFile(live), world: true);
        AtomicFile.Write(f.AddnHosts, Dnsmasq.AddnHosts(live), world: true);
        AtomicFile.Write(f.Conf, Dnsmasq.Config(live, f), world: true);
        File.Delete(f.Pid);
        var pid = Spawner.Spawn(Dnsmasq.Argv(f), f.Log, []);
        var watch = ProcessWatch.Start(pid, ownChild: true)!;
        lock (_state)
        {
            _dnsmasq = watch;
            _dnsmasqPid = pid;
            _dnsmasqStart = ProcessWatch.StartTime(pid) ?? 0;
        }
        _ = SuperviseAsync(watch, live);
    }

    /// <summary>Restarts dnsmasq when it dies while the network is up, backing off if it keeps dying.</summary>
    private async Task SuperviseAsync(ProcessWatch watch, NetworkDef live)
    {
        var status = await watch.Exited;
        int delay;
        lock (_state)
        {
            if (_stopping || _dnsmasq != watch || Live != live) return;
            _dnsmasq = null;
            _dnsmasqPid = null;
            _restarts = _mgr.Time.GetUtcNow() - _lastRestart < TimeSpan.FromSeconds(30) ? _restarts + 1 : 0;
            _lastRestart = _mgr.Time.GetUtcNow();
            delay = Math.Min(10, _restarts);
        }
        Log.DnsmasqDied(_log, Name, ProcessWatch.Describe(status), delay);
        if (delay > 0) await Task.Delay(TimeSpan.FromSeconds(delay));
        await _op.WaitAsync();
        try
        {
            lock (_state) if (_stopping || Live != live) return;
            SpawnDnsmasq(live);
            SaveStatus(live, starting: false);
        }
        catch (Exception e)
        {
            Log.NetworkCleanupFailed(_log, e, Name);
        }
        finally
        {
            _op.Release();
        }
    }

    private int _restarts;
    private DateTimeOffset _lastRestart;

    public async Task DestroyAsync(CancellationToken ct = default)
    {
        await _op.WaitAsync(ct);
        try
        {
            var live = Live ?? throw new VireoException(ErrorCode.InvalidOperation, $"Network '{Name}' is not active.");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await TearDownAsync(live, ct);
            _mgr.Events.Publish(Name, "Stopped", "", "network");
            Log.NetworkDestroyed(_log, Name, clock.Elapsed.TotalMilliseconds);
        }
        finally
        {
            _op.Release();
        }
        if (!Persistent) _mgr.Forget(this);
    }

    /// <summary>Removes everything the network made; every step runs even if an earlier one fails.</summary>
    private async Task TearDownAsync(NetworkDef live, CancellationToken ct)
    {
        ProcessWatch? watch;
        int? pid;
        lock (_state)
        {
            _stopping = true;
            watch = _dnsmasq;
            pid = _dnsmasqPid;
            _dnsmasq = null;
            _dnsmasqPid = null;
            Live = null;
        }
        try
        {
            // dnsmasq, the bridge and the rules go at the same time: nothing orders them, and the
            // kernel takes tens of milliseconds to unregister a bridge.
            var dnsmasqGone = StopDnsmasqAsync(pid, watch, ct);
            var bridgeGone = live.ManagedBridge ? Task.Run(() => Step(() => Links.DeleteBridgeAsync(live.BridgeName!, ct)), ct) : Task.CompletedTask;
            await Step(async () => await _mgr.RefreshFirewallAsync(ct, removing: Name));
            await bridgeGone;
            await dnsmasqGone;
            _mgr.ForwardingNeeded(live, false);
            foreach (var ext in new[] { ".xml", ".conf", ".hostsfile", ".addnhosts", ".pid" })
                File.Delete(RunFile(ext));
        }
        finally
        {
            lock (_state) _stopping = false;
        }
    }

    private static async Task StopDnsmasqAsync(int? pid, ProcessWatch? watch, CancellationToken ct)
    {
        if (pid is not { } p) return;
        ProcessWatch.Signal(p, 15);
        if (watch is not null && await Task.WhenAny(watch.Exited, Task.Delay(2000, ct)) != watch.Exited)
        {
            ProcessWatch.Signal(p, 9);
            await watch.Exited;
        }
    }

    private async Task Step(Func<Task> step)
    {
        try { await step(); }
        catch (Exception e) { Log.NetworkCleanupFailed(_log, e, Name); }
    }

    /// <summary>Takes over a network an earlier daemon started: its dnsmasq (restarted if gone), its bridge.</summary>
    internal async Task<bool> AdoptAsync(NetworkStatus st, CancellationToken ct)
    {
        var live = st.Live;
        if (st.Starting || (live.ManagedBridge && !Links.Exists(live.BridgeName!)))
        {
            // Half-started, or its bridge was removed behind our back: clean up what is left.
            lock (_state) Live = null;
            await TearDownAsync(live, ct);
            return false;
        }
        lock (_state) Live = live;
        if (st.DnsmasqPid is { } pid && ProcessWatch.StartTime(pid) == st.DnsmasqStart && ProcessWatch.Start(pid, ownChild: false) is { } watch)
        {
            lock (_state)
            {
                _dnsmasq = watch;
                _dnsmasqPid = pid;
                _dnsmasqStart = st.DnsmasqStart;
            }
            _ = SuperviseAsync(watch, live);
        }
        else if (live.ManagedBridge && live.Ips.Count > 0)
        {
            SpawnDnsmasq(live);
            SaveStatus(live, starting: false);
        }
        Log.NetworkAdopted(_log, Name, DnsmasqPid);
        return true;
    }

    /// <summary>net-update: a section's entry given as XML; live and config both false mean the running network if it runs, else the definition.</summary>
    public Task UpdateAsync(string command, string section, string xml, bool live, bool config, CancellationToken ct = default)
    {
        if (section != "ip-dhcp-host")
            throw new VireoException(ErrorCode.InvalidArgument, $"net-update section '{section}' is not supported; Vireo updates ip-dhcp-host entries live.");
        DhcpHostDef host;
        try { host = NetworkXml.ParseHost(xml); }
        catch (DefinitionException e) { throw VireoException.Invalid(e); }
        if (!live && !config) (live, config) = (IsActive, !IsActive); // --current
        return UpdateHostAsync(command, host, live, config, ct);
    }

    /// <summary>net-update ip-dhcp-host: add, delete or modify one static host, live (dnsmasq re-reads its hosts file) and/or in the definition.</summary>
    public async Task UpdateHostAsync(string command, DhcpHostDef host, bool live, bool config, CancellationToken ct = default)
    {
        await _op.WaitAsync(ct);
        try
        {
            if (live && Live is null) throw new VireoException(ErrorCode.InvalidOperation, $"Network '{Name}' is not active; use --config to change its definition only.");
            if (config && !Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Network '{Name}' is transient; it has no definition to change (use --live).");
            NetworkDef? newLive = live ? Apply(Live!, command, host) : null;
            NetworkDef? newDef = config ? Apply(Def, command, host) : null;
            if (newDef is not null) _mgr.Save(newDef);
            if (newDef is not null) Def = newDef;
            if (newLive is not null)
            {
                lock (_state) Live = newLive;
                AtomicFile.Write(Files.HostsFile, Dnsmasq.HostsFile(newLive), world: true);
                if (DnsmasqPid is { } pid) ProcessWatch.Signal(pid, 1); // SIGHUP: re-read dhcp-hostsfile
                SaveStatus(newLive, starting: false);
            }
        }
        finally
        {
            _op.Release();
        }
        if (live) await _mgr.RefreshFirewallAsync(ct);
    }

    private static NetworkDef Apply(NetworkDef current, string command, DhcpHostDef host)
    {
        var n = current.Clone();
        var v6 = host.Ip?.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        var ip = (v6 ? n.Ips.FirstOrDefault(i => i.Family == "ipv6") : n.Ipv4)
            ?? throw new VireoException(ErrorCode.InvalidArgument, $"Network '{n.Name}' has no {(v6 ? "IPv6" : "IPv4")} <ip> to hold DHCP hosts.");
        bool Same(DhcpHostDef h) => host.Mac is not null ? h.Mac == host.Mac : host.Name is not null ? h.Name == host.Name : Equals(h.Ip, host.Ip);
        var existing = ip.Hosts.FindIndex(Same);
        switch (command)
        {
            case "add" or "add-last" or "add-first":
                if (existing >= 0) throw new VireoException(ErrorCode.InvalidOperation, $"Network '{n.Name}' already has a DHCP host for {host.Mac ?? host.Name ?? host.Ip?.ToString()}; use 'modify' to change it.");
                try { NetworkRules.ValidateHost(n, host); }
                catch (DefinitionException e) { throw new VireoException(ErrorCode.InvalidArgument, e.Message); }
                if (command == "add-first") ip.Hosts.Insert(0, host); else ip.Hosts.Add(host);
                break;
            case "delete":
                if (existing < 0) throw new VireoException(ErrorCode.NotFound, $"Network '{n.Name}' has no DHCP host for {host.Mac ?? host.Name ?? host.Ip?.ToString()}.");
                ip.Hosts.RemoveAt(existing);
                break;
            case "modify":
                if (existing < 0) throw new VireoException(ErrorCode.NotFound, $"Network '{n.Name}' has no DHCP host for {host.Mac ?? host.Name ?? host.Ip?.ToString()} to modify.");
                ip.Hosts.RemoveAt(existing);
                try { NetworkRules.ValidateHost(n, host); }
                catch (DefinitionException e) { throw new VireoException(ErrorCode.InvalidArgument, e.Message); }
                ip.Hosts.Insert(existing, host);
                break;
            default:
                throw new VireoException(ErrorCode.InvalidArgument, $"Unknown net-update command '{command}'; use add, add-first, add-last, delete or modify.");
        }
        return n;
    }

    /// <summary>net-dhcp-leases: the leases not yet expired (of one MAC when given), with the prefix of the range they came from.</summary>
    public IReadOnlyList<LeaseView> ActiveLeases(string? mac, DateTimeOffset now)
    {
        var def = Live ?? Def;
        return Leases()
            .Where(l => (mac is null || string.Equals(l.Mac, mac, StringComparison.OrdinalIgnoreCase)) && l.Expiry > now)
            .Select(l =>
            {
                var v6 = l.Ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
                var prefix = def.Ips.FirstOrDefault(i => i.Family == (v6 ? "ipv6" : "ipv4"))?.Prefix ?? (v6 ? 64 : 24);
                return new LeaseView(l.Expiry, l.Mac, l.Ip, v6, prefix, l.Hostname, l.ClientId);
            })
            .ToList();
    }

    public IReadOnlyList<DhcpLease> Leases()
    {
        try
        {
            var text = File.Exists(Files.Leases) ? File.ReadAllText(Files.Leases) : "";
            return Dnsmasq.ParseLeases(text);
        }
        catch (IOException) { return []; }
    }


    private void SaveStatus(NetworkDef live, bool starting)
    {
        int? pid;
        long start;
        lock (_state) { pid = _dnsmasqPid; start = _dnsmasqStart; }
        new NetworkStatus(live, starting, pid, start).Save(_o.NetworkStatusFile(Name));
    }
}

/// <summary>A DHCP lease as net-dhcp-leases shows it.</summary>
public sealed record LeaseView(DateTimeOffset Expiry, string Mac, System.Net.IPAddress Ip, bool V6, int Prefix, string? Hostname, string? ClientId);

/// <summary>What an active network leaves in the run dir: its live definition and its dnsmasq.</summary>
internal sealed record NetworkStatus(NetworkDef Live, bool Starting, int? DnsmasqPid, long DnsmasqStart)
{
    public void Save(string path)
    {
        var root = new XElement("networkstatus", new XAttribute("state", Starting ? "starting" : "active"),
            DnsmasqPid is { } p ? new XAttribute("dnsmasq-pid", p) : null,
            DnsmasqPid is not null ? new XAttribute("dnsmasq-starttime", DnsmasqStart) : null,
            XElement.Parse(NetworkXml.Write(Live)));
        AtomicFile.Write(path, DomainXml.ToText(root));
    }

    public static NetworkStatus? Load(string path)
    {
        try
        {
            var root = XElement.Parse(File.ReadAllText(path));
            return new NetworkStatus(NetworkXml.Parse(root.Element("network")!.ToString()), root.Attribute("state")?.Value == "starting",
                root.Attribute("dnsmasq-pid") is { } p ? int.Parse(p.Value, CultureInfo.InvariantCulture) : null,
                root.Attribute("dnsmasq-starttime") is { } s ? long.Parse(s.Value, CultureInfo.InvariantCulture) : 0);
        }
        catch (Exception e) when (e is IOException or System.Xml.XmlException or NullReferenceException or FormatException or DefinitionException)
        {
            return null;
        }
    }
}
