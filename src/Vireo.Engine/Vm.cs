using Microsoft.Extensions.Logging;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>
/// One domain: its definition, its state machine, and the QEMU that runs it.
/// </summary>
/// <remarks>
/// Lifecycle operations are serialised by <see cref="_opLock"/>; QMP events and the process exit
/// are handled on this VM's own worker task and update state under <see cref="_state"/>, so an
/// operation may wait for an exit without holding the operation lock.
/// Split by concern: Vm.Start.cs (start, adopt), Vm.Control.cs (shutdown, destroy, …),
/// Vm.Worker.cs (events and exit).
/// </remarks>
public sealed partial class Vm
{
    private readonly EngineOptions _o;
    private readonly EventBus _bus;
    private readonly Hypervisor _hv;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _opLock = new(1, 1);
    private readonly Lock _state = new();

    private QmpClient? _qmp;
    private ProcessWatch? _watch;
    private long _startTime;
    private TaskCompletionSource _stopped = NewStopped();
    private string? _expectedStop;     // the reason to record when QEMU exits: set by destroy/shutdown
    private string? _shutdownReason;   // from QEMU's SHUTDOWN event
    private bool _fakeReboot;
    private bool _guestReset;          // QEMU's SHUTDOWN said guest-reset: the guest rebooted (with on_reboot=destroy)
    private string? _pauseReason;
    private Stream? _console;

    public DomainDef Def { get; private set; }
    public DomainDef? Live { get; private set; }
    public bool Persistent { get; private set; }
    public bool Autostart { get; private set; }
    public DomainState State { get; private set; } = DomainState.Shutoff;
    public string Reason { get; private set; } = "unknown";
    public int? Id { get; private set; }
    public int? Pid { get; private set; }
    public string Name => Def.Name;
    public Guid Uuid => Def.Uuid;
    public bool IsActive => State != DomainState.Shutoff;

    internal Vm(DomainDef def, bool persistent, bool autostart, EngineOptions o, EventBus bus, Hypervisor hv, ILogger log)
    {
        Def = def;
        Persistent = persistent;
        Autostart = autostart;
        _o = o;
        _bus = bus;
        _hv = hv;
        _log = log;
    }

    /// <summary>Holds this domain's operation lock (no start, stop or device change runs meanwhile) until disposed.</summary>
    internal async Task<IDisposable> LockAsync(CancellationToken ct = default)
    {
        await _opLock.WaitAsync(ct);
        return new Releaser(_opLock);
    }

    private sealed class Releaser(SemaphoreSlim s) : IDisposable
    {
        private int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) s.Release(); }
    }

    private static TaskCompletionSource NewStopped() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal void ReplaceDefinition(DomainDef def)
    {
        lock (_state)
        {
            Def = def;
            Persistent = true;
        }
    }

    internal void MakeTransient()
    {
        lock (_state) Persistent = false;
    }

    internal void SetAutostartFlag(bool on) => Autostart = on;

    public DomainSummary Summary()
    {
        lock (_state)
        {
            var d = Live ?? Def;
            return new DomainSummary(Id, Name, Uuid, State, Reason, Persistent, Autostart, d.VcpusCurrent ?? d.Vcpus,
                d.MemoryKiB, d.CurrentMemoryKiB, d.Title, d.Os.Type, Pid, Pid is { } pid ? ProcessWatch.CpuSeconds(pid) : 0);
        }
    }

    /// <summary>The XML dumpxml prints: the live definition (with runtime ids) while active, else the persistent one.</summary>
    /// <remarks>
    /// Display passwords are left out unless <paramref name="secure"/> (virsh dumpxml --security-info,
    /// VIR_DOMAIN_XML_SECURE), as libvirt leaves them out: a read-only client never sees them.
    /// </remarks>
    public string DumpXml(bool inactive, bool secure = false)
    {
        lock (_state)
        {
            var d = inactive || Live is null ? Def : Live;
            if (!secure && d.Devices.Graphics.Any(g => g.Passwd is not null))
            {
                d = d.Clone();
                foreach (var g in d.Devices.Graphics) g.Passwd = null;
            }
            // The inactive XML leaves the firmware choice open as libvirt's does (it is made again on define).
            if (inactive || Live is null) return DomainXml.Write(d, pickedFirmware: false);
            return DomainXml.Write(d, Id is { } id ? new Dictionary<string, string> { ["id"] = id.ToString() } : null);
        }
    }

    private void SetState(DomainState s, string reason, string? ev, string? detail)
    {
        // Operations and QMP events both report the same transition (suspend, then STOP): the
        // first one wins, so the reason the operation gave is kept and the event is published once.
        lock (_state)
        {
            if (State == s || State == DomainState.Shutoff) return;
            State = s;
            Reason = reason;
        }
        if (ev is not null) _bus.Publish(Name, ev, detail!);
        SaveStatus();
    }

    private void SaveStatus()
    {
        DomainDef? live;
        int? pid, id;
        lock (_state) { live = Live; pid = Pid; id = Id; }
        if (live is null || pid is null || id is null) return;
        try
        {
            new Status(pid.Value, _startTime, id.Value, State, Reason, Persistent, DomainXml.Write(live)).Save(_o.StatusFile(Name));
        }
        catch (IOException e)
        {
            Log.StatusWriteFailed(_log, e, Name);
        }
    }

    private QmpClient Monitor()
    {
        lock (_state)
        {
            if (State == DomainState.Shutoff)
                throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running.");
            // A stopped process cannot answer: say so at once rather than send a command that
            // times out, and would then still be carried out when the process is continued.
            if (Pid is { } pid && ProcessWatch.IsStopped(pid))
                throw new VireoException(ErrorCode.OperationFailed,
                    $"The QEMU of '{Name}' (pid {pid}) is stopped (SIGSTOP or a debugger) and cannot answer its monitor; continue it (kill -CONT {pid}) or destroy the domain.");
            return _qmp ?? throw new VireoException(ErrorCode.OperationFailed,
                $"The QEMU monitor of '{Name}' does not answer (it did not when the daemon restarted); it is taken back once QEMU answers, and 'vireo destroy {Name}' works meanwhile.");
        }
    }
}
