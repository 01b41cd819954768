using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>
/// save / restore / managedsave: the guest's memory and device state written by QEMU's migration
/// stream into a file (passed as an fd), behind a header holding the domain XML it needs to come
/// back. Format: "VireoSave1\n", u32 XML length, u8 running, XML, zero padding to 4 KiB, QEMU stream.
/// </summary>
public sealed partial class Vm
{
    private static readonly byte[] SaveMagic = "VireoSave1\n"u8.ToArray();
    private const int SaveHeaderAlign = 4096;

    public bool HasManagedSave => File.Exists(_o.ManagedSaveFile(Name));

    /// <summary>Saves the running guest to a file and stops it (reason "saved").</summary>
    public async Task SaveAsync(string path, bool? runningAfterRestore, IProgress<double>? progress, CancellationToken ct)
    {
        CheckSave(path);
        await _opLock.WaitAsync(ct);
        try { await SaveCoreAsync(path, runningAfterRestore, progress, ct); }
        finally { _opLock.Release(); }
    }

    /// <summary>What save (to <paramref name="path"/>) or managedsave (path null) needs, asked before a caller reports progress.</summary>
    public void CheckSave(string? path)
    {
        if (path is not null && (path.Length == 0 || !Path.IsPathFullyQualified(path)))
            throw new VireoException(ErrorCode.InvalidArgument, $"The save file must be an absolute path, not '{path}'.");
        if (!IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; there is no state to save.");
        if (path is null && !Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is transient; a managed save needs a definition to come back to. Use 'vireo save {Name} FILE'.");
    }

    public Task ManagedSaveAsync(bool? running, IProgress<double>? progress, CancellationToken ct)
    {
        CheckSave(null);
        Directory.CreateDirectory(Path.GetDirectoryName(_o.ManagedSaveFile(Name))!);
        return SaveAsync(_o.ManagedSaveFile(Name), running, progress, ct);
    }

    public void RemoveManagedSave()
    {
        if (!HasManagedSave) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' has no managed save image.");
        File.Delete(_o.ManagedSaveFile(Name));
    }

    private async Task SaveCoreAsync(string path, bool? runningAfterRestore, IProgress<double>? progress, CancellationToken ct)
    {
        var qmp = Monitor();
        var wasRunning = State == DomainState.Running;
        var xml = Encoding.UTF8.GetBytes(DomainXml.Write(Live!));
        FileStream file;
        try { file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VireoException(ErrorCode.InvalidArgument, $"Cannot write the save file '{path}': {e.Message}");
        }
        var ok = false;
        try
        {
            var header = new byte[Align(SaveMagic.Length + 5 + xml.Length)];
            SaveMagic.CopyTo(header, 0);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(SaveMagic.Length), (uint)xml.Length);
            header[SaveMagic.Length + 4] = (byte)((runningAfterRestore ?? wasRunning) ? 1 : 0);
            xml.CopyTo(header, SaveMagic.Length + 5);
            file.Write(header);
            file.Flush();
            if (wasRunning)
            {
                lock (_state) _pauseReason = "saving";
                await qmp.ExecuteAsync("stop", null, ct);
            }
            await qmp.ExecuteWithFdAsync("getfd", new JsonObject { ["fdname"] = "vireo-save" }, (int)file.SafeFileHandle.DangerousGetHandle(), ct);
            await qmp.ExecuteAsync("migrate", new JsonObject { ["uri"] = "fd:vireo-save" }, ct);
            await WaitForMigrationAsync(qmp, progress, ct);
            file.Flush(flushToDisk: true);
            ok = true;
        }
        catch (Exception e) when (e is QmpErrorException or IOException)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot save '{Name}' to '{path}': {e.Message}");
        }
        finally
        {
            await file.DisposeAsync();
            if (!ok)
            {
                try { File.Delete(path); } catch (IOException) { }
                if (wasRunning && IsActive) try { await qmp.ExecuteAsync("cont", null, CancellationToken.None); } catch (QmpErrorException) { }
            }
        }
        await StopQemuAsync("saved", ct);
    }

    private static int Align(int n) => (n + SaveHeaderAlign - 1) / SaveHeaderAlign * SaveHeaderAlign;

