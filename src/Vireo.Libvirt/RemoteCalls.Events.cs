using Vireo.Engine;

namespace Vireo.Libvirt;

/// <summary>
/// Event registration and the event messages pushed to the client. Two ways, as libvirtd has
/// them: the older per-connection domain registration (DOMAIN_EVENT_REGISTER_ANY, messages
/// without a callback id), and callbacks (DOMAIN/NETWORK/STORAGE_POOL_EVENT_*REGISTER_ANY with
/// an optional object to filter on; each message carries the callback id the client was given).
/// The events are the engine's event bus, the same the REST API and the web console read.
/// </summary>
internal sealed partial class RemoteCalls
{
    private enum Family { Domain, Network, Pool }

    private sealed record Callback(int Id, Family Family, int EventId, Guid? Object);

    private readonly Lock _eventLock = new();
    private readonly HashSet<int> _oldStyle = [];
    private readonly List<Callback> _callbacks = [];
    private int _lastCallbackId;

    /// <summary>Called when the first event is registered: the connection starts sending events.</summary>
    public Action? EventsWanted { get; set; }

    // virDomainEventID values Vireo's engine has events for, with their messages: the older one
    // (null when libvirt has none) and the callback one.
    private static readonly Dictionary<int, (Proc? Old, Proc Callback)> DomainEvents = new()
    {
        [0] = (Proc.DomainEventLifecycle, Proc.DomainEventCallbackLifecycle),
        [1] = (Proc.DomainEventReboot, Proc.DomainEventCallbackReboot),
        [3] = (Proc.DomainEventWatchdog, Proc.DomainEventCallbackWatchdog),
        [10] = (Proc.DomainEventTrayChange, Proc.DomainEventCallbackTrayChange),
        [15] = (Proc.DomainEventDeviceRemoved, Proc.DomainEventCallbackDeviceRemoved),
        [19] = (null, Proc.DomainEventCallbackDeviceAdded),
        [8] = (Proc.DomainEventBlockJob, Proc.DomainEventCallbackBlockJob),
        [16] = (null, Proc.DomainEventBlockJob2),
    };

    private const string DomainEventNames = "lifecycle, reboot, watchdog, tray-change, device-removed, device-added and block-job";

    /// <summary>Registration calls; false when <paramref name="proc"/> is not one.</summary>
    private bool EventCall(Proc proc, XdrReader a, XdrWriter r)
    {
        switch (proc)
        {
            case Proc.ConnectDomainEventRegisterAny:
            {
                var id = a.Int();
                CheckDomainEvent(id, old: true);
                Register(() => _oldStyle.Add(id));
                return true;
            }
            case Proc.ConnectDomainEventDeregisterAny:
            {
                var id = a.Int();
                lock (_eventLock) _oldStyle.Remove(id);
                return true;
            }
            case Proc.ConnectDomainEventCallbackRegisterAny:
            {
                var id = a.Int();
                Guid? dom = a.Bool() ? Domain(a).Uuid : null;
                CheckDomainEvent(id, old: false);
                r.Int(AddCallback(Family.Domain, id, dom));
                return true;
            }
            case Proc.ConnectNetworkEventRegisterAny:
            {
                var id = a.Int();
                Guid? net = a.Bool() ? Network(a).Uuid : null;
                if (id != 0) throw new RpcError(VirErrorCode.InvalidArg, $"invalid argument: unsupported network event ID {id}; networks have lifecycle events (0)");
                r.Int(AddCallback(Family.Network, id, net));
                return true;
            }
            case Proc.ConnectStoragePoolEventRegisterAny:
            {
                var id = a.Int();
                Guid? pool = a.Bool() ? StoragePool(a).Uuid : null;
                if (id is not (0 or 1)) throw new RpcError(VirErrorCode.InvalidArg, $"invalid argument: unsupported storage pool event ID {id}; pools have lifecycle (0) and refresh (1) events");
                r.Int(AddCallback(Family.Pool, id, pool));
                return true;
            }
            case Proc.ConnectDomainEventCallbackDeregisterAny or Proc.ConnectNetworkEventDeregisterAny or Proc.ConnectStoragePoolEventDeregisterAny:
            {
                var id = a.Int();
                lock (_eventLock)
                    if (_callbacks.RemoveAll(c => c.Id == id) == 0)
                        throw new RpcError(VirErrorCode.InvalidArg, $"invalid argument: callback {id} not registered");
                return true;
            }
            default:
                return false;
        }
    }

