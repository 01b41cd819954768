using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>
/// Every network this daemon knows, the firewall they share, ip_forward, and the host side of
/// guest NICs (taps and macvtaps).
/// </summary>
public sealed class NetworkManager
{
    private readonly EngineOptions _o;
    private readonly ILoggerFactory _logs;
    private readonly ILogger _log;
    private readonly Hypervisor _hv;
    private readonly ConcurrentDictionary<string, VirtualNetwork> _nets = new(StringComparer.Ordinal);
    private readonly Lock _defineLock = new();
    private readonly SemaphoreSlim _fwLock = new(1, 1);
    private readonly Lock _linkLock = new();
    private ForwardingSwitch? _ipv4, _ipv6;
    private FileSystemWatcher? _leaseWatch;
    private string _lastLeaseKey = "";

    public EventBus Events { get; }
    internal TimeProvider Time => _o.Time;
    /// <summary>The run dir held network status when the daemon started (something may need cleaning up).</summary>
    internal bool HadActiveState { get; private set; }

    internal NetworkManager(EngineOptions o, ILoggerFactory logs, EventBus events, Hypervisor hv)
    {
        _o = o;
        _logs = logs;
        _log = logs.CreateLogger("Vireo.Network");
        Events = events;
        _hv = hv;
    }

    /// <summary>Loads definitions and adopts networks an earlier daemon left active.</summary>
    internal async Task LoadAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(_o.NetworkConfigDir);
        Directory.CreateDirectory(_o.NetworkAutostartDir);
        Directory.CreateDirectory(_o.NetworkRunDir);
        // dnsmasq drops root for "nobody" and re-reads its host files as that user.
        File.SetUnixFileMode(_o.NetworkRunDir, (UnixFileMode)0x1ed /* 0755 */);
        foreach (var file in Directory.EnumerateFiles(_o.NetworkConfigDir, "*.xml"))
        {
            try
            {
                var def = NetworkXml.Parse(await File.ReadAllTextAsync(file, ct));
                _nets[def.Name] = New(def, persistent: true, File.Exists(_o.NetworkAutostartLink(def.Name)));
            }
            catch (DefinitionException e)
            {
                Log.BadDefinition(_log, file, e.Message, DefinitionFiles.SetAside(file));
            }
        }
        _ipv4 = new ForwardingSwitch("net.ipv4.ip_forward", Path.Combine(_o.NetworkRunDir, "ip_forward.saved"));
        _ipv6 = new ForwardingSwitch("net.ipv6.conf.all.forwarding", Path.Combine(_o.NetworkRunDir, "ipv6_forwarding.saved"));
        foreach (var file in Directory.EnumerateFiles(_o.NetworkRunDir, "*.xml"))
        {
            HadActiveState = true;
            if (NetworkStatus.Load(file) is not { } st) continue;
            var name = st.Live.Name;
            if (!_nets.TryGetValue(name, out var net))
                _nets[name] = net = New(st.Live, persistent: false, autostart: false);
            if (await net.AdoptAsync(st, ct))
            {
                if (Forwards(st.Live)) _ipv4.Adopt(name);
                if (Forwards(st.Live) && st.Live.Ips.Any(i => i.Family == "ipv6")) _ipv6.Adopt(name);
            }
            else if (!net.Persistent) _nets.TryRemove(name, out _);
        }
        WatchLeases();
    }

    /// <summary>Starts autostart networks (after guests are adopted, before they autostart).</summary>
    internal async Task AutostartAsync(CancellationToken ct)
    {
        foreach (var n in _nets.Values.Where(n => n.Autostart && !n.IsActive))
        {
            try { await n.StartAsync(ct); }
            catch (VireoException e) { Log.AutostartFailed(_log, n.Name, e.Message); }
        }
    }

    private VirtualNetwork New(NetworkDef def, bool persistent, bool autostart) =>
        new(this, def, persistent, autostart, _o, _logs.CreateLogger("Vireo.Network"));

    internal void Forget(VirtualNetwork n)
    {
        if (!n.Persistent) ((ICollection<KeyValuePair<string, VirtualNetwork>>)_nets).Remove(new(n.Name, n));
    }

    public IReadOnlyList<VirtualNetwork> All() => _nets.Values.OrderBy(n => n.Name, StringComparer.Ordinal).ToList();

    public VirtualNetwork Get(string nameOrUuid)
    {
        if (_nets.TryGetValue(nameOrUuid, out var n)) return n;
        if (Guid.TryParse(nameOrUuid, out var uuid) && _nets.Values.FirstOrDefault(x => x.Uuid == uuid) is { } byUuid) return byUuid;
        throw new VireoException(ErrorCode.NotFound, $"Network not found: no network with matching name '{nameOrUuid}'.");
    }

    public (VirtualNetwork Network, bool Created) Define(string xml)
    {
        lock (_defineLock)
        {
            NetworkDef def;
            bool uuidGiven;
            try
            {
                def = NetworkXml.Parse(xml);
                uuidGiven = def.Uuid != Guid.Empty;
                var name = def.Name;
                var others = _nets.Values.Where(n => n.Name != name).Select(n => n.Live ?? n.Def).ToList();
                NetworkRules.Complete(def, others, _nets.TryGetValue(name, out var prev) ? prev.Def : null);
            }
            catch (DefinitionException e)
            {
                throw VireoException.Invalid(e);
            }
            var sameUuid = _nets.Values.FirstOrDefault(n => n.Uuid == def.Uuid && n.Name != def.Name);
            if (sameUuid is not null)
                throw new VireoException(ErrorCode.InvalidOperation, $"Network '{sameUuid.Name}' already has uuid {def.Uuid}; remove the <uuid> to get a new one, or use that name.");
            if (_nets.TryGetValue(def.Name, out var existing))
            {
                if (uuidGiven && def.Uuid != existing.Uuid)
                    throw new VireoException(ErrorCode.InvalidOperation, $"Network '{def.Name}' already exists with uuid {existing.Uuid}; undefine it first or use another name.");
                def.Uuid = existing.Uuid;
                Save(def);
                existing.ReplaceDefinition(def);
                Events.Publish(def.Name, "Defined", "Updated", "network");
                return (existing, false);
            }
            Save(def);
            var net = New(def, persistent: true, autostart: false);
            _nets[def.Name] = net;
            Events.Publish(def.Name, "Defined", "Added", "network");
            return (net, true);
        }
    }

    internal void Save(NetworkDef def) => DefinitionFiles.Save(_o.NetworkConfigFile(def.Name), NetworkXml.Write(def), $"network '{def.Name}'");

    public void Undefine(string name)
    {
        lock (_defineLock)
        {
            var n = Get(name);
            if (!n.Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Network '{n.Name}' is transient; it disappears when destroyed.");
            File.Delete(_o.NetworkConfigFile(n.Name));
            File.Delete(_o.NetworkAutostartLink(n.Name));
            n.SetAutostartFlag(false);
            if (n.IsActive) n.MakeTransient();
            else _nets.TryRemove(n.Name, out _);
            Events.Publish(n.Name, "Undefined", "", "network");
        }
    }

    public void SetAutostart(string name, bool on)
    {
        var n = Get(name);
        if (!n.Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Network '{n.Name}' is transient; define it before marking it autostart.");
        DefinitionFiles.SetAutostart(_o.NetworkAutostartLink(n.Name), _o.NetworkConfigFile(n.Name), on);
        n.SetAutostartFlag(on);
    }

    // ---- ip_forward (and IPv6 forwarding): on while a NAT, routed or open network is active.

    private static bool Forwards(NetworkDef n) => n.Mode is "nat" or "route" or "open";

    internal void ForwardingNeeded(NetworkDef n, bool on)
    {
        if (!Forwards(n)) return;
        _ipv4!.Need(n.Name, on);
        if (n.Ips.Any(i => i.Family == "ipv6")) _ipv6!.Need(n.Name, on);
    }

    // ---- Firewall

    // Networks whose guard rules in other tables are in place (or found unneeded) since their
    // start; null until the ruleset has been read once by this daemon (after a restart it
    // cannot know what an earlier one inserted).
    private HashSet<string>? _guardChecked;
    // Whether Vireo's table may be in the ruleset (unknown, so true, until the first read).
    private bool _tableMayExist = true;

    /// <summary>
    /// Rewrites Vireo's table from what is active now, and guards newly started bridges in
    /// other tables' dropping chains (removing the guard of a network that stops). One nft
    /// transaction; the ruleset is read only when guard rules may have to be added or removed.
    /// Returns warnings for the user.
    /// </summary>
    public async Task<IReadOnlyList<string>> RefreshFirewallAsync(CancellationToken ct = default, string? removing = null)
    {
        await _fwLock.WaitAsync(ct);
        try
        {
            var active = _nets.Values.Select(n => n.Live).OfType<NetworkDef>().ToList();
            var table = _o.FirewallTable;
            var forwards = PortForwards();
            var forwardsExist = forwards.Count > 0;
            var tableMayExist = _tableMayExist;
            var script = Firewall.Render(table, active, forwards);
            var warnings = new List<string>();
            var guardable = active.Where(n => n.ManagedBridge && n.Mode != "isolated").ToList();
            var unchecked_ = guardable.Where(n => _guardChecked is null || !_guardChecked.Contains(n.Name)).ToList();
            var checkedNow = _guardChecked ?? [];
            if (_guardChecked is null || unchecked_.Count > 0 || removing is not null && _guardChecked.Contains(removing))
            {
                var ruleset = await Nft.RulesetAsync(ct);
                tableMayExist = ruleset.Any(x => x?["table"] is System.Text.Json.Nodes.JsonObject t && t["family"]?.GetValue<string>() == "inet" && t["name"]?.GetValue<string>() == table);
                var own = FirewallGuard.OwnRules(ruleset, null);
                // Guard rules of networks that are not active (this one stopping, or ones an
                // earlier daemon left behind) go in the same transaction.
                var stale = own.Where(r => !guardable.Any(n => r.Comment == FirewallGuard.Prefix + n.Name)).ToList();
                script = FirewallGuard.DeleteScript(stale) + script;
                var dropping = FirewallGuard.DroppingChains(ruleset, table);
                foreach (var net in unchecked_)
                {
                    foreach (var c in dropping)
                    {
                        if (c.Owned)
                        {
                            warnings.Add($"Table {c.Family} {c.Table} has a forward chain '{c.Name}' with {c.Why} and belongs to another program (owner flag); Vireo cannot add accept rules there, so guests on '{net.Name}' ({net.BridgeName}) may not reach beyond the host. Allow {net.BridgeName} in that program's configuration.");
                            continue;
                        }
                        if (!own.Any(r => r.Comment == FirewallGuard.Prefix + net.Name && r.Family == c.Family && r.Table == c.Table && r.Chain == c.Name))
                            script += FirewallGuard.InsertScript([c], net.Name, net.BridgeName!);
                    }
                    checkedNow.Add(net.Name);
                    if (LegacyIptablesFilter())
                        warnings.Add("The legacy iptables 'filter' table is loaded (x_tables, not nftables); Vireo cannot read or change it. If its FORWARD policy is DROP, allow the network's bridge there (iptables -I FORWARD -i BRIDGE -j ACCEPT; iptables -I FORWARD -o BRIDGE -j ACCEPT) or move that firewall to nftables.");
                }
            }
            checkedNow.IntersectWith(guardable.Select(n => n.Name));
            // Nothing active, nothing of ours in the ruleset: leave the host's nftables alone.
            if (active.Count > 0 || forwardsExist || tableMayExist || script.Contains("delete rule", StringComparison.Ordinal))
                await Nft.ApplyAsync(script, ct);
            _tableMayExist = active.Count > 0 || forwardsExist;
            _guardChecked = checkedNow;
            foreach (var w in warnings) Log.FirewallWarning(_log, w);
            return warnings;
        }
        finally
        {
            _fwLock.Release();
        }
    }

    /// <summary>True when the x_tables (iptables-legacy) filter table exists in this namespace.</summary>
    private static bool LegacyIptablesFilter()
    {
        try { return File.ReadAllLines("/proc/net/ip_tables_names").Contains("filter"); }
        catch (IOException) { return false; }
    }

    /// <summary>Port forwards of running guests' NICs on NAT networks, with the guest address from a static host entry or the current lease.</summary>
    public List<PortForward> PortForwards()
    {
        var list = new List<PortForward>();
        foreach (var vm in _hv.All())
        {
            var live = vm.Live;
            if (live is null) continue;
            foreach (var nic in live.Devices.Interfaces.Where(i => i.Type == "network" && i.PortForwards.Count > 0))
            {
                if (!_nets.TryGetValue(nic.SourceNetwork ?? "", out var net) || net.Live is not { Mode: "nat" } nl) continue;
                var guestIp = nl.Ipv4?.Hosts.FirstOrDefault(h => h.Mac == nic.Mac)?.Ip
                    ?? net.Leases().Where(l => l.Mac == nic.Mac && l.Ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                        .OrderByDescending(l => l.Expiry).FirstOrDefault()?.Ip;
                foreach (var pf in nic.PortForwards)
                    foreach (var r in pf.Ranges)
                        list.Add(new PortForward(vm.Name, net.Name, nl.BridgeName!, pf.Proto,
                            pf.Address is null ? null : IPAddress.Parse(pf.Address), r.Start, r.End ?? r.Start, guestIp, r.GuestStart));
            }
        }
        return list;
    }

    /// <summary>Refreshes port forwards when a lease changes (a guest without a static address got or changed one).</summary>
    private void WatchLeases()
    {
        _leaseWatch = new FileSystemWatcher(_o.NetworkRunDir, "*.leases") { NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName };
        _leaseWatch.Changed += (_, _) => _ = OnLeasesChangedAsync();
        _leaseWatch.Created += (_, _) => _ = OnLeasesChangedAsync();
        _leaseWatch.EnableRaisingEvents = true;
    }

    private async Task OnLeasesChangedAsync()
    {
        try
        {
            var key = string.Join(";", PortForwards().Select(f => $"{f.Domain}/{f.GuestIp}/{f.HostPorts}"));
            if (key == _lastLeaseKey) return;
            _lastLeaseKey = key;
            await RefreshFirewallAsync();
        }
        catch (Exception e)
        {
            Log.FirewallFailed(_log, e);
        }
    }

    // ---- Guest NICs

    /// <summary>Taps of running guests' NICs on a network.</summary>
    internal IEnumerable<string> TapsOf(string network) =>
        _hv.All().Select(v => v.Live).OfType<DomainDef>()
            .SelectMany(d => d.Devices.Interfaces)
            .Where(i => i.Type == "network" && i.SourceNetwork == network && i.TargetDev is not null && !IsMacvtap(i))
            .Select(i => i.TargetDev!);

    /// <summary>
    /// Makes the host side of every tap-backed NIC of a starting guest: taps on bridges,
    /// macvtaps on devices. Fills each NIC's target dev; the caller hands the fds to QEMU and
    /// then disposes the result (QEMU holds the taps open from then on).
    /// </summary>
    public async Task<NicResources> PrepareNicsAsync(DomainDef live, CancellationToken ct = default)
    {
        var res = new NicResources();
        try
        {
            foreach (var nic in live.Devices.Interfaces.Where(i => i.Type != "user"))
                await PrepareNicAsync(live.Name, nic, res, ct);
            return res;
        }
        catch
        {
            res.Dispose();
            await Links.DeleteAsync(res.Macvtaps, CancellationToken.None);
            throw;
        }
    }

    internal async Task PrepareNicAsync(string domain, InterfaceDef nic, NicResources res, CancellationToken ct)
    {
        var (kind, target, mode) = Resolve(domain, nic);
        if (kind == "tap")
        {
            var template = nic.TargetDev is { } t && !t.StartsWith("vnet", StringComparison.Ordinal) && !t.StartsWith(MacvtapPrefix, StringComparison.Ordinal) ? t : "vnet%d";
            var (fd, name) = Links.CreateTap(template);
            res.Handles.Add(fd);
            res.Fds[nic.Alias!] = (int)fd.DangerousGetHandle();
            try
            {
                Links.SetMac(name, "fe" + nic.Mac![2..]);
                Links.SetMtu(name, Links.GetMtu(target));
                Links.AddToBridge(target, name);
                Links.SetUp(name);
            }
            catch (LinkException e)
            {
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot set up tap '{name}' for interface {nic.Mac} on bridge '{target}': {e.Message}");
            }
            nic.TargetDev = name;
        }
        else
        {
            string name;
            lock (_linkLock) name = Links.FreeName(MacvtapPrefix);
            try
            {
                await Links.BatchAsync([
                    $"link add link {target} name {name} address {nic.Mac} type macvtap mode {mode}",
                    $"link set dev {name} up"], ct);
            }
            catch (LinkException e)
            {
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot create macvtap on '{target}' (mode {mode}) for interface {nic.Mac}: {e.Message}");
            }
            res.Macvtaps.Add(name);
            try
            {
                var fd = Links.OpenMacvtap(name, Path.Combine(_o.RunDir, "dev"));
                res.Handles.Add(fd);
                res.Fds[nic.Alias!] = (int)fd.DangerousGetHandle();
            }
            catch (LinkException e)
            {
                throw new VireoException(ErrorCode.OperationFailed, e.Message);
            }
            nic.TargetDev = name;
        }
    }

    /// <summary>Where a NIC plugs in: ("tap", bridge, null) or ("macvtap", device, mode).</summary>
    private (string Kind, string Target, string? Mode) Resolve(string domain, InterfaceDef nic)
    {
        switch (nic.Type)
        {
            case "network":
            {
                var netName = nic.SourceNetwork ?? throw new VireoException(ErrorCode.InvalidArgument, $"Interface {nic.Mac} of '{domain}' needs <source network='NAME'/>.");
                if (!_nets.TryGetValue(netName, out var net))
                    throw new VireoException(ErrorCode.NotFound, $"Interface {nic.Mac} of '{domain}' uses network '{netName}', which is not defined; see net-list --all.");
                var live = net.Live ?? throw new VireoException(ErrorCode.InvalidOperation, $"Network '{netName}' is not active; start it with net-start {netName}.");
                if (live.MacvtapPool)
                {
                    var dev = live.Forward!.Interfaces.FirstOrDefault(Links.Exists)
                        ?? throw new VireoException(ErrorCode.OperationFailed, $"None of the devices of network '{netName}' ({string.Join(", ", live.Forward.Interfaces)}) exists.");
                    return ("macvtap", dev, "bridge");
                }
                return ("tap", live.BridgeName!, null);
            }
            case "bridge":
            {
                var br = nic.SourceBridge ?? throw new VireoException(ErrorCode.InvalidArgument, $"Interface {nic.Mac} of '{domain}' needs <source bridge='NAME'/>.");
                if (!Links.Exists(br)) throw new VireoException(ErrorCode.InvalidOperation, $"Bridge '{br}' of interface {nic.Mac} does not exist on the host; create it (vireo iface-bridge NIC {br}) or fix <source bridge>.");
                if (!Links.IsBridge(br)) throw new VireoException(ErrorCode.InvalidOperation, $"'{br}' (interface {nic.Mac}) is not a bridge; use <interface type='direct'> to attach to a NIC.");
                return ("tap", br, null);
            }
            case "direct":
            {
                var dev = nic.SourceDev ?? throw new VireoException(ErrorCode.InvalidArgument, $"Interface {nic.Mac} of '{domain}' needs <source dev='NIC' mode='bridge'/>.");
                if (!Links.Exists(dev)) throw new VireoException(ErrorCode.InvalidOperation, $"Device '{dev}' of interface {nic.Mac} does not exist on the host; fix <source dev>.");
                var mode = nic.SourceMode ?? "vepa";
                return ("macvtap", dev, mode == "passthrough" ? "passthru" : mode);
            }
            default:
                throw new VireoException(ErrorCode.InvalidArgument, $"Interface type '{nic.Type}' has no host side.");
        }
    }

    /// <summary>Removes what a stopped guest's NICs left: macvtaps (taps go with QEMU's last fd).</summary>
    public async Task ReleaseNicsAsync(DomainDef live)
    {
        await ReleaseLinksAsync(live);
        await RefreshForwardsAfterStopAsync(live);
    }

    /// <summary>Deletes the macvtaps a run of <paramref name="live"/> made (taps go with QEMU's fds).</summary>
    public async Task ReleaseLinksAsync(DomainDef live)
    {
        var macvtaps = live.Devices.Interfaces.Where(IsMacvtap).Select(i => i.TargetDev!).ToList();
        try { await Links.DeleteAsync(macvtaps, CancellationToken.None); }
        catch (Exception e) { Log.NetworkCleanupFailed(_log, e, live.Name); }
    }

    /// <summary>Rewrites the port forwards once a guest that had some no longer runs.</summary>
    public async Task RefreshForwardsAfterStopAsync(DomainDef live)
    {
        if (live.Devices.Interfaces.Any(i => i.PortForwards.Count > 0 && i.Type == "network"))
        {
            try { await RefreshFirewallAsync(); }
            catch (Exception e) { Log.FirewallFailed(_log, e); }
        }
    }

    /// <summary>Vireo names every macvtap it makes macvtapN (and never gives a tap that prefix).</summary>
    internal static bool IsMacvtap(InterfaceDef i) => i.TargetDev?.StartsWith(MacvtapPrefix, StringComparison.Ordinal) == true;

    private const string MacvtapPrefix = "macvtap";
}

/// <summary>Open tap/macvtap fds for one QEMU launch, by NIC alias; disposed once QEMU has its copies.</summary>
public sealed class NicResources : IDisposable
{
    public Dictionary<string, int> Fds { get; } = [];
    public List<SafeFileHandle> Handles { get; } = [];
    public List<string> Macvtaps { get; } = [];

    public void Dispose()
    {
        foreach (var h in Handles) h.Dispose();
        Handles.Clear();
    }
}
