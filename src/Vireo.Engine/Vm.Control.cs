using System.Text.Json.Nodes;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

public sealed partial class Vm
{
    /// <summary>Presses the ACPI power button and waits for the guest to power off.</summary>
    /// <returns>False when the guest did not power off within the timeout.</returns>
    public async Task<bool> ShutdownAsync(TimeSpan? timeout, CancellationToken ct = default)
    {
        Task stopped;
        await _opLock.WaitAsync(ct);
        try
        {
            var qmp = Monitor();
            if (State == DomainState.Paused)
                throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is paused and cannot react to the power button; resume it first or use destroy.");
            stopped = _stopped.Task;
            await qmp.ExecuteAsync("system_powerdown", null, ct);
        }
        finally
        {
            _opLock.Release();
        }
        if (timeout is not { } t) return true;
        // Wait without holding the operation lock: destroy must stay possible meanwhile.
        try
        {
            await stopped.WaitAsync(t, _o.Time, ct);
        }
        catch (TimeoutException)
        {
            return false;
        }
        // It stopped, but not by shutting down: QEMU died (or was destroyed) meanwhile.
        string reason;
        lock (_state) reason = State == DomainState.Shutoff ? Reason : "shutdown";
        if (reason != "shutdown")
            throw new VireoException(ErrorCode.OperationFailed,
                $"Domain '{Name}' did not shut down: it stopped while shutting down, as {(reason == "crashed" ? "QEMU ended unexpectedly (crashed)" : reason)}.");
        return true;
    }

    /// <summary>Stops the guest at once: SIGTERM to QEMU, SIGKILL if it lingers.</summary>
    /// <remarks>
    /// When another operation holds the lock (a monitor command QEMU does not answer, a long
    /// save), QEMU is signalled first, as libvirt's destroy does: that operation then fails at
    /// once on the closed monitor instead of holding destroy up until it times out.
    /// </remarks>
    public async Task DestroyAsync(CancellationToken ct = default)
    {
        var signalled = false;
        if (!_opLock.Wait(0))
        {
            lock (_state)
            {
                if (State != DomainState.Shutoff && Pid is { } pid)
                {
                    _expectedStop = "destroyed";
                    Terminate(pid);
                    signalled = true;
                }
            }
            await _opLock.WaitAsync(ct);
        }
        try
        {
            if (signalled && State == DomainState.Shutoff && Reason == "destroyed") return;
            await StopQemuAsync("destroyed", ct);
        }
        finally
        {
            _opLock.Release();
        }
    }

