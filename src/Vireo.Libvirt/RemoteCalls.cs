using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Libvirt;

/// <summary>
/// The remote program's calls on Vireo's engine: each decodes its arguments (remote_*_args),
/// does the work, and encodes its result (remote_*_ret) as remote_protocol.x lays them out.
/// A call Vireo does not serve yet answers VIR_ERR_NO_SUPPORT, which clients expect and skip
/// where the call is optional (virsh dominfo's security model, for one).
/// </summary>
internal sealed partial class RemoteCalls(Hypervisor hv, bool readOnly)
{
    private bool _open;

    // virDomainState
    private const int StateRunning = 1, StatePaused = 3, StateShutdown = 4, StateShutoff = 5, StateCrashed = 6;

    /// <summary>virDrvFeature values a client asks about before it relies on them (libvirt_internal.h).
    /// REMOTE_EVENT_CALLBACK (14): clients register events with callback ids (and a domain, network or pool
    /// to filter on), which network and pool events need; the older domain registration is served too. NETWORK_UPDATE_HAS_CORRECT_ORDER
    /// tells clients to send virNetworkUpdate's command and section in their declared places (older
    /// servers took them swapped).</summary>
    private const int FeatureProgramKeepalive = 10, FeatureRemoteEventCallback = 14, FeatureRemoteCloseCallback = 15, FeatureNetworkUpdateCorrectOrder = 16;

