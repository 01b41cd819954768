using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>Hot-plug: attach-interface / detach-interface, live (QMP) and/or in the definition.</summary>
public sealed partial class Vm
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _deviceDeleted = new();

    public static TimeSpan DetachTimeout { get; set; } = TimeSpan.FromSeconds(15);

    public async Task<InterfaceDef> AttachInterfaceAsync(InterfaceDef nic, bool live, bool config, CancellationToken ct = default)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            if (live && !IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; use --config to add the interface to its definition.");
            if (config && !Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is transient; it has no definition to change (use --live).");
            nic.Mac ??= MacAddress.Generate();
            nic.Model ??= "virtio";
            foreach (var d in new[] { live ? Live : null, config ? Def : null }.OfType<DomainDef>())
                if (d.Devices.Interfaces.Any(i => i.Mac == nic.Mac))
                    throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' already has an interface with MAC {nic.Mac}.");
            if (live) await AttachLiveAsync(nic, ct);
            if (config)
            {
                var def = Def.Clone();
                var copy = Clone(nic);
                copy.TargetDev = null;
                copy.Alias = null;
                // The same slot as the live device when the definition has it free, so the guest
                // sees the NIC at the same place after a restart.
                if (copy.Address is not { Type: "pci" } || !PciAddresses.SlotFree(def, copy.Address)) copy.Address = null;
                def.Devices.Interfaces.Add(copy);
                _hv.Define(DomainXml.Write(def));
            }
            return nic;
        }
        finally
        {
            _opLock.Release();
        }
    }

    private async Task AttachLiveAsync(InterfaceDef nic, CancellationToken ct)
    {
        var qmp = Monitor();
        var live = Live!.Clone();
        if (live.Os.Machine?.Contains("q35", StringComparison.Ordinal) == true)
            throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is a q35 machine, whose root bus takes no hot-plugged devices; attach with --config and restart it.");
        var used = live.Devices.Interfaces.Select(i => i.Alias).ToHashSet();
        var n = 0;
        while (used.Contains($"net{n}")) n++;
        nic.Alias = $"net{n}";
        live.Devices.Interfaces.Add(nic);
        try { PciAddresses.Assign(live, addBuses: false); }
        catch (DefinitionException e) { throw new VireoException(ErrorCode.InvalidOperation, e.Message); }
        var slot = nic.Address!.Get("slot")!;

        using var res = new NicResources();
        // What a failed attach has made comes out again, the last first: netdev, fd, macvtap.
        await using var revert = new Reverter(e => Log.UndoFailed(_log, e, Name));
        try
        {
            var netdev = $"host{nic.Alias}";
            if (nic.Type == "user")
            {
                await qmp.ExecuteAsync("netdev_add", new JsonObject { ["type"] = "user", ["id"] = netdev }, ct);
            }
            else
            {
                revert.Add(() => Links.DeleteAsync(res.Macvtaps, CancellationToken.None));
                await _hv.Networks.PrepareNicAsync(Name, nic, res, ct);
                var fdName = $"fd-{nic.Alias}";
                await qmp.ExecuteWithFdAsync("getfd", new JsonObject { ["fdname"] = fdName }, res.Fds[nic.Alias], ct);
                revert.Add(() => QuietlyAsync(qmp, "closefd", new JsonObject { ["fdname"] = fdName })); // QEMU's netdev may have taken it
                var args = new JsonObject { ["type"] = "tap", ["id"] = netdev, ["fd"] = fdName };
                if (_hv.VhostNet && nic.Model == "virtio") args["vhost"] = true;
                await qmp.ExecuteAsync("netdev_add", args, ct);
            }
            revert.Add(() => QuietlyAsync(qmp, "netdev_del", new JsonObject { ["id"] = netdev }));
            await qmp.ExecuteAsync("device_add", new JsonObject
            {
                ["driver"] = nic.Model switch { "e1000" => "e1000", "e1000e" => "e1000e", "rtl8139" => "rtl8139", _ => "virtio-net-pci" },
                ["id"] = nic.Alias,
                ["netdev"] = netdev,
                ["mac"] = nic.Mac,
                ["bus"] = "pci.0",
                ["addr"] = slot,
            }, ct);
        }
        catch (Exception e) when (e is QmpErrorException or QmpDisconnectedException or TimeoutException)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot attach the interface to '{Name}': {e.Message}");
        }
        revert.Commit();
        lock (_state) Live = live;
        SaveStatus();
        if (nic.Type == "network" && nic.PortForwards.Count > 0) await _hv.Networks.RefreshFirewallAsync(ct);
        _bus.Publish(Name, "DeviceAdded", nic.Alias!, "device-added");
    }

    public async Task<InterfaceDef> DetachInterfaceAsync(string type, string? mac, bool live, bool config, CancellationToken ct = default)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            if (live && !IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; use --config to remove the interface from its definition.");
            if (config && !Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is transient; it has no definition to change (use --live).");
            InterfaceDef? found = null;
            foreach (var (d, where) in new[] { (live ? Live : null, "running domain"), (config ? Def : null, "definition") })
            {
                if (d is null) continue;
                var matches = d.Devices.Interfaces.Where(i => i.Type == type && (mac is null || string.Equals(i.Mac, mac, StringComparison.OrdinalIgnoreCase))).ToList();
                if (matches.Count == 0)
                    throw new VireoException(ErrorCode.NotFound, $"No interface of type '{type}'{(mac is null ? "" : $" with MAC {mac}")} in the {where} of '{Name}'.");
                if (matches.Count > 1)
                    throw new VireoException(ErrorCode.InvalidArgument, $"Domain '{Name}' has {matches.Count} interfaces of type '{type}'; name one with --mac.");
                found ??= matches[0];
            }
            if (live) await DetachLiveAsync(Live!.Devices.Interfaces.First(i => i.Mac == found!.Mac), ct);
            if (config)
            {
                var def = Def.Clone();
                def.Devices.Interfaces.RemoveAll(i => i.Mac == found!.Mac);
                _hv.Define(DomainXml.Write(def));
            }
            return found!;
        }
        finally
        {
            _opLock.Release();
        }
    }

    private Task DetachLiveAsync(InterfaceDef nic, CancellationToken ct) =>
        UnplugAsync(Monitor(), nic.Alias!, e => new VireoException(ErrorCode.OperationFailed, $"Cannot detach interface {nic.Mac} from '{Name}': {e.Message}"), ct);

    /// <summary>
    /// Hot-unplug as libvirt does it: device_del, then wait DetachTimeout for the guest to let go
    /// (ACPI or PCIe hot-plug; QEMU says DEVICE_DELETED), and then free what the device used.
    /// When the guest does not let go in time (still booting, paused, or without hot-plug
    /// support) the request stays pending in QEMU and the call still succeeds: the device leaves
    /// when the event comes (RemovalPending says so until then), and asking again asks again.
    /// </summary>
    private async Task UnplugAsync(QmpClient qmp, string alias, Func<QmpErrorException, VireoException> failed, CancellationToken ct)
    {
        if (_lateRemovals.ContainsKey(alias))
        {
            try { await qmp.ExecuteAsync("device_del", new JsonObject { ["id"] = alias }, ct); }
            catch (QmpErrorException) { } // "already in the process of unplug"
            return;
        }
        var deleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _deviceDeleted[alias] = deleted;
        try
        {
            await qmp.ExecuteAsync("device_del", new JsonObject { ["id"] = alias }, ct);
            try { await deleted.Task.WaitAsync(DetachTimeout, ct); }
            catch (TimeoutException)
            {
                _lateRemovals[alias] = true;
                _deviceDeleted.TryRemove(alias, out _);
                // The event may have come while this was being set up; if not, it finishes the removal.
                if (!deleted.Task.IsCompleted)
                {
                    Log.DetachPending(_log, alias, Name, DetachTimeout.TotalSeconds);
                    return;
                }
                _lateRemovals.TryRemove(alias, out _);
            }
        }
        // QEMU has no such device: it is gone already (released while no daemon listened).
        catch (QmpErrorException e) when (e.ErrorClass == "DeviceNotFound") { }
        catch (QmpErrorException e) { throw failed(e); }
        finally { _deviceDeleted.TryRemove(alias, out _); }
        await FinishRemovalAsync(qmp, alias);
    }

    /// <summary>Devices a detach asked the guest to release that it has not yet.</summary>
    private readonly ConcurrentDictionary<string, bool> _lateRemovals = new();

    /// <summary>True while the guest has not let go of a device a detach asked it to release.</summary>
    public bool RemovalPending(string? alias) => alias is not null && _lateRemovals.ContainsKey(alias);

    private void OnDeviceDeleted(QmpClient qmp, string? id)
    {
        if (id is null) return;
        if (_deviceDeleted.TryGetValue(id, out var waiter)) { waiter.TrySetResult(); return; }
        // Nobody waits: a detach that timed out, or one asked before the daemon restarted.
        _lateRemovals.TryRemove(id, out _);
        _ = FinishLateRemovalAsync(qmp, id);
    }

    private async Task FinishLateRemovalAsync(QmpClient qmp, string alias)
    {
        // Not on the event loop: the operation holding the lock may be waiting for an event.
        await _opLock.WaitAsync();
        try
        {
            bool sameRun;
            lock (_state) sameRun = ReferenceEquals(_qmp, qmp) && State != DomainState.Shutoff;
            if (sameRun) await FinishRemovalAsync(qmp, alias);
        }
        catch (Exception e) when (e is QmpDisconnectedException or QmpErrorException or TimeoutException or LinkException or FirewallException)
        {
            Log.EventFailed(_log, e, "DEVICE_DELETED", Name);
        }
        finally { _opLock.Release(); }
    }

    /// <summary>
    /// QEMU has let go of a disk or interface: free what it used (block nodes, netdev, macvtap,
    /// port forwards) and take it out of the running definition. Nothing when it is not there
    /// (already done), so the detach and the event may both call it.
    /// </summary>
    private async Task FinishRemovalAsync(QmpClient qmp, string alias)
    {
        var live = Live!.Clone();
        if (live.Devices.Disks.FirstOrDefault(x => x.Alias == alias) is { } disk)
        {
            try { await DeleteNodesAsync(qmp, alias, CancellationToken.None); }
            catch (QmpErrorException e) { Log.EventFailed(_log, e, "blockdev-del", Name); } // a node left behind is harmless
            live.Devices.Disks.Remove(disk);
            lock (_state) Live = live;
            SaveStatus();
            // A confined QEMU's file goes back to its owner once no disk of the guest uses it.
            if (disk.Source is { } file && disk.SourceProtocol is null && !live.Devices.Disks.Any(x => x.Source == file)) HandBack([file]);
        }
        else if (live.Devices.Interfaces.FirstOrDefault(i => i.Alias == alias) is { } nic)
        {
            try { await qmp.ExecuteAsync("netdev_del", new JsonObject { ["id"] = $"host{alias}" }, CancellationToken.None); }
            catch (QmpErrorException) { } // gone with the device already
            live.Devices.Interfaces.Remove(nic);
            lock (_state) Live = live;
            SaveStatus();
            if (NetworkManager.IsMacvtap(nic)) await Links.DeleteAsync([nic.TargetDev!], CancellationToken.None);
            if (nic.Type == "network" && nic.PortForwards.Count > 0) await _hv.Networks.RefreshFirewallAsync(CancellationToken.None);
        }
        else return;
        _bus.Publish(Name, "DeviceRemoved", alias, "device-removed");
    }

    /// <summary>
    /// After the daemon restarted: a disk or interface the running definition holds that QEMU no
    /// longer has (the guest let go of it while no daemon listened, or a detach was cut short)
    /// leaves the definition, as libvirt's reconnect does.
    /// </summary>
    internal async Task ReconcileDevicesAsync(QmpClient qmp, CancellationToken ct)
    {
        var list = await qmp.ExecuteAsync("qom-list", new JsonObject { ["path"] = "/machine/peripheral" }, AdoptTimeout, ct);
        var present = list?.AsArray().Select(x => x?["name"]?.GetValue<string>()).OfType<string>().ToHashSet() ?? [];
        var live = Live;
        if (live is null || present.Count == 0) return;
        var gone = live.Devices.Disks.Select(x => x.Alias).Concat(live.Devices.Interfaces.Select(i => i.Alias))
            .OfType<string>().Where(a => !present.Contains(a)).ToList();
        foreach (var alias in gone) await FinishRemovalAsync(qmp, alias);
    }

    /// <summary>An undo step on the monitor: QEMU refusing it (the thing is gone already) or gone itself is no failure of the undo.</summary>
    private static async Task QuietlyAsync(QmpClient qmp, string command, JsonObject args)
    {
        try { await qmp.ExecuteAsync(command, args, CancellationToken.None); }
        catch (Exception e) when (e is QmpErrorException or QmpDisconnectedException or TimeoutException) { }
    }

    private static InterfaceDef Clone(InterfaceDef n)
    {
        var d = new DomainDef { Name = "x", Type = "qemu" };
        d.Devices.Interfaces.Add(n);
        return DomainXml.Parse(DomainXml.Write(d)).Devices.Interfaces[0];
    }
}
