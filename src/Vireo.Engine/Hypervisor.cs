using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>
/// The engine: every domain this daemon knows, their definitions on disk, their running QEMUs.
/// </summary>
public sealed class Hypervisor
{
    private readonly EngineOptions _o;
    private readonly ILoggerFactory _logs;
    private readonly ILogger _log;
    internal ILogger EngineLog => _log;
    private readonly ConcurrentDictionary<string, Vm> _vms = new(StringComparer.Ordinal);
    private readonly Lock _defineLock = new();
    private readonly Lazy<KvmStatus> _kvm = new(HostProbe.Kvm);
    private readonly Lazy<bool> _vhost = new(HostProbe.VhostNet);
    private readonly SemaphoreSlim _capsLock = new(1, 1);
    private QemuCapabilities? _caps;
    private int _lastId;

    public EventBus Events { get; }
    public NetworkManager Networks { get; }
    public StorageManager Storage { get; }
    public HostBridges Bridges { get; } = new();
    public EngineOptions Options => _o;
    public KvmStatus Kvm => _kvm.Value;
    public bool VhostNet => _vhost.Value;

    private Hypervisor(EngineOptions o, ILoggerFactory logs)
    {
        _o = o;
        _logs = logs;
        _log = logs.CreateLogger("Vireo.Engine");
        Events = new EventBus(o.Time);
        Networks = new NetworkManager(o, logs, Events, this);
        Storage = new StorageManager(o, this, logs.CreateLogger("Vireo.Storage"));
    }