    public async Task<StreamWork?> CallAsync(Proc proc, XdrReader a, XdrWriter r, CancellationToken ct)
    {
        if (!Enum.IsDefined(proc)) // as libvirtd: a number remote_protocol.x does not have, before anything else
            throw new RpcError(VirErrorCode.Rpc, $"unknown procedure: {(int)proc}", VirErrorDomain.Rpc);
        if (!_open && proc is not (Proc.AuthList or Proc.ConnectSupportsFeature or Proc.ConnectOpen))
            throw new RpcError(VirErrorCode.NoConnect, "no connection driver available: open the connection (virConnectOpen) first", VirErrorDomain.Remote);
        if (readOnly && !ProcAccess.ReadOnly.Contains(proc))
            throw new RpcError(VirErrorCode.OperationDenied, $"operation forbidden: read only access prevents {ProcName(proc)}");
        switch (proc)
        {
            case Proc.AuthList:
                r.Array([0], (w, t) => w.Int(t)); // REMOTE_AUTH_NONE: the socket's permissions are the authentication
                break;
            case Proc.ConnectSupportsFeature:
                r.Int(a.Int() is FeatureProgramKeepalive or FeatureRemoteEventCallback or FeatureRemoteCloseCallback or FeatureNetworkUpdateCorrectOrder ? 1 : 0);
                break;
            case Proc.ConnectOpen:
            {
                var name = a.OptString();
                a.UInt();
                if (name is not (null or "" or "qemu:///system" or "qemu:///session" or "qemu+unix:///system"))
                    throw new RpcError(VirErrorCode.NoConnect, $"no connection driver available for {name}: Vireo serves qemu:///system", VirErrorDomain.Remote);
                _open = true;
                break;
            }
            case Proc.ConnectRegisterCloseCallback or Proc.ConnectUnregisterCloseCallback:
                break;
            case Proc.ConnectGetType:
                r.String("QEMU");
                break;
            case Proc.ConnectGetVersion:
                r.UHyper(VersionNumber((await hv.CapabilitiesAsync(ct)).Version));
                break;
            case Proc.ConnectGetLibVersion:
                r.UHyper(9_000_000); // the libvirt whose protocol and behaviour Vireo follows: 9.0.0
                break;
            case Proc.ConnectGetHostname:
                r.String(System.Net.Dns.GetHostName());
                break;
            case Proc.ConnectIsSecure:
                r.Int(1); // a unix socket: nobody else sees the traffic
                break;
            // Security drivers, as virsh dominfo shows them.
            case Proc.NodeGetSecurityModel:
                CharArray(r, hv.Options.QemuUser is not null ? "dac" : "none");
                CharArray(r, "0");
                break;
            case Proc.DomainGetSecurityLabel:
            {
                var label = Domain(a).SecurityLabel ?? "";
                CharArray(r, label);
                r.Int(label.Length > 0 ? 1 : 0);
                break;
            }
            case Proc.DomainGetSecurityLabelList:
            {
                var vm = Domain(a);
                var labels = vm.SecurityLabel is { } l ? new[] { l } : [];
                r.UInt((uint)labels.Length);
                foreach (var one in labels) { CharArray(r, one); r.Int(1); }
                r.Int(labels.Length);
                break;
            }
            case Proc.ConnectGetMaxVcpus:
                a.OptString();
                r.Int((await hv.CapabilitiesAsync(ct)).Machines.Select(m => m.MaxCpus).DefaultIfEmpty(1).Max());
                break;
            case Proc.ConnectGetCapabilities:
                r.String(DomainXml.ToText(Capabilities.HostXml(await hv.CapabilitiesAsync(ct), Capabilities.Probe(hv.Kvm.Usable), hv.VhostNet, Capabilities.HostUuid())));
                break;
            case Proc.ConnectGetDomainCapabilities:
            {
                a.OptString(); // emulatorbin: the daemon's QEMU
                var arch = a.OptString();
                var machine = a.OptString();
                var virttype = a.OptString();
                a.UInt();
                if (arch is not (null or "x86_64"))
                    throw new RpcError(VirErrorCode.InvalidArg, $"invalid argument: Vireo runs x86_64 guests only, not '{arch}'");
                r.String(DomainXml.ToText(Capabilities.Domain(await hv.CapabilitiesAsync(ct), Capabilities.Probe(hv.Kvm.Usable), virttype ?? (hv.Kvm.Usable ? "kvm" : "qemu"), machine)));
                break;
            }
            case Proc.DomainCreateXml:
            {
                var xml = a.String();
                var flags = a.UInt();
                Dom(r, await hv.CreateAsync(xml, paused: (flags & 1) != 0, ct)); // VIR_DOMAIN_START_PAUSED
                break;
            }
            case Proc.NodeGetInfo:
                NodeInfo(r);
                break;
            case Proc.ConnectListAllDomains:
                ListAll(a, r, hv.All().OrderBy(v => v.Id ?? int.MaxValue).ThenBy(v => v.Name, StringComparer.Ordinal), Matches, Dom);
                break;
            case Proc.DomainLookupByName:
            {
                var name = a.String();
                Dom(r, hv.Find(name) ?? throw NoDomain($"no domain with matching name '{name}'"));
                break;
            }
            case Proc.DomainLookupByUuid:
            {
                var uuid = a.Uuid();
                Dom(r, hv.All().FirstOrDefault(v => v.Uuid == uuid) ?? throw NoDomain($"no domain with matching uuid '{uuid}'"));
                break;
            }
            case Proc.DomainLookupById:
            {
                var id = a.Int();
                Dom(r, hv.All().FirstOrDefault(v => v.Id == id) ?? throw NoDomain($"no domain with matching id {id}"));
                break;
            }
            case Proc.DomainGetInfo:
            {
                var s = Domain(a).Summary();
                r.Int(State(s.State)).UHyper(s.MaxMemoryKiB).UHyper(s.MemoryKiB).Int(s.Vcpus).UHyper((ulong)(s.CpuTimeSeconds * 1e9));
                break;
            }
            case Proc.DomainGetState:
            {
                var vm = Domain(a);
                a.UInt();
                var s = vm.Summary();
                r.Int(State(s.State)).Int(Reason(s.State, s.Reason));
                break;
            }
            case Proc.DomainGetXmlDesc:
            {
                var vm = Domain(a);
                var flags = CheckFlags(a.UInt(), 0xf, "virDomainGetXMLDesc");
                // VIR_DOMAIN_XML_SECURE (1) is refused on a read-only connection, as libvirt's virDomainGetXMLDesc does.
                if ((flags & 1) != 0 && readOnly)
                    throw new RpcError(VirErrorCode.OperationDenied, "operation forbidden: virDomainGetXMLDesc with secure flag");
                r.String(vm.DumpXml(inactive: (flags & 2) != 0, secure: (flags & 1) != 0)); // VIR_DOMAIN_XML_INACTIVE
                break;
            }
            case Proc.DomainGetOsType:
                r.String(Domain(a).Summary().OsType);
                break;
            case Proc.DomainGetMaxMemory:
                r.UHyper(Domain(a).Summary().MaxMemoryKiB);
                break;
            case Proc.DomainGetMaxVcpus:
                r.Int(Domain(a).Def.Vcpus);
                break;
            case Proc.DomainGetVcpusFlags:
            {
                var vm = Domain(a);
                var flags = a.UInt();
                var d = (flags & 2) != 0 || vm.Live is null ? vm.Def : vm.Live; // VIR_DOMAIN_AFFECT_CONFIG
                r.Int((flags & 4) != 0 ? d.Vcpus : d.VcpusCurrent ?? d.Vcpus);  // VIR_DOMAIN_VCPU_MAXIMUM
                break;
            }
            case Proc.DomainGetAutostart:
                r.Int(Domain(a).Autostart ? 1 : 0);
                break;
            case Proc.DomainSetAutostart:
            {
                var vm = Domain(a);
                hv.SetAutostart(vm.Name, a.Int() != 0);
                break;
            }
            case Proc.DomainIsActive:
                r.Int(Domain(a).IsActive ? 1 : 0);
                break;
            case Proc.DomainIsPersistent:
                r.Int(Domain(a).Persistent ? 1 : 0);
                break;
            case Proc.DomainIsUpdated:
                Domain(a);
                r.Int(0);
                break;
            case Proc.DomainHasManagedSaveImage:
            {
                var vm = Domain(a);
                a.UInt();
                r.Int(vm.HasManagedSave ? 1 : 0);
                break;
            }
            case Proc.DomainSnapshotNum:
            {
                var vm = Domain(a);
                a.UInt();
                r.Int(vm.Snapshots().Count);
                break;
            }
            case Proc.DomainDefineXml or Proc.DomainDefineXmlFlags:
            {
                var xml = a.String();
                if (proc == Proc.DomainDefineXmlFlags) a.UInt();
                Dom(r, hv.Define(xml).Vm);
                break;
            }
            case Proc.DomainUndefine or Proc.DomainUndefineFlags:
            {
                var vm = Domain(a);
                var flags = proc == Proc.DomainUndefineFlags ? CheckFlags(a.UInt(), 0x7f, "virDomainUndefineFlags") : 0;
                // virDomainUndefineFlagsValues: MANAGED_SAVE 1, SNAPSHOTS_METADATA 2, NVRAM 4, KEEP_NVRAM 8, TPM 32, KEEP_TPM 64.
                bool? nvram = (flags & 4) != 0 ? true : (flags & 8) != 0 ? false : null;
                await hv.UndefineAsync(vm.Name, (flags & 2) != 0, (flags & 1) != 0, nvram, keepTpm: (flags & 64) != 0);
                break;
            }
            case Proc.DomainCreate:
                await Domain(a).StartAsync(paused: false, ct);
                break;
            case Proc.DomainCreateWithFlags:
            {
                var vm = Domain(a);
                var flags = CheckFlags(a.UInt(), 0x1f, "virDomainCreateWithFlags");
                await vm.StartAsync(paused: (flags & 1) != 0, ct); // VIR_DOMAIN_START_PAUSED
                Dom(r, vm);
                break;
            }
            case Proc.DomainDestroy:
                await Domain(a).DestroyAsync(ct);
                break;
            case Proc.DomainDestroyFlags:
            {
                var vm = Domain(a);
                a.UInt();
                await vm.DestroyAsync(ct);
                break;
            }
            case Proc.DomainShutdown:
                await Domain(a).ShutdownAsync(null, ct);
                break;
            case Proc.DomainShutdownFlags:
            {
                var vm = Domain(a);
                a.UInt();
                await vm.ShutdownAsync(null, ct);
                break;
            }
            case Proc.DomainReboot:
            {
                var vm = Domain(a);
                a.UInt();
                await vm.RebootAsync(ct);
                break;
            }
            case Proc.DomainReset:
            {
                var vm = Domain(a);
                a.UInt();
                await vm.ResetAsync(ct);
                break;
            }
            case Proc.DomainSuspend:
                await Domain(a).SuspendAsync(ct);
                break;
            case Proc.DomainResume:
                await Domain(a).ResumeAsync(ct);
                break;
            default:
                if (EventCall(proc, a, r) || ListCall(proc, a, r) || HostCall(proc, a, r) || await BlockCallAsync(proc, a, r, ct)) break;
                return await DomainCallAsync(proc, a, r, ct);
        }
        return null;
    }

