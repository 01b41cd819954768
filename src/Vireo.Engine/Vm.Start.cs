using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

public sealed partial class Vm
{
    public async Task StartAsync(bool paused, CancellationToken ct = default)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            if (IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is already running.");
            CheckNoStrayQemu();
            if (await StartFromManagedSaveAsync(paused, ct)) return;
            var live = Def.Clone();
            // An installer's first run ends at its reboot; the domain then starts from its disk.
            if (FirstBoot.Read(live) is { RestartOnReboot: true }) live.OnReboot = "destroy";
            var emulator = Preflight(live);
            await LaunchAsync(live, emulator, paused, ct);
        }
        finally
        {
            _opLock.Release();
        }
    }

    /// <summary>
    /// Refuses to start a second QEMU for this domain while one this daemon lost track of still
    /// runs (its pid file names a live process whose argv carries that pid file): two QEMUs on
    /// one set of disks corrupt them.
    /// </summary>
    private void CheckNoStrayQemu()
    {
        var pidFile = _o.PidFile(Name);
        if (File.Exists(pidFile) && ProcessWatch.FromPidFile(pidFile, "-pidfile", pidFile) is { } pid)
            throw new VireoException(ErrorCode.InvalidOperation,
                $"A QEMU of domain '{Name}' still runs (pid {pid}) although this daemon does not manage it; restart the daemon to adopt it, or end it (kill {pid}) before starting the domain again.");
    }

    /// <summary>Checks what QEMU would fail on with a worse message: accel, emulator, files.</summary>
    private string Preflight(DomainDef d)
    {
        var problems = new List<string>();
        if (d.Type == "kvm")
        {
            var kvm = _hv.Kvm;
            if (!kvm.Usable)
                problems.Add($"Domain '{d.Name}' asks for KVM (type='kvm') but KVM cannot run guests on this host: {kvm.Reason}. Change it to <domain type='qemu'> for TCG emulation.");
        }
        var emulator = d.Devices.Emulator ?? _o.DefaultEmulator;
        if (!File.Exists(emulator))
            problems.Add($"Emulator '{emulator}' does not exist; install qemu-system-x86 or fix <emulator>.");
        foreach (var disk in d.Devices.Disks.Where(x => x.Type == "volume"))
        {
            try { (disk.Source, disk.Format) = _hv.Storage.Resolve(disk); }
            catch (VireoException e) { problems.Add(e.Message); }
        }
        foreach (var disk in d.Devices.Disks.Where(x => x.Source is not null))
        {
            var exists = File.Exists(disk.Source); // true for device nodes too
            if (!exists)
                problems.Add($"Cannot access storage file '{disk.Source}' of disk '{disk.TargetDev}': No such file or directory. Create it (qemu-img create) or fix <source>.");
        }
        foreach (var disk in d.Devices.Disks.Where(x => x.SourceProtocol is not null))
            if (Reachability(disk.SourceHost!, disk.SourcePort ?? disk.DefaultPort) is { } why)
                problems.Add($"Cannot reach the {disk.SourceProtocol} server {disk.SourceHost}:{disk.SourcePort ?? disk.DefaultPort} of disk '{disk.TargetDev}' ({disk.Url}): {why}. Check that it runs and that this host can reach it.");
        foreach (var (what, path) in new[] { ("kernel", d.Os.Kernel), ("initrd", d.Os.Initrd) })
            if (path is not null && !File.Exists(path))
                problems.Add($"The {what} '{path}' does not exist; fix <{what}>.");
        try { FirmwareSelect.PrepareNvram(d); }
        catch (VireoException e) { problems.Add(e.Message); }
        catch (IOException e) { problems.Add($"Cannot make the NVRAM of '{d.Name}': {e.Message}"); }
        foreach (var fs in d.Devices.Filesystems.Where(f => f.DriverType == "virtiofs" && !File.Exists(f.BinaryPath ?? DefaultVirtiofsd)))
            problems.Add($"The virtiofs share '{fs.Target}' needs virtiofsd at {fs.BinaryPath ?? DefaultVirtiofsd} (Debian's qemu-system-common); install it or set <binary path=>.");
        foreach (var fs in d.Devices.Filesystems.Where(f => !Directory.Exists(f.Source)))
            problems.Add($"The shared directory '{fs.Source}' (tag '{fs.Target}') does not exist.");
        problems.AddRange(PlatformProblems(d));
        if (problems.Count > 0)
            throw new VireoException(ErrorCode.InvalidArgument, problems.Count == 1 ? problems[0] : string.Join(" ", problems), problems);
        return emulator;
    }

    /// <summary>Null when a TCP connection to host:port opens within 3 s; else why not.</summary>
    private static string? Reachability(string host, int port)
    {
        try
        {
            using var c = new System.Net.Sockets.TcpClient();
            if (!c.ConnectAsync(host, port).Wait(TimeSpan.FromSeconds(3))) return "no answer within 3 s";
            return null;
        }
        catch (AggregateException e) when (e.InnerException is System.Net.Sockets.SocketException se) { return se.Message; }
        catch (System.Net.Sockets.SocketException se) { return se.Message; }
    }

    /// <param name="incoming">Restore: QEMU waits for a saved state, which <paramref name="beforeRun"/> feeds it.</param>
    private async Task LaunchAsync(DomainDef live, string emulator, bool paused, CancellationToken ct,
        bool incoming = false, Func<QmpClient, Task>? beforeRun = null, string startDetail = "Booted")
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Directory.CreateDirectory(_o.DomainRunDir);
        File.Delete(_o.PidFile(Name)); // a stale one (CheckNoStrayQemu found nobody behind it)
        // Every step below that changes the host registers its undo: a start that fails anywhere
        // before the guest runs takes all of them back, the last first, and leaves nothing behind.
        await using var revert = new Reverter(e => Log.UndoFailed(_log, e, Name));
        // The unprivileged user QEMU runs as (its files given to it first), or null for root.
        var user = ConfinedAs(live);
        var channelDir = _o.ChannelDir(Name);
        if (user is not null)
        {
            revert.Add(Unconfine);
            await ConfineAsync(live, user, channelDir, ct);
        }
        if (live.Devices.Channels.Count > 0) Directory.CreateDirectory(channelDir);
        var sockPath = _o.MonitorSocket(Name);
        var logPath = _o.LogFile(Name);
        long logOffset = File.Exists(logPath) ? new FileInfo(logPath).Length : 0;

        // The fds the daemon hands QEMU: its own copies close once QEMU has them, whatever happens.
        // The monitor socket is the daemon's: it can connect at once (no polling for the path to
        // appear) and QEMU keeps serving the path after a daemon restart. So are the sockets of unix
        // chardevs that listen at a path of their own (a guest agent's, a serial port's): made where
        // the definition says, whoever may write there, QEMU included.
        var handed = new List<int>();
        var chardevFds = new Dictionary<string, int>();
        NicResources? nics = null;
        int pid;
        try
        {
            int fd;
            try
            {
                revert.Add(() => File.Delete(sockPath));
                File.Delete(sockPath);
                handed.Add(fd = UnixListener.Create(sockPath));
                foreach (var path in ListeningChardevPaths(live))
                {
                    File.Delete(path);
                    handed.Add(chardevFds[path] = UnixListener.Create(path));
                }
            }
            catch (IOException e)
            {
                throw new VireoException(ErrorCode.OperationFailed, $"Failed to start domain '{Name}': {e.Message}");
            }
            var sandbox = await _hv.SandboxAsync(live, emulator, ct);
            nics = await _hv.Networks.PrepareNicsAsync(live, ct); // undoes itself when it fails
            revert.Add(() => _hv.Networks.ReleaseNicsAsync(live));
            revert.Add(StopHelpers);
            var tpmSockets = await StartSwtpmAsync(live, channelDir, logPath, ct);
            var ctx = new LaunchContext
            {
                Emulator = emulator,
                MonitorFd = fd,
                StartPaused = true,
                VhostNet = _hv.VhostNet,
                ChannelDir = channelDir,
                TapFds = nics.Fds,
                Incoming = incoming,
                SpicePort = FreeSpicePort(live),
                HugepagesMount = HugepagesMount(live),
                TpmSockets = tpmSockets,
                PidFile = _o.PidFile(Name),
                Sandbox = sandbox,
                ChardevFds = chardevFds,
            };
            List<string> argv;
            try { argv = QemuArgv.Build(live, ctx); }
            catch (LaunchException e) { throw new VireoException(ErrorCode.InvalidArgument, e.Message); }
            await File.AppendAllTextAsync(logPath, $"{_o.Time.GetUtcNow():O}: starting up\n{QemuArgv.Printable(argv)}\n", ct);
            try
            {
                StartVirtiofsd(live, channelDir, logPath);
                pid = Spawner.Spawn(user is null ? argv : user.Wrap(argv, lockMemory: live.MemoryBacking?.Locked == true), logPath, [.. handed, .. nics.Fds.Values]);
            }
            catch (CommandException e)
            {
                throw new VireoException(ErrorCode.OperationFailed, $"Failed to start domain '{Name}': {e.Message}");
            }
        }
        finally
        {
            foreach (var f in handed) UnixListener.Close(f); // QEMU has its own copies
            nics?.Dispose();                                  // and of the taps: they now live as long as QEMU does
        }

        var spawned = clock.Elapsed.TotalMilliseconds;
        var watch = ProcessWatch.Start(pid, ownChild: true)!;
        QmpClient? qmp = null;
        revert.Add(() => RemoveCgroups(live));
        revert.Add(CleanupRunFiles);
        revert.Add(async () =>
        {
            ProcessWatch.Signal(pid, 9);
            await watch.Exited;
            if (qmp is not null) await qmp.DisposeAsync();
        });
        double ready;
        try
        {
            // Recorded at once: a daemon killed mid-start finds this QEMU and ends it, instead of
            // leaving a half-started guest nobody knows about. A write that fails (a full disk)
            // fails the start: a guest the next daemon could not find must not run.
            new Status(pid, ProcessWatch.StartTime(pid) ?? 0, 0, DomainState.Paused, StartingUp, Persistent, DomainXml.Write(live)).Save(_o.StatusFile(Name));
            qmp = await QmpClient.ConnectAsync(sockPath, Name, ct);
            ready = clock.Elapsed.TotalMilliseconds;
            await FillRuntimeInfoAsync(qmp, live, ct);
            await ApplyRuntimeSettingsAsync(qmp, live, ct);
            await ApplyTuningAsync(qmp, live, pid, ct);
            if (beforeRun is not null) await beforeRun(qmp);
            if (!paused) await qmp.ExecuteAsync("cont", null, ct);
        }
        catch (Exception e)
        {
            // QEMU ended first: its last log lines then say all it will say.
            await revert.RevertAsync();
            // QEMU refusing a setup command is the reason (its log only says what it set up); else QEMU died, and its log says why.
            var why = e is QmpErrorException or IOException ? e.Message : LogTail(logPath, logOffset);
            Log.StartFailed(_log, e, Name);
            throw new VireoException(ErrorCode.OperationFailed,
                $"Failed to start domain '{Name}': {(why.Length > 0 ? why : e.Message)}");
        }

        lock (_state)
        {
            Live = live;
            Pid = pid;
            Id = _hv.NextId();
            _qmp = qmp;
            _watch = watch;
            _startTime = ProcessWatch.StartTime(pid) ?? 0;
            _runUser = user;
            _expectedStop = null;
            _shutdownReason = null;
            _fakeReboot = false;
            _guestReset = false;
            _pauseReason = paused ? "user" : null;
            _stopped = NewStopped();
            State = paused ? DomainState.Paused : DomainState.Running;
            Reason = paused ? "user" : startDetail.ToLowerInvariant();
        }
        // From here on the guest runs: nothing is undone, and its exit must be seen.
        revert.Commit();
        var running = clock.Elapsed.TotalMilliseconds;
        SaveStatus();
        _bus.Publish(Name, "Started", startDetail);
        if (paused) _bus.Publish(Name, "Suspended", "Paused");
        // The worker before anything that can fail.
        _ = RunWorkerAsync(qmp, watch);
        if (live.Devices.Interfaces.Any(i => i.Type == "network" && i.PortForwards.Count > 0))
        {
            // A firewall that cannot be rewritten does not undo a running guest: it runs, the
            // failure is logged and the next refresh (any network or guest change) tries again.
            try { await _hv.Networks.RefreshFirewallAsync(CancellationToken.None); }
            catch (Exception e) when (e is FirewallException or CommandException) { Log.FirewallFailed(_log, e); }
        }
        Log.Started(_log, Name, pid, clock.Elapsed.TotalMilliseconds, spawned, ready, running);
    }

    /// <summary>Reads back what QEMU chose at start: pty paths, the VNC port.</summary>
    private static async Task FillRuntimeInfoAsync(QmpClient qmp, DomainDef live, CancellationToken ct)
    {
        var chars = live.Devices.Serials.Concat(live.Devices.Consoles).Concat(live.Devices.Channels).Where(c => c.Type == "pty").ToList();
        if (chars.Count > 0)
        {
            var list = (await qmp.ExecuteAsync("query-chardev", null, ct))!.AsArray();
            foreach (var c in chars)
            {
                var label = $"char{c.Alias}";
                var entry = list.FirstOrDefault(x => x!["label"]?.GetValue<string>() == label);
                if (entry?["filename"]?.GetValue<string>() is { } fn && fn.StartsWith("pty:"))
                    c.SourcePath = fn[4..];
            }
            // A console on a serial target shows the serial port's pty.
            foreach (var con in live.Devices.Consoles.Where(c => c.TargetType == "serial" && c.Type == "pty"))
                con.SourcePath = live.Devices.Serials.FirstOrDefault(s => s.TargetPort == (con.TargetPort ?? 0))?.SourcePath ?? con.SourcePath;
        }
        if (live.Devices.Graphics.FirstOrDefault(g => g.Type == "vnc") is { } vnc)
        {
            var info = await qmp.ExecuteAsync("query-vnc", null, ct) as JsonObject;
            if (info?["service"]?.GetValue<string>() is { } port && int.TryParse(port, out var p)) vnc.Port = p;
        }
        if (live.Devices.Graphics.FirstOrDefault(g => g.Type == "spice" && g.ListenType != "none") is { } spice)
        {
            var info = await qmp.ExecuteAsync("query-spice", null, ct) as JsonObject;
            if (info?["port"]?.GetValue<int>() is { } p and > 0) spice.Port = p;
        }
    }

    private static string LogTail(string path, long offset)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            fs.Seek(offset, SeekOrigin.Begin);
            var text = new StreamReader(fs).ReadToEnd();
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Where(l => !l.Contains(": starting up") && !l.StartsWith('/') && !l.StartsWith("qemu-system-x86_64 -") && !l.StartsWith("char device redirected to"))
                .Select(l => System.Text.RegularExpressions.Regex.Replace(l, @"^\d{4}-\d\d-\d\dT[\d:.]+Z? ", ""))
                .TakeLast(3);
            return string.Join(" ", lines).Trim();
        }
        catch (IOException) { return ""; }
    }

    /// <summary>The paths of the unix chardevs that listen (mode bind, the default) at a path the definition gives.</summary>
    private static IEnumerable<string> ListeningChardevPaths(DomainDef d) =>
        d.Devices.Serials.Concat(d.Devices.Consoles).Concat(d.Devices.Channels).Concat(d.Devices.Parallels)
            .Where(c => c.Type == "unix" && c.SourceMode != "connect" && c.SourcePath is not null).Select(c => c.SourcePath!).Distinct();

    private void CleanupRunFiles()
    {
        foreach (var f in new[] { _o.MonitorSocket(Name), _o.StatusFile(Name), _o.PidFile(Name) })
            try { File.Delete(f); } catch (IOException) { }
        try
        {
            if (Directory.Exists(_o.ChannelDir(Name))) Directory.Delete(_o.ChannelDir(Name), recursive: true);
        }
        catch (IOException) { }
    }

    private const string StartingUp = "starting up";

    /// <summary>Adopts a QEMU left running by an earlier daemon (after a restart or a crash).</summary>
    internal async Task<bool> AdoptAsync(Status st, CancellationToken ct)
    {
        var liveStart = ProcessWatch.StartTime(st.Pid);
        if (liveStart is null || liveStart != st.StartTime)
        {
            Log.EndedWhileAway(_log, Name, st.Pid);
            CleanupRunFiles();
            lock (_state) { State = DomainState.Shutoff; Reason = "unknown"; }
            if (st.Persistent) FinishFirstBoot(DomainXml.Parse(st.LiveXml), guestRebooted: false);
            return false;
        }
        var watch = ProcessWatch.Start(st.Pid, ownChild: false);
        if (watch is null) { CleanupRunFiles(); return false; }
        if (st.Reason == StartingUp)
        {
            // The previous daemon died half-way through starting it: finish the job by ending it.
            Log.HalfStarted(_log, Name, st.Pid);
            ProcessWatch.Signal(st.Pid, 9);
            await watch.Exited;
            CleanupRunFiles();
            lock (_state) { State = DomainState.Shutoff; Reason = "daemon"; }
            return false;
        }
        // A QEMU that is stopped (SIGSTOP) or hung accepts the connection and never greets: it is
        // adopted without its monitor at once (the daemon's start waits for no guest), and the
        // monitor is reconnected in the background when QEMU answers again.
        var (qmp, running) = await ConnectAdoptedAsync(st.Pid, ct);
        var adopted = DomainXml.Parse(st.LiveXml);
        // The live XML names pool volumes, not their paths: find them again (pools load first).
        foreach (var disk in adopted.Devices.Disks.Where(x => x.Type == "volume"))
        {
            try { (disk.Source, disk.Format) = _hv.Storage.Resolve(disk); }
            catch (VireoException) { }
        }
        lock (_state)
        {
            Live = adopted;
            Pid = st.Pid;
            Id = st.Id;
            _startTime = st.StartTime;
            // Its start recorded what it gave a confined QEMU: later hot-plugs are given too.
            _runUser = File.Exists(_o.DacRecord(Name)) ? _o.QemuUser : null;
            _qmp = qmp;
            _watch = watch;
            _stopped = NewStopped();
            State = running ? DomainState.Running : DomainState.Paused;
            Reason = qmp is null ? "unknown"
                : running ? (st.State == DomainState.Running ? st.Reason : "unpaused") : (st.State == DomainState.Paused ? st.Reason : "unknown");
        }
        if (qmp is not null)
        {
            try { await ReconcileDevicesAsync(qmp, ct); }
            catch (Exception e) when (e is QmpDisconnectedException or QmpErrorException or TimeoutException) { Log.EventFailed(_log, e, "qom-list", Name); }
            _ = RunWorkerAsync(qmp, watch);
        }
        else _ = ReconnectLaterAsync(watch);
        return true;
    }

    private static readonly TimeSpan AdoptTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The monitor of an adopted QEMU and whether its CPUs run; (null, true) when it does not answer now.</summary>
    private async Task<(QmpClient? Qmp, bool Running)> ConnectAdoptedAsync(int pid, CancellationToken ct)
    {
        if (ProcessWatch.IsStopped(pid)) { Log.MonitorUnreachable(_log, null, Name, pid); return (null, true); }
        QmpClient? qmp = null;
        try
        {
            qmp = await QmpClient.ConnectAsync(_o.MonitorSocket(Name), Name, ct, AdoptTimeout);
            var status = await qmp.ExecuteAsync("query-status", null, AdoptTimeout, ct);
            return (qmp, status?["running"]?.GetValue<bool>() ?? false);
        }
        catch (Exception e) when (e is QmpDisconnectedException or QmpErrorException or TimeoutException or InvalidOperationException)
        {
            // The guest runs but will not talk: keep it (never kill a running guest on a
            // reconnect problem); it can still be destroyed, and its exit is still seen.
            Log.MonitorUnreachable(_log, e, Name, pid);
            if (qmp is not null) await qmp.DisposeAsync();
            return (null, true);
        }
    }

    /// <summary>Watches an adopted guest whose monitor did not answer, and takes the monitor back once QEMU answers.</summary>
    private async Task ReconnectLaterAsync(ProcessWatch watch)
    {
        while (!watch.Exited.IsCompleted)
        {
            if (await Task.WhenAny(watch.Exited, Task.Delay(TimeSpan.FromSeconds(2))) == watch.Exited) break;
            if (ProcessWatch.IsStopped(watch.Pid)) continue;
            QmpClient qmp;
            try { qmp = await QmpClient.ConnectAsync(_o.MonitorSocket(Name), Name, CancellationToken.None, AdoptTimeout); }
            catch (Exception e) when (e is QmpDisconnectedException or QmpErrorException or TimeoutException) { continue; }
            lock (_state)
            {
                if (!ReferenceEquals(_watch, watch)) { _ = qmp.DisposeAsync(); return; }
                _qmp = qmp;
            }
            Log.Reconnected(_log, Name, watch.Pid);
            try
            {
                if ((await qmp.ExecuteAsync("query-status", null, AdoptTimeout, CancellationToken.None))?["running"]?.GetValue<bool>() == false)
                    SetState(DomainState.Paused, "unknown", "Suspended", "Paused");
            }
            catch (Exception e) when (e is QmpDisconnectedException or QmpErrorException or TimeoutException) { }
            await RunWorkerAsync(qmp, watch);
            return;
        }
        await OnExitAsync(await watch.Exited);
    }
}
