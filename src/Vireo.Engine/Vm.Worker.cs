using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

public sealed partial class Vm
{
    /// <summary>This VM's worker: handles QMP events in order, then the process exit.</summary>
    private async Task RunWorkerAsync(QmpClient qmp, ProcessWatch watch)
    {
        try
        {
            await foreach (var ev in qmp.Events.ReadAllAsync())
            {
                try
                {
                    await OnEventAsync(qmp, ev);
                }
                catch (Exception e) when (e is QmpDisconnectedException or QmpErrorException or TimeoutException)
                {
                    Log.EventFailed(_log, e, ev.Name, Name);
                }
            }
        }
        catch (Exception e)
        {
            Log.EventLoopFailed(_log, e, Name);
        }
        // The monitor is closed: QEMU is exiting (or the connection dropped; the pidfd decides).
        var status = await watch.Exited;
        await OnExitAsync(status);
    }

    private async Task OnEventAsync(QmpClient qmp, QmpEvent ev)
    {
        switch (ev.Name)
        {
            case "SHUTDOWN":
            {
                var guest = ev.Data?["guest"]?.GetValue<bool>() ?? false;
                var reason = ev.Data?["reason"]?.GetValue<string>() ?? "";
                bool restart;
                lock (_state)
                {
                    _guestReset = reason == "guest-reset";
                    _shutdownReason = reason switch
                    {
                        "guest-shutdown" or "guest-reset" => "shutdown",
                        "guest-panic" => "crashed",
                        _ => "destroyed",
                    };
                    restart = guest && (_fakeReboot || Def.OnPoweroff == "restart" && reason == "guest-shutdown");
                }
                if (restart)
                {
                    // QEMU paused instead of exiting (set-action shutdown=pause or -action shutdown=pause).
                    await qmp.ExecuteAsync("system_reset");
                    lock (_state)
                    {
                        _fakeReboot = false;
                        _shutdownReason = null;
                    }
                    if (Live?.OnPoweroff != "restart")
                        await qmp.ExecuteAsync("set-action", new JsonObject { ["shutdown"] = "poweroff" });
                    await qmp.ExecuteAsync("cont");
                    _bus.Publish(Name, "Rebooted", "", "reboot");
                }
                else if (guest)
                {
                    _bus.Publish(Name, "Shutdown", "Finished");
                }
                break;
            }
            case "STOP":
                string pr;
                lock (_state)
                {
                    // A shutdown or reboot in progress, or a preserved crash, pauses QEMU on purpose.
                    if (_shutdownReason is not null || _fakeReboot || State == DomainState.Crashed) break;
                    pr = _pauseReason ?? "unknown";
                }
                SetState(DomainState.Paused, pr, "Suspended", "Paused");
                break;
            case "RESUME":
                lock (_state) _pauseReason = null;
                SetState(DomainState.Running, "unpaused", "Resumed", "Unpaused");
                break;
            case "RESET":
                _bus.Publish(Name, "Rebooted", "", "reboot");
                break;
            case "BLOCK_JOB_READY":
                // A copy reached its mirroring phase (blockjob --pivot or --finish may end it now).
                if (_copies.Values.FirstOrDefault(c => c.Id == ev.Data?["device"]?.GetValue<string>()) is { } copy)
                    PublishBlockJob("Ready", "copy", copy.Target);
                break;
            case "DEVICE_DELETED":
                OnDeviceDeleted(qmp, ev.Data?["device"]?.GetValue<string>());
                break;
            case "WATCHDOG":
            {
                // The guest stopped feeding its watchdog; QEMU carries out the action (-action watchdog=).
                var action = ev.Data?["action"]?.GetValue<string>() ?? "none";
                if (action == "pause") lock (_state) _pauseReason = "watchdog";
                Log.Watchdog(_log, Name, action);
                _bus.Publish(Name, action, "", "watchdog");
                break;
            }
            case "GUEST_PANICKED":
                if (Def.OnCrash == "preserve")
                    SetState(DomainState.Crashed, "panicked", "Crashed", "Panicked");
                break;
        }
    }

    /// <summary>
    /// QEMU has exited: everything of that run is cleaned up first (helpers, run files, cgroups,
    /// macvtaps, the first-boot record) and only then is the domain shut off and the stop
    /// published — a start let in earlier would have had its new files deleted under it.
    /// </summary>
    private async Task OnExitAsync(int? status)
    {
        string reason, detail;
        bool transient, guestReset;
        DomainDef? live;
        _lateRemovals.Clear(); // a detach the guest never finished ends with its QEMU
        lock (_state)
        {
            live = Live;
            reason = _expectedStop ?? _shutdownReason ?? "crashed";
            // A guest panic (QEMU told us) is "Crashed"; QEMU dying under us is "Failed".
            detail = reason switch { "destroyed" => "Destroyed", "shutdown" => "Shutdown", "saved" => "Saved", "from snapshot" => "FromSnapshot", _ => _shutdownReason == "crashed" ? "Crashed" : "Failed" };
            transient = !Persistent;
            guestReset = _guestReset && reason == "shutdown";
            _console?.Dispose();
            _console = null;
            // Reaped: its number may be another process's from now on, so nothing signals it again.
            Pid = null;
        }
        Log.Stopped(_log, Name, reason, ProcessWatch.Describe(status));
        StopHelpers();
        CleanupRunFiles();
        Unconfine();
        if (transient && !KeepTpmState) RemoveTpmState();
        if (live is not null)
        {
            RemoveCgroups(live);
            await _hv.Networks.ReleaseLinksAsync(live);
        }
        lock (_state)
        {
            _qmp = null;
            _watch = null;
            Live = null;
            Id = null;
            State = DomainState.Shutoff;
            Reason = reason;
            _guestReset = false;
            _runUser = null;
        }
        // Before anyone hears of the stop: a start right after it must see the final definition.
        // Not when the state was saved (managedsave, a revert): that first run goes on later.
        // After the state: the seed it deletes is a volume no running guest may hold.
        var restart = !transient && live is not null && reason is not ("saved" or "from snapshot") && FinishFirstBoot(live, guestReset);
        // Port forwards are made from the guests that run: this one no longer does.
        if (live is not null) _ = _hv.Networks.RefreshForwardsAfterStopAsync(live);
        _bus.Publish(Name, "Stopped", detail);
        _stopped.TrySetResult();
        if (transient) _hv.Forget(this);
        if (restart) _ = RestartAfterInstallAsync();
    }
}