    private static RpcError NotSupported(Proc proc) => new(VirErrorCode.NoSupport, $"this function is not supported by the connection driver: {ProcName(proc)}");

    /// <summary>
    /// The QEMU program (qemu_protocol.x): procedure 1 is virDomainQemuMonitorCommand, a QMP command
    /// (or HMP with flag 1) passed to the guest's monitor as virsh qemu-monitor-command sends it.
    /// </summary>
    public async Task QemuCallAsync(int proc, XdrReader a, XdrWriter r, CancellationToken ct)
    {
        if (!_open) throw new RpcError(VirErrorCode.NoConnect, "no connection driver available: open the connection (virConnectOpen) first", VirErrorDomain.Remote);
        if (proc != 1) throw new RpcError(VirErrorCode.NoSupport, $"this function is not supported by the connection driver: QEMU procedure {proc}");
        if (readOnly) throw new RpcError(VirErrorCode.OperationDenied, "operation forbidden: read only access prevents virDomainQemuMonitorCommand");
        var vm = Domain(a);
        var cmd = a.String();
        var flags = CheckFlags(a.UInt(), 1, "virDomainQemuMonitorCommand");
        if (!vm.IsActive) throw new RpcError(VirErrorCode.OperationInvalid, "Requested operation is not valid: domain is not running");
        r.String(await vm.MonitorCommandAsync(cmd, hmp: (flags & 1) != 0, ct));
    }

