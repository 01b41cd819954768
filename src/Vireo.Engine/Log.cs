using Microsoft.Extensions.Logging;

namespace Vireo.Engine;

/// <summary>The engine's log messages: source-generated, with stable event ids.</summary>
internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Information, "Started '{Domain}' (pid {Pid}) in {Total:0.0} ms: spawned {Spawned:0.0}, monitor ready {Ready:0.0}, running {Running:0.0}")]
    public static partial void Started(ILogger log, string domain, int pid, double total, double spawned, double ready, double running);

    [LoggerMessage(1002, LogLevel.Warning, "Start of '{Domain}' failed")]
    public static partial void StartFailed(ILogger log, Exception e, string domain);

    [LoggerMessage(1003, LogLevel.Information, "Domain '{Domain}' stopped ({Reason}, QEMU {Status})")]
    public static partial void Stopped(ILogger log, string domain, string reason, string status);

    [LoggerMessage(1004, LogLevel.Warning, "Cannot write the status file of '{Domain}'")]
    public static partial void StatusWriteFailed(ILogger log, Exception e, string domain);

    [LoggerMessage(1005, LogLevel.Debug, "Handling {Event} for '{Domain}' failed")]
    public static partial void EventFailed(ILogger log, Exception e, string @event, string domain);

    [LoggerMessage(1007, LogLevel.Information, "The guest of '{Domain}' has not released device '{Alias}' within {Seconds} s; it leaves the running domain when it does")]
    public static partial void DetachPending(ILogger log, string alias, string domain, double seconds);

    [LoggerMessage(1008, LogLevel.Warning, "Undoing a failed change of '{Subject}' left something behind")]
    public static partial void UndoFailed(ILogger log, Exception e, string subject);

    [LoggerMessage(1006, LogLevel.Warning, "Event loop of '{Domain}' failed")]
    public static partial void EventLoopFailed(ILogger log, Exception e, string domain);

    [LoggerMessage(2001, LogLevel.Information, "Reconnected to '{Domain}' (pid {Pid})")]
    public static partial void Reconnected(ILogger log, string domain, int pid);

    [LoggerMessage(2002, LogLevel.Information, "Domain '{Domain}' (pid {Pid}) ended while the daemon was away")]
    public static partial void EndedWhileAway(ILogger log, string domain, int pid);

    [LoggerMessage(2003, LogLevel.Warning, "Domain '{Domain}' (pid {Pid}) was caught half-started by a daemon exit; stopping it")]
    public static partial void HalfStarted(ILogger log, string domain, int pid);

    [LoggerMessage(2004, LogLevel.Error, "The monitor of '{Domain}' (pid {Pid}) does not answer; the guest keeps running, destroy works on it, and the monitor is taken back once QEMU answers")]
    public static partial void MonitorUnreachable(ILogger log, Exception? e, string domain, int pid);

    [LoggerMessage(2005, LogLevel.Error, "Reconnecting to '{Domain}' failed")]
    public static partial void ReconnectFailed(ILogger log, Exception e, string domain);

    [LoggerMessage(2006, LogLevel.Error, "The definition {File} is unreadable ({Error}); it was set aside as {Aside}")]
    public static partial void BadDefinition(ILogger log, string file, string error, string aside);

    [LoggerMessage(2009, LogLevel.Error, "The status file {File} is unreadable ({Error}); it was set aside as {Aside}")]
    public static partial void BadStatus(ILogger log, string file, string error, string aside);

    [LoggerMessage(2010, LogLevel.Warning, "Domain '{Domain}': its definition was rebuilt from the running guest's (the file was unreadable)")]
    public static partial void DefinitionRebuilt(ILogger log, string domain);

    [LoggerMessage(2011, LogLevel.Warning, "A QEMU of '{Domain}' (pid {Pid}) runs with no status file: a daemon exit caught it half-started; stopping it")]
    public static partial void Unrecorded(ILogger log, string domain, int pid);

    [LoggerMessage(2012, LogLevel.Warning, "Adopted '{Domain}' (pid {Pid}) by its pid file; its status file was lost, so its definition stands in for the live one")]
    public static partial void AdoptedByPidFile(ILogger log, string domain, int pid);

    [LoggerMessage(2013, LogLevel.Error, "A QEMU (pid {Pid}) runs for '{Domain}', a domain with neither a definition nor a readable status; it is left running: end it with kill {Pid}")]
    public static partial void Unknown(ILogger log, string domain, int pid);

    [LoggerMessage(2014, LogLevel.Warning, "Could not hand back the files '{Domain}' gave its QEMU user")]
    public static partial void UnconfineFailed(ILogger log, Exception e, string domain);

    [LoggerMessage(2007, LogLevel.Information, "Autostarted '{Domain}'")]
    public static partial void Autostarted(ILogger log, string domain);

    [LoggerMessage(2008, LogLevel.Error, "Autostart of '{Domain}' failed: {Error}")]
    public static partial void AutostartFailed(ILogger log, string domain, string error);

    [LoggerMessage(3001, LogLevel.Information, "Network '{Network}' started in {Ms:0.0} ms (bridge {Bridge})")]
    public static partial void NetworkStarted(ILogger log, string network, double ms, string? bridge);

    [LoggerMessage(3002, LogLevel.Information, "Network '{Network}' destroyed in {Ms:0.0} ms")]
    public static partial void NetworkDestroyed(ILogger log, string network, double ms);

    [LoggerMessage(3003, LogLevel.Warning, "dnsmasq of network '{Network}' exited ({Status}); restarting it in {Delay} s")]
    public static partial void DnsmasqDied(ILogger log, string network, string status, int delay);

    [LoggerMessage(3004, LogLevel.Information, "Adopted network '{Network}' (dnsmasq pid {Pid})")]
    public static partial void NetworkAdopted(ILogger log, string network, int? pid);

    [LoggerMessage(3005, LogLevel.Warning, "Firewall: {Message}")]
    public static partial void FirewallWarning(ILogger log, string message);

    [LoggerMessage(3006, LogLevel.Error, "Network cleanup step failed for '{Network}'")]
    public static partial void NetworkCleanupFailed(ILogger log, Exception e, string network);

    [LoggerMessage(3007, LogLevel.Error, "Firewall update failed")]
    public static partial void FirewallFailed(ILogger log, Exception e);

    [LoggerMessage(4001, LogLevel.Error, "Storage pool '{Pool}' could not be started: {Error}")]
    public static partial void PoolStartFailed(ILogger log, string pool, string error);

    [LoggerMessage(4002, LogLevel.Information, "Snapshot '{Snapshot}' of '{Domain}' {Action} in {Ms:0.0} ms")]
    public static partial void SnapshotDone(ILogger log, string domain, string snapshot, string action, double ms);

    [LoggerMessage(5001, LogLevel.Information, "Domain '{Domain}' finished its first run: {What}")]
    public static partial void FirstBootDone(ILogger log, string domain, string what);

    [LoggerMessage(5002, LogLevel.Error, "Domain '{Domain}': cleaning up after its first run failed")]
    public static partial void FirstBootFailed(ILogger log, Exception e, string domain);

    [LoggerMessage(5003, LogLevel.Warning, "Domain '{Domain}': its watchdog fired (action {Action})")]
    public static partial void Watchdog(ILogger log, string domain, string action);
}