    private static void CheckDomainEvent(int id, bool old)
    {
        if (!DomainEvents.TryGetValue(id, out var p) || old && p.Old is null)
            throw new RpcError(VirErrorCode.NoSupport, $"this function is not supported by the connection driver: domain event {id} (Vireo sends {DomainEventNames} events)");
    }

    private int AddCallback(Family family, int eventId, Guid? obj)
    {
        var id = 0;
        Register(() => _callbacks.Add(new Callback(id = ++_lastCallbackId, family, eventId, obj)));
        return id;
    }

    private void Register(Action add)
    {
        bool first;
        lock (_eventLock)
        {
            first = _oldStyle.Count == 0 && _callbacks.Count == 0;
            add();
        }
        if (first) EventsWanted?.Invoke();
    }

    /// <summary>An engine event as the messages the client registered for (none, one, or one per matching callback).</summary>
    public IReadOnlyList<(Proc Proc, XdrWriter Body)> EventMessages(DomainEvent e)
    {
        var family = e.Kind switch { "network" => Family.Network, "pool" or "pool-refresh" => Family.Pool, "snapshot" or "closed" => (Family?)null, _ => Family.Domain };
        if (family is null) return [];
        var bodies = family switch
        {
            Family.Network => NetworkEvent(e),
            Family.Pool => PoolEvent(e),
            _ => DomainEvent(e),
        };
        var list = new List<(Proc, XdrWriter)>();
        lock (_eventLock)
            foreach (var (eventId, body) in bodies)
            {
                if (family == Family.Domain && _oldStyle.Contains(eventId) && DomainEvents[eventId].Old is { } old)
                    list.Add((old, new XdrWriter().Raw(body.Bytes)));
                foreach (var c in _callbacks.Where(c => c.Family == family && c.EventId == eventId && (c.Object is null || c.Object == body.Uuid)))
                    list.Add((body.Callback, new XdrWriter().Int(c.Id).Raw(body.Bytes)));
            }
        return list;
    }

    /// <summary>What one engine event says, for every registration it goes to: the object's uuid, the message body after any callback id, and the callback message's procedure.</summary>
    private readonly record struct EventBody(Guid Uuid, byte[] Bytes, Proc Callback);

    private List<(int, EventBody)> DomainEvent(DomainEvent e)
    {
        var vm = hv.Find(e.Domain);
        XdrWriter Start()
        {
            var x = new XdrWriter();
            if (vm is not null) Dom(x, vm);
            else x.String(e.Domain).FixedOpaque(new byte[16]).Int(-1); // gone already (undefined)
            return x;
        }
        EventBody Body(int eventId, XdrWriter x) => new(vm?.Uuid ?? Guid.Empty, x.Memory.ToArray(), DomainEvents[eventId].Callback);
        var w = Start();
        int id;
        switch (e.Kind)
        {
            case "block-job":
            {
                // The engine's detail: "copy vda" or "active-commit vda". Event 8 names the disk by its
                // source path, event 16 (BLOCK_JOB_2) by its target.
                var (kind, target) = (e.Detail.Split(' ')[0], e.Detail.Split(' ').Last());
                var type = kind == "copy" ? JobCopy : JobActiveCommit;
                // virConnectDomainEventBlockJobStatus: COMPLETED 0, FAILED 1, CANCELED 2, READY 3.
                var status = e.Event switch { "Completed" => 0, "Failed" => 1, "Canceled" => 2, _ => 3 };
                var path = (vm?.Live ?? vm?.Def)?.Devices.Disks.FirstOrDefault(d => d.TargetDev == target)?.Source ?? target;
                return [(8, Body(8, w.String(path).Int(type).Int(status))), (16, Body(16, Start().String(target).Int(type).Int(status)))];
            }
            case "lifecycle" when Lifecycle(e.Event, e.Detail) is var (ev, detail):
                id = 0;
                w.Int(ev).Int(detail);
                break;
            case "reboot":
                id = 1;
                break;
            case "watchdog":
                id = 3;
                // virDomainEventWatchdogAction: none 0, pause 1, reset 2, poweroff 3, shutdown 4, debug 5, inject-nmi 6.
                w.Int(e.Event switch { "pause" => 1, "reset" => 2, "poweroff" => 3, "shutdown" => 4, "debug" => 5, "inject-nmi" => 6, _ => 0 });
                break;
            case "tray-change":
            {
                // The engine's detail reads as virsh prints it: "disk hdc: opened"; libvirt's message names the alias.
                id = 10;
                var colon = e.Detail.IndexOf(':');
                var target = e.Detail.StartsWith("disk ", StringComparison.Ordinal) && colon > 5 ? e.Detail[5..colon] : "";
                var alias = (vm?.Live ?? vm?.Def)?.Devices.Disks.FirstOrDefault(d => d.TargetDev == target)?.Alias ?? target;
                w.String(alias).Int(e.Detail.EndsWith("opened", StringComparison.Ordinal) ? 0 : 1); // VIR_DOMAIN_EVENT_TRAY_CHANGE_OPEN 0, CLOSE 1
                break;
            }
            case "device-removed":
                id = 15;
                w.String(e.Detail);
                break;
            case "device-added":
                id = 19;
                w.String(e.Detail);
                break;
            default:
                return [];
        }
        return [(id, Body(id, w))];
    }