    /// <summary>libvirt's virCheckFlags: a flag bit the call does not know is refused, not ignored.</summary>
    private static uint CheckFlags(uint flags, uint known, string function) =>
        (flags & ~known) == 0 ? flags : throw new RpcError(VirErrorCode.InvalidArg, $"invalid argument: unsupported flags (0x{flags & ~known:x}) in function {function}");

    private static string ProcName(Proc p) => Enum.IsDefined(p) ? p.ToString() : $"procedure {(int)p}";

    /// <summary>remote_nonnull_domain: name, uuid (16 bytes, big-endian as libvirt stores it), id (-1 when inactive).</summary>
    private static void Dom(XdrWriter w, Vm vm) =>
        w.String(vm.Name).FixedOpaque(vm.Uuid.ToByteArray(bigEndian: true)).Int(vm.Id ?? -1);

    /// <summary>
    /// Reads a remote_nonnull_domain and finds the domain by its uuid (as libvirtd does), else its
    /// name. The name's domain is looked up first (a dictionary) and kept when its uuid matches,
    /// so a client walking 1000 domains (virsh list) does not scan all of them per call.
    /// </summary>
    private Vm Domain(XdrReader a)
    {
        var name = a.String();
        var uuid = a.Uuid();
        a.Int();
        if (hv.Find(name) is { } byName && byName.Uuid == uuid) return byName;
        return hv.All().FirstOrDefault(v => v.Uuid == uuid) ?? hv.Find(name) ?? throw NoDomain($"no domain with matching uuid '{uuid}' ({name})");
    }

    /// <summary>Reads a remote_nonnull_domain/network/storage_pool (name, uuid[, id]) and finds the object by its uuid, as libvirtd does, else by name.</summary>
    private static T Ref<T>(XdrReader a, IEnumerable<T> all, Func<T, Guid> uuidOf, Func<string, Guid, T> byName)
    {
        var name = a.String();
        var uuid = a.Uuid();
        return all.FirstOrDefault(x => uuidOf(x) == uuid) ?? byName(name, uuid);
    }

    private static RpcError NoDomain(string what) => new(VirErrorCode.NoDomain, $"Domain not found: {what}");

    private static bool Pair(uint flags, uint yes, uint no, bool value) => (flags & (yes | no)) == 0 || ((flags & yes) != 0 && value) || ((flags & no) != 0 && !value);

    /// <summary>virConnectListAllDomainsFlags: each pair of flags filters only when one of the two is given.</summary>
    /// <summary>The list-all calls: (need_results, flags) in; the objects (when asked for) and their count out.</summary>
    private static void ListAll<T>(XdrReader a, XdrWriter r, IEnumerable<T> all, Func<T, uint, bool> matches, Action<XdrWriter, T> write)
    {
        var needResults = a.Int() != 0;
        var flags = a.UInt();
        var items = all.Where(x => matches(x, flags)).ToList();
        if (needResults) r.Array(items, write); else r.UInt(0);
        r.UInt((uint)items.Count);
    }

    private static bool Matches(Vm vm, uint flags)
    {
        var s = vm.Summary();
        var stateFlags = flags & (16 | 32 | 64 | 128);
        var stateOk = stateFlags == 0
            || (flags & 16) != 0 && s.State == DomainState.Running
            || (flags & 32) != 0 && s.State == DomainState.Paused
            || (flags & 64) != 0 && s.State == DomainState.Shutoff
            || (flags & 128) != 0 && s.State is DomainState.Crashed or DomainState.ShuttingDown;
        // The managed-save and snapshot filters look at files: asked only when a flag needs them.
        return Pair(flags, 1, 2, vm.IsActive) && Pair(flags, 4, 8, vm.Persistent) && stateOk
            && ((flags & (256 | 512)) == 0 || Pair(flags, 256, 512, vm.HasManagedSave)) && Pair(flags, 1024, 2048, vm.Autostart)
            && ((flags & (4096 | 8192)) == 0 || Pair(flags, 4096, 8192, vm.Snapshots().Count > 0));
    }