    /// <summary>Loads definitions, adopts guests that still run, then starts autostart domains.</summary>
    public static async Task<Hypervisor> OpenAsync(EngineOptions o, ILoggerFactory? logs = null, CancellationToken ct = default)
    {
        var hv = new Hypervisor(o, logs ?? NullLoggerFactory.Instance);
        await hv.Networks.LoadAsync(ct);
        await hv.Storage.LoadAsync(ct);
        Directory.CreateDirectory(o.DomainConfigDir);
        Directory.CreateDirectory(o.AutostartDir);
        Directory.CreateDirectory(o.DomainRunDir);
        var unreadable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(o.DomainConfigDir, "*.xml"))
        {
            try
            {
                var def = DomainXml.Parse(await File.ReadAllTextAsync(file, ct));
                var autostart = File.Exists(o.AutostartLink(def.Name));
                hv._vms[def.Name] = hv.NewVm(def, persistent: true, autostart);
            }
            catch (DefinitionException e)
            {
                // Named in the log and set aside (never read again, never lost); the rest load.
                Log.BadDefinition(hv._log, file, e.Message, DefinitionFiles.SetAside(file));
                unreadable.Add(Path.GetFileNameWithoutExtension(file));
            }
        }
        // Reconnect to running guests, in parallel: each is a QMP handshake.
        var adopt = new List<Task>();
        foreach (var file in Directory.EnumerateFiles(o.DomainRunDir, "*.xml"))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            if (!Status.TryLoad(file, out var st, out var error))
            {
                // Its QEMU, if it still runs, is found again by its pid file below.
                Log.BadStatus(hv._log, file, error!, DefinitionFiles.SetAside(file));
                continue;
            }
            if (!hv._vms.TryGetValue(name, out var vm))
            {
                // Transient, or its definition file was removed (or unreadable) while it ran: a
                // persistent guest gets its definition back from the running one; a transient one
                // is adopted as such rather than left as a guest nobody manages.
                var live = DomainXml.Parse(st!.LiveXml);
                var persistent = st.Persistent && unreadable.Contains(name);
                vm = hv.NewVm(live, persistent, autostart: false);
                if (persistent)
                {
                    hv.Save(live);
                    Log.DefinitionRebuilt(hv._log, name);
                }
                hv._vms[name] = vm;
            }
            hv._lastId = Math.Max(hv._lastId, st!.Id);
            adopt.Add(AdoptOne(hv, vm, st, ct));
        }
        // A QEMU with no (readable) status file: the daemon died between spawning it and
        // recording it, or the file was lost. QEMU's pid file finds it either way.
        foreach (var file in Directory.EnumerateFiles(o.DomainRunDir, "*.pid"))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            if (File.Exists(o.StatusFile(name))) continue;
            if (ProcessWatch.FromPidFile(file, "-pidfile", file) is not { } pid) { File.Delete(file); continue; }
            if (!hv._vms.TryGetValue(name, out var vm)) { Log.Unknown(hv._log, name, pid); continue; }
            if (!File.Exists(o.StatusFile(name) + ".corrupt"))
            {
                Log.Unrecorded(hv._log, name, pid);
                ProcessWatch.Signal(pid, 9);
                continue;
            }
            var st = new Status(pid, ProcessWatch.StartTime(pid) ?? 0, hv.NextId(), DomainState.Running, "unknown", vm.Persistent, DomainXml.Write(vm.Def));
            Log.AdoptedByPidFile(hv._log, name, pid);
            adopt.Add(AdoptOne(hv, vm, st, ct));
        }
        await Task.WhenAll(adopt);
        // A confined guest that stopped while the daemon was away: what it was given goes back.
        foreach (var record in Directory.EnumerateFiles(o.DomainRunDir, "*.dac"))
            if (!hv._vms.TryGetValue(Path.GetFileNameWithoutExtension(record), out var gone) || !gone.IsActive)
            {
                try { DacLabels.Restore(record); }
                catch (IOException e) { Log.UnconfineFailed(hv._log, e, Path.GetFileNameWithoutExtension(record)); }
            }
        // Rewritten from what is active now: port forwards of adopted guests, networks adopted
        // or gone while the daemon was away. A daemon that found no active network left
        // nothing in the firewall (teardown removes the status file last), so it reads nothing.
        if (hv.Networks.All().Any(n => n.IsActive) || hv.Networks.HadActiveState)
        {
            try { await hv.Networks.RefreshFirewallAsync(ct); }
            catch (Exception e) when (e is FirewallException or CommandException) { Log.FirewallFailed(hv._log, e); }
        }
        await hv.Networks.AutostartAsync(ct);
        foreach (var vm in hv._vms.Values.Where(v => v.Autostart && !v.IsActive))
        {
            try
            {
                await vm.StartAsync(paused: false, ct);
                Log.Autostarted(hv._log, vm.Name);
            }
            catch (VireoException e)
            {
                Log.AutostartFailed(hv._log, vm.Name, e.Message);
            }
        }
        return hv;
    }

    private static async Task AdoptOne(Hypervisor hv, Vm vm, Status st, CancellationToken ct)
    {
        try
        {
            if (await vm.AdoptAsync(st, ct))
                Log.Reconnected(hv._log, vm.Name, st.Pid);
            else if (!vm.Persistent)
                hv._vms.TryRemove(vm.Name, out _);
        }
        catch (Exception e)
        {
            Log.ReconnectFailed(hv._log, e, vm.Name);
        }
    }

    private Vm NewVm(DomainDef def, bool persistent, bool autostart) =>
        new(def, persistent, autostart, _o, Events, this, _logs.CreateLogger("Vireo.Vm"));

    /// <summary>virsh create: a transient domain from XML, started at once (paused when asked) and forgotten when it stops.</summary>
    public async Task<Vm> CreateAsync(string xml, bool paused, CancellationToken ct = default)
    {
        DomainDef def;
        try { def = DomainRules.ParseForDefine(xml, out _); }
        catch (DefinitionException e) { throw VireoException.Invalid(e); }
        def.Os.Machine = CanonicalMachine(def.Os.Machine);
        PrepareFirmware(def);
        def.Devices.Emulator ??= _o.DefaultEmulator; // as libvirt fills it on define: virt-manager shows it, tools read it
        var vm = AddTransient(def);
        try { await vm.StartAsync(paused, ct); }
        catch
        {
            Forget(vm);
            throw;
        }
        return vm;
    }

    /// <summary>A domain known only while it runs (restore of a saved guest whose definition is gone).</summary>
    public Vm AddTransient(DomainDef def)
    {
        lock (_defineLock)
        {
            if (_vms.ContainsKey(def.Name)) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{def.Name}' already exists.");
            if (_vms.Values.FirstOrDefault(v => v.Uuid == def.Uuid) is { } same)
                throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{same.Name}' already has uuid {def.Uuid}.");
            var vm = NewVm(def, persistent: false, autostart: false);
            _vms[def.Name] = vm;
            return vm;
        }
    }

    /// <summary>restore: the saved guest runs again under its domain, or as a transient one when its definition is gone.</summary>
    public async Task<Vm> RestoreAsync(string path, bool? paused, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(path) || !Path.IsPathFullyQualified(path))
            throw new VireoException(ErrorCode.InvalidArgument, $"The save file must be an absolute path, not '{path}'.");
        if (!File.Exists(path)) throw new VireoException(ErrorCode.InvalidArgument, $"Save file '{path}' does not exist.");
        var (saved, _, _) = Vm.ReadSaveHeader(path);
        var vm = Find(saved.Name);
        var transient = vm is null;
        vm ??= AddTransient(saved);
        try { await vm.RestoreAsync(path, paused, ct); }
        catch when (transient)
        {
            Forget(vm);
            throw;
        }
        return vm;
    }

    internal int NextId() => Interlocked.Increment(ref _lastId);

    public void Forget(Vm vm)
    {
        if (!vm.Persistent) ((ICollection<KeyValuePair<string, Vm>>)_vms).Remove(new(vm.Name, vm));
    }

    public IReadOnlyList<Vm> All() => _vms.Values.ToList();

    /// <summary>Finds a domain by name, then uuid, then id (as virsh resolves its argument).</summary>
    public Vm Get(string nameOrId) => Find(nameOrId) ?? throw VireoException.NoDomain(nameOrId);

    /// <summary>As <see cref="Get"/>, null when there is no such domain.</summary>
    public Vm? Find(string nameOrId)
    {
        if (_vms.TryGetValue(nameOrId, out var vm)) return vm;
        if (Guid.TryParse(nameOrId, out var uuid) && _vms.Values.FirstOrDefault(v => v.Uuid == uuid) is { } byUuid) return byUuid;
        if (int.TryParse(nameOrId, out var id) && _vms.Values.FirstOrDefault(v => v.Id == id) is { } byId) return byId;
        return null;
    }

    /// <summary>Defines (or redefines) a domain from libvirt XML. Returns the domain and whether it is new.</summary>
    public (Vm Vm, bool Created) Define(string xml)
    {
        DomainDef def;
        bool uuidGiven;
        try
        {
            def = DomainRules.ParseForDefine(xml, out uuidGiven);
        }
        catch (DefinitionException e)
        {
            throw VireoException.Invalid(e);
        }
        def.Os.Machine = CanonicalMachine(def.Os.Machine);
        PrepareFirmware(def);
        def.Devices.Emulator ??= _o.DefaultEmulator; // as libvirt fills it on define: virt-manager shows it, tools read it
        lock (_defineLock)
        {
            var sameUuid = _vms.Values.FirstOrDefault(v => v.Uuid == def.Uuid && v.Name != def.Name);
            if (sameUuid is not null)
                throw new VireoException(ErrorCode.InvalidOperation,
                    $"Domain '{sameUuid.Name}' already has uuid {def.Uuid}; remove the <uuid> to get a new one, or use that name.");
            if (_vms.TryGetValue(def.Name, out var existing))
            {
                if (uuidGiven && def.Uuid != existing.Uuid)
                    throw new VireoException(ErrorCode.InvalidOperation,
                        $"Domain '{def.Name}' already exists with uuid {existing.Uuid}; undefine it first or use another name.");
                def.Uuid = existing.Uuid;
                Save(def);
                existing.ReplaceDefinition(def);
                Events.Publish(def.Name, "Defined", "Updated");
                return (existing, false);
            }
            Save(def);
            var vm = NewVm(def, persistent: true, autostart: false);
            _vms[def.Name] = vm;
            Events.Publish(def.Name, "Defined", "Added");
            return (vm, true);
        }
    }

    /// <summary>&lt;os firmware='efi'&gt;: the loader and NVRAM picked from QEMU's firmware descriptors.</summary>
    /// The descriptors are read each time one is needed (a few small files): installing ovmf needs no daemon restart.
    public void PrepareFirmware(DomainDef def) =>
        FirmwareSelect.Apply(def, def.Os is { Firmware: "efi", Loader: null } ? FirmwareDescriptor.LoadAll() : [], _o.NvramDir);

    private void Save(DomainDef def) => DefinitionFiles.Save(_o.ConfigFile(def.Name), DomainXml.Write(def), $"'{def.Name}'");

    /// <summary>Removes the persistent definition. A running domain goes on as a transient one until it stops.</summary>
    /// <param name="snapshotsMetadata">Drop the records of the domain's snapshots (their images stay); refused otherwise while it has any.</param>
    /// <param name="managedSave">Discard a managed save image; refused otherwise while one exists.</param>
    /// <param name="nvram">true: delete the UEFI variable store; false: keep it; null: refuse while one exists (as virsh).</param>
    /// <param name="keepTpm">Keep the emulated TPM's state (by default it goes with the definition, as in libvirt).</param>
    /// <remarks>
    /// Takes the domain's operation lock first (then the define lock, the one order both are taken
    /// in): an undefine that came during a start would otherwise see the domain shut off, forget
    /// it, and leave the QEMU that start launches owned by nobody.
    /// </remarks>
    public async Task UndefineAsync(string name, bool snapshotsMetadata = false, bool managedSave = false, bool? nvram = null, bool keepTpm = false)
    {
        var vm = Get(name);
        using var op = await vm.LockAsync();
        lock (_defineLock)
        {
            if (!ReferenceEquals(Find(vm.Name), vm)) throw VireoException.NoDomain(name); // undefined (or stopped, if transient) meanwhile
            var nvramFile = vm.Def.Os.Nvram?.Path;
            if (nvramFile is not null && File.Exists(nvramFile) && nvram is null)
                throw new VireoException(ErrorCode.InvalidOperation,
                    $"Domain '{vm.Name}' has a UEFI variable store ({nvramFile}); add --nvram to delete it, or --keep-nvram to keep it.");
            if (!vm.Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{vm.Name}' is transient; it disappears when it stops.");
            if (vm.Snapshots().Count is > 0 and var n && !snapshotsMetadata)
                throw new VireoException(ErrorCode.InvalidOperation,
                    $"Domain '{vm.Name}' has {n} snapshot{(n == 1 ? "" : "s")}; delete {(n == 1 ? "it" : "them")} first (snapshot-delete), or add --snapshots-metadata to drop the records (their images stay).");
            if (vm.HasManagedSave && !managedSave)
                throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{vm.Name}' has a managed save image; add --managed-save to discard it, or start the domain to resume it.");
            if (vm.HasManagedSave) File.Delete(_o.ManagedSaveFile(vm.Name));
            // A running guest keeps its open variable store until it stops; the name goes now.
            if (nvram == true && nvramFile is not null) File.Delete(nvramFile);
            // A running guest's TPM state goes when it stops (it is then transient); a stopped one's now.
            vm.KeepTpmState = keepTpm;
            if (!keepTpm && !vm.IsActive) vm.RemoveTpmState();
            if (Directory.Exists(_o.SnapshotDir(vm.Name))) Directory.Delete(_o.SnapshotDir(vm.Name), recursive: true);
            File.Delete(_o.ConfigFile(vm.Name));
            File.Delete(_o.AutostartLink(vm.Name));
            vm.SetAutostartFlag(false);
            if (vm.IsActive)
            {
                vm.MakeTransient();
                try
                {
                    if (File.Exists(_o.StatusFile(vm.Name)))
                    {
                        if (Status.Load(_o.StatusFile(vm.Name)) is { } st)
                            (st with { Persistent = false }).Save(_o.StatusFile(vm.Name));
                    }
                }
                catch (IOException) { }
            }
            else
            {
                _vms.TryRemove(vm.Name, out _);
            }
            Events.Publish(vm.Name, "Undefined", "Removed");
        }
    }

    public void SetAutostart(string name, bool on)
    {
        var vm = Get(name);
        if (!vm.Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{vm.Name}' is transient; define it before marking it autostart.");
        DefinitionFiles.SetAutostart(_o.AutostartLink(vm.Name), _o.ConfigFile(vm.Name), on);
        vm.SetAutostartFlag(on);
    }

    /// <summary>
    /// q35 → pc-q35-7.2: a machine alias pinned on define to the versioned machine this host's
    /// QEMU gives it, as libvirt does, so that a QEMU upgrade does not change the guest's hardware.
    /// </summary>
    private string? CanonicalMachine(string? machine)
    {
        if (machine is null || machine.StartsWith("pc-", StringComparison.Ordinal)) return machine;
        try { return CapabilitiesAsync().GetAwaiter().GetResult().CanonicalMachine(machine); }
        catch (VireoException) { return machine; } // no QEMU to ask: keep the name; start will say what is missing
    }

    /// <summary>
    /// Whether a guest on <paramref name="emulator"/> runs under QEMU's seccomp sandbox: when that
    /// is the probed default emulator and it was built with seccomp, and the guest did not opt out
    /// of confinement with &lt;seclabel type='none'/&gt;.
    /// </summary>
    internal async Task<bool> SandboxAsync(DomainDef d, string emulator, CancellationToken ct)
    {
        if (d.Seclabels.Any(l => l.Type == "none" && l.Model is null) || emulator != _o.DefaultEmulator) return false;
        try { return (await CapabilitiesAsync(ct)).Sandbox; }
        catch (VireoException) { return false; }   // no probe: start says what QEMU says
    }

    /// <summary>QEMU's own view of machine types and CPU models, probed once per emulator binary change.</summary>
    public async Task<QemuCapabilities> CapabilitiesAsync(CancellationToken ct = default)
    {
        await _capsLock.WaitAsync(ct);
        try
        {
            _caps ??= await QemuProbe.ProbeAsync(_o.DefaultEmulator, _o.DomainRunDir, ct);
            return _caps;
        }
        catch (Exception e) when (e is CommandException or QmpDisconnectedException)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot probe '{_o.DefaultEmulator}': {e.Message}");
        }
        finally
        {
            _capsLock.Release();
        }
    }
}