    /// <summary>Ends QEMU (SIGTERM, then SIGKILL) and waits for the stop to be recorded with the given reason. Holds no lock.</summary>
    private async Task StopQemuAsync(string reason, CancellationToken ct)
    {
        int pid;
        Task stopped;
        lock (_state)
        {
            if (State == DomainState.Shutoff)
                throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running.");
            stopped = _stopped.Task;
            if (Pid is null)
            {
                // QEMU has already exited and its run is being cleaned up: what remains is to wait for that.
                pid = 0;
            }
            else
            {
                pid = Pid.Value;
                _expectedStop = reason;
            }
        }
        if (pid == 0)
        {
            await stopped.WaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None);
            return;
        }
        Terminate(pid);
        // The grace period is not the caller's to cut short: a cancelled request still ends QEMU.
        if (await Task.WhenAny(stopped, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)) != stopped)
        {
            ProcessWatch.Signal(pid, 9);
            await stopped.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        }
    }

    /// <summary>SIGTERM, and SIGCONT to a stopped QEMU so that it can act on it (a stopped process only takes SIGKILL).</summary>
    private static void Terminate(int pid)
    {
        ProcessWatch.Signal(pid, 15);
        if (ProcessWatch.IsStopped(pid)) ProcessWatch.Signal(pid, 18);
    }

    /// <summary>ACPI reboot as libvirt does it: power button with QEMU told to pause on shutdown, then reset and continue.</summary>
    public async Task RebootAsync(CancellationToken ct = default)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            var qmp = Monitor();
            if (State != DomainState.Running)
                throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is {StateText.Of(State)}; only a running guest can react to the power button. Resume it first, or use reset.");
            lock (_state) _fakeReboot = true;
            await qmp.ExecuteAsync("set-action", new JsonObject { ["shutdown"] = "pause" }, ct);
            await qmp.ExecuteAsync("system_powerdown", null, ct);
        }
        finally
        {
            _opLock.Release();
        }
    }

    public Task ResetAsync(CancellationToken ct = default) => SimpleAsync("system_reset", null, null, ct);

    public Task SuspendAsync(CancellationToken ct = default) =>
        SimpleAsync("stop", DomainState.Running, () => SetState(DomainState.Paused, "user", "Suspended", "Paused"), ct, before: () => _pauseReason = "user");

    public Task ResumeAsync(CancellationToken ct = default) =>
        SimpleAsync("cont", DomainState.Paused, () => SetState(DomainState.Running, "unpaused", "Resumed", "Unpaused"), ct);

    private async Task SimpleAsync(string command, DomainState? required, Action? after, CancellationToken ct, Action? before = null)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            var qmp = Monitor();
            if (required is { } r && State != r)
                throw new VireoException(ErrorCode.InvalidOperation,
                    r == DomainState.Paused ? $"Domain '{Name}' is not paused." : $"Domain '{Name}' is not running (it is {StateText.Of(State)}).");
            lock (_state) before?.Invoke();
            await qmp.ExecuteAsync(command, null, ct);
            after?.Invoke();
        }
        finally
        {
            _opLock.Release();
        }
    }

    /// <summary>qemu-monitor-command: raw QMP JSON, or an HMP command line.</summary>
    public async Task<string> MonitorCommandAsync(string command, bool hmp, CancellationToken ct = default)
    {
        var qmp = Monitor();
        try
        {
            if (hmp) return await qmp.HumanCommandAsync(command, ct);
            var reply = await qmp.RawAsync(command, ct);
            return reply.ToJsonString();
        }
        catch (ArgumentException e)
        {
            throw new VireoException(ErrorCode.InvalidArgument, e.Message);
        }
        catch (QmpErrorException e)
        {
            throw new VireoException(ErrorCode.OperationFailed, e.Message);
        }
    }

    /// <summary>
    /// virsh screenshot: QEMU's screendump of a display head into a file of the domain's run
    /// directory, as PPM (what libvirt 9.0 returns, image/x-portable-pixmap). The caller reads and
    /// removes the file.
    /// </summary>
    public async Task<string> ScreenshotAsync(uint screen, CancellationToken ct = default)
    {
        var qmp = Monitor();
        var videos = Live?.Devices.Videos.Where(v => v.Model != "none").ToList() ?? [];
        if (videos.Count == 0)
            throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' has no screen to take a screenshot of; add a <video> device (and <graphics>) to its definition.");
        var heads = videos.Sum(v => Math.Max(1, v.Heads ?? 1));
        if (screen >= heads)
            throw new VireoException(ErrorCode.InvalidArgument, $"Screen {screen} does not exist: domain '{Name}' has {heads} screen(s), numbered from 0.");
        var file = Path.Combine(_o.DomainRunDir, $"{Name}.screendump.{Guid.NewGuid():N}.ppm");
        try
        {
            if (_runUser is not null)
            {
                // Made for a confined QEMU, which may not create files in the run dir.
                File.WriteAllBytes(file, []);
                await GiveToRunningQemuAsync(file, write: true, ct);
            }
            var args = new JsonObject { ["filename"] = file };
            if (screen > 0) args["head"] = screen;
            await qmp.ExecuteAsync("screendump", args, ct);
        }
        catch (Exception e) when (e is QmpErrorException or VireoException)
        {
            File.Delete(file);
            if (e is VireoException) throw;
            throw new VireoException(ErrorCode.OperationFailed, $"QEMU cannot take a screenshot of '{Name}': {e.Message}");
        }
        return file;
    }

    /// <summary>Throws with the reason when the console cannot be opened now.</summary>
    public void CheckConsole(bool force, string? device = null)
    {
        lock (_state) ConsolePath(force, device);
    }

    /// <summary>The pty of the first console (or serial port), or of the one whose alias is <paramref name="device"/> (virsh console DOM serial0).</summary>
    private string ConsolePath(bool force, string? device)
    {
        if (State == DomainState.Shutoff || Live is null)
            throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running.");
        var chars = Live.Devices.Consoles.Concat(Live.Devices.Serials).Concat(Live.Devices.Channels);
        CharDef ch;
        if (device is not null)
        {
            var aliases = Live.Devices.Consoles.Concat(Live.Devices.Serials).Select(c => c.Alias).OfType<string>().Distinct().ToList();
            ch = chars.FirstOrDefault(c => c.Alias == device)
                 ?? throw new VireoException(ErrorCode.InvalidArgument, aliases.Count == 0
                     ? $"Domain '{Name}' has no character device '{device}', nor any console or serial port."
                     : $"Domain '{Name}' has no character device '{device}'; its consoles and serial ports are {string.Join(", ", aliases)}.");
            if (ch.Type != "pty" || ch.SourcePath is null)
                throw new VireoException(ErrorCode.InvalidOperation, $"Character device '{device}' of '{Name}' is not a pty (it is type '{ch.Type}'); only pty devices can be opened as a console.");
        }
        else
            ch = Live.Devices.Consoles.FirstOrDefault(c => c.Type == "pty" && c.SourcePath is not null)
                 ?? Live.Devices.Serials.FirstOrDefault(c => c.Type == "pty" && c.SourcePath is not null)
                 ?? throw new VireoException(ErrorCode.InvalidOperation,
                     $"Domain '{Name}' has no console on a pty; add <serial type='pty'><target port='0'/></serial> to its definition.");
        if (_console is not null && !force)
            throw new VireoException(ErrorCode.InvalidOperation, $"A console session for '{Name}' is already open; use --force to take it over.");
        return ch.SourcePath!;
    }

    /// <summary>Opens the guest's serial console (its pty, in raw mode). One session at a time unless forced.</summary>
    public Stream OpenConsole(bool force, string? device = null)
    {
        lock (_state)
        {
            var path = ConsolePath(force, device);
            _console?.Dispose();
            var stream = Pty.OpenRaw(path);
            _console = stream;
            return stream;
        }
    }

    public void CloseConsole(Stream s)
    {
        lock (_state)
        {
            if (ReferenceEquals(_console, s)) _console = null;
        }
        s.Dispose();
    }
}