    private static int State(DomainState s) => s switch
    {
        DomainState.Running => StateRunning,
        DomainState.Paused => StatePaused,
        DomainState.ShuttingDown => StateShutdown,
        DomainState.Crashed => StateCrashed,
        _ => StateShutoff,
    };

    /// <summary>virDomain*Reason: the numbers behind virsh domstate --reason.</summary>
    private static int Reason(DomainState s, string? reason) => (s, reason) switch
    {
        (DomainState.Running, "booted") => 1,
        (DomainState.Running, "migrated") => 2,
        (DomainState.Running, "restored") => 3,
        (DomainState.Running, "from snapshot") => 4,
        (DomainState.Running, "unpaused") => 5,
        (DomainState.Paused, "user") => 1,
        (DomainState.Paused, "migration") => 2,
        (DomainState.Paused, "saving") => 3,
        (DomainState.Paused, "dumping") => 4,
        (DomainState.Paused, "ioerror") => 5,
        (DomainState.Paused, "watchdog") => 6,
        (DomainState.Paused, "from snapshot") => 7,
        (DomainState.Paused, "shutting down") => 8,
        (DomainState.Paused, "snapshot") => 9,
        (DomainState.Paused, "crashed") => 10,
        (DomainState.Paused, "starting up") => 11,
        (DomainState.Shutoff, "shutdown") => 1,
        (DomainState.Shutoff, "destroyed") => 2,
        (DomainState.Shutoff, "crashed") => 3,
        (DomainState.Shutoff, "migrated") => 4,
        (DomainState.Shutoff, "saved") => 5,
        (DomainState.Shutoff, "failed") => 6,
        (DomainState.Shutoff, "from snapshot") => 7,
        (DomainState.Crashed, "panicked") => 1,
        (DomainState.ShuttingDown, "user") => 1,
        _ => 0,
    };

    /// <summary>"7.2.0" → 7002000, libvirt's version numbers.</summary>
    internal static ulong VersionNumber(string version)
    {
        var p = version.Split('.').Select(x => ulong.TryParse(x, out var n) ? n : 0).Concat([0UL, 0UL, 0UL]).Take(3).ToArray();
        return p[0] * 1_000_000 + p[1] * 1_000 + p[2];
    }

    /// <summary>virNodeInfo: CPU model, memory (KiB), CPUs, MHz and topology.</summary>
    private static void NodeInfo(XdrWriter r)
    {
        var cpus = Environment.ProcessorCount;
        ulong memKiB = 0;
        var mhz = 0;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal)) memKiB = ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("cpu MHz", StringComparison.Ordinal) && double.TryParse(line.Split(':')[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var m)) { mhz = (int)m; break; }
        }
        catch (IOException) { }
        r.FixedChars("x86_64", 32).UHyper(memKiB).Int(cpus).Int(mhz).Int(1).Int(1).Int(cpus).Int(1);
    }

    /// <summary>
    /// An XDR <c>char x&lt;N&gt;</c> as rpcgen encodes it (libvirt's security model and label): a
    /// count, then each char as a 4-byte int (xdr_char), the C string's NUL included.
    /// </summary>
    private static void CharArray(XdrWriter r, string s)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(s + "\0");
        r.UInt((uint)bytes.Length);
        foreach (var b in bytes) r.Int((sbyte)b);
    }

    /// <summary>Vireo's error kinds as libvirt's codes, so clients print and raise the right thing.</summary>
    internal static RpcError ToRpc(VireoException e) => e.Code switch
    {
        ErrorCode.NotFound when e.Message.StartsWith("Domain not found", StringComparison.Ordinal) => new(VirErrorCode.NoDomain, e.Message.TrimEnd('.')),
        ErrorCode.NotFound => new(VirErrorCode.InvalidArg, e.Message),
        // A document's problems (with their lines) one to a line when there are several; one is the message itself.
        ErrorCode.InvalidArgument => new(e.Details.Count > 0 ? VirErrorCode.XmlError : VirErrorCode.InvalidArg, e.Details.Count > 1 ? string.Join("\n", e.Details) : e.Message),
        ErrorCode.InvalidOperation => new(VirErrorCode.OperationInvalid, e.Message),
        ErrorCode.Timeout => new(VirErrorCode.OperationTimeout, e.Message),
        ErrorCode.AccessDenied => new(VirErrorCode.OperationDenied, e.Message),
        _ => new(VirErrorCode.OperationFailed, e.Message),
    };
}