    private List<(int, EventBody)> NetworkEvent(DomainEvent e)
    {
        // virNetworkEventLifecycleType: DEFINED 0, UNDEFINED 1, STARTED 2, STOPPED 3.
        int? ev = e.Event switch { "Defined" => 0, "Undefined" => 1, "Started" => 2, "Stopped" => 3, _ => null };
        if (ev is null) return [];
        var n = hv.Networks.All().FirstOrDefault(x => x.Name == e.Domain);
        var w = new XdrWriter();
        if (n is not null) Net(w, n); else w.String(e.Domain).FixedOpaque(new byte[16]);
        w.Int(ev.Value).Int(0);
        return [(0, new EventBody(n?.Uuid ?? Guid.Empty, w.Memory.ToArray(), Proc.NetworkEventLifecycle))];
    }

    private List<(int, EventBody)> PoolEvent(DomainEvent e)
    {
        var p = hv.Storage.All().FirstOrDefault(x => x.Name == e.Domain);
        var w = new XdrWriter();
        if (p is not null) Pool(w, p); else w.String(e.Domain).FixedOpaque(new byte[16]);
        if (e.Kind == "pool-refresh") return [(1, new EventBody(p?.Uuid ?? Guid.Empty, w.Memory.ToArray(), Proc.StoragePoolEventRefresh))];
        // virStoragePoolEventLifecycleType: DEFINED 0, UNDEFINED 1, STARTED 2, STOPPED 3, CREATED 4, DELETED 5.
        int? ev = e.Event switch { "Defined" => 0, "Undefined" => 1, "Started" => 2, "Stopped" => 3, "Created" => 4, "Deleted" => 5, _ => null };
        if (ev is null) return [];
        w.Int(ev.Value).Int(0);
        return [(0, new EventBody(p?.Uuid ?? Guid.Empty, w.Memory.ToArray(), Proc.StoragePoolEventLifecycle))];
    }

    /// <summary>virDomainEventType and its detail enum for Vireo's lifecycle event names.</summary>
    private static (int Event, int Detail)? Lifecycle(string ev, string detail) => ev switch
    {
        "Defined" => (0, detail switch { "Updated" => 1, "Renamed" => 2, "FromSnapshot" => 3, _ => 0 }),
        "Undefined" => (1, detail == "Renamed" ? 1 : 0),
        "Started" => (2, detail switch { "Migrated" => 1, "Restored" => 2, "FromSnapshot" => 3, "Wakeup" => 4, _ => 0 }),
        "Suspended" => (3, detail switch { "Migrated" => 1, "IOError" => 2, "Watchdog" => 3, "Restored" => 4, "FromSnapshot" => 5, "APIError" => 6, _ => 0 }),
        "Resumed" => (4, detail switch { "Migrated" => 1, "FromSnapshot" => 2, _ => 0 }),
        "Stopped" => (5, detail switch { "Destroyed" => 1, "Crashed" => 2, "Migrated" => 3, "Saved" => 4, "Failed" => 5, "FromSnapshot" => 6, _ => 0 }),
        "Shutdown" => (6, detail switch { "Guest" => 1, "Host" => 2, _ => 0 }),
        "Crashed" => (8, 0),
        _ => null,
    };
}