    private static async Task WaitForMigrationAsync(QmpClient qmp, IProgress<double>? progress, CancellationToken ct)
    {
        while (true)
        {
            var m = await qmp.ExecuteAsync("query-migrate", null, ct);
            var status = m?["status"]?.GetValue<string>();
            if (m?["ram"] is JsonObject ram && (ram["total"]?.GetValue<double>() ?? 0) is > 0 and var total)
                progress?.Report(100.0 * (ram["transferred"]?.GetValue<double>() ?? 0) / total);
            switch (status)
            {
                case "completed": progress?.Report(100); return;
                case "failed" or "cancelled":
                    throw new QmpErrorException("migrate", "MigrationFailed", m?["error-desc"]?.GetValue<string>() ?? status);
            }
            await Task.Delay(20, ct);
        }
    }

    /// <summary>Reads a save file's header: the domain XML and whether the guest ran.</summary>
    public static (DomainDef Def, bool Running, long Offset) ReadSaveHeader(string path)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
            var head = new byte[SaveMagic.Length + 5];
            f.ReadExactly(head);
            if (!head.AsSpan(0, SaveMagic.Length).SequenceEqual(SaveMagic))
                throw new VireoException(ErrorCode.InvalidArgument, $"'{path}' is not a Vireo save file (made by 'vireo save' or managedsave).");
            var len = (int)BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(SaveMagic.Length));
            var running = head[SaveMagic.Length + 4] == 1;
            var xml = new byte[len];
            f.ReadExactly(xml);
            return (DomainXml.Parse(Encoding.UTF8.GetString(xml)), running, Align(head.Length + len));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EndOfStreamException or DefinitionException)
        {
            throw new VireoException(ErrorCode.InvalidArgument, $"Cannot read the save file '{path}': {e.Message}");
        }
    }

    /// <summary>Starts QEMU on the saved state; the guest goes on where it stopped.</summary>
    public async Task RestoreAsync(string path, bool? paused, CancellationToken ct)
    {
        await _opLock.WaitAsync(ct);
        try { await RestoreCoreAsync(path, paused, ct); }
        finally { _opLock.Release(); }
    }

    private async Task RestoreCoreAsync(string path, bool? paused, CancellationToken ct)
    {
        if (IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is already running.");
        var (saved, running, offset) = ReadSaveHeader(path);
        if (saved.Uuid != Uuid)
            throw new VireoException(ErrorCode.InvalidArgument, $"'{path}' holds domain '{saved.Name}' ({saved.Uuid}), not '{Name}' ({Uuid}).");
        // Host-side names QEMU chose last time are chosen again.
        foreach (var nic in saved.Devices.Interfaces.Where(n => n.TargetDev is { } t && (t.StartsWith("vnet") || t.StartsWith("macvtap")))) nic.TargetDev = null;
        var emulator = Preflight(saved);
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        file.Position = offset;
        var stayPaused = paused ?? !running;
        await LaunchAsync(saved, emulator, stayPaused, ct, incoming: true, beforeRun: async qmp =>
        {
            await qmp.ExecuteWithFdAsync("getfd", new JsonObject { ["fdname"] = "vireo-restore" }, (int)file.SafeFileHandle.DangerousGetHandle(), ct);
            await qmp.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = "fd:vireo-restore" }, ct);
            await WaitForMigrationAsync(qmp, null, ct);
        }, startDetail: "Restored");
    }

    /// <summary>start of a domain with a managed save: restored from it, and the image removed once the guest runs again.</summary>
    private async Task<bool> StartFromManagedSaveAsync(bool paused, CancellationToken ct)
    {
        var file = _o.ManagedSaveFile(Name);
        if (!File.Exists(file)) return false;
        try { await RestoreCoreAsync(file, paused ? true : null, ct); }
        catch (VireoException e)
        {
            throw new VireoException(e.Code, $"{e.Message} The managed save image stays; 'vireo managedsave-remove {Name}' discards it and the next start boots afresh.");
        }
        File.Delete(file);
        return true;
    }
}

/// <summary>What a host shutdown does to a running guest, as the domain asks in its metadata.</summary>
public static class HostShutdown
{
    public const string Namespace = "https://vireo.dev/xmlns/domain/1";

    /// <summary>&lt;metadata&gt;&lt;vireo:hostShutdown xmlns:vireo='…' action='save|shutdown|none'/&gt;: save keeps the guest's state for the next boot (managed save).</summary>
    public static string ActionOf(DomainDef d) =>
        d.Metadata?.Element(System.Xml.Linq.XName.Get("hostShutdown", Namespace))?.Attribute("action")?.Value switch
        {
            "save" => "save",
            "none" => "none",
            _ => "shutdown",
        };
}
