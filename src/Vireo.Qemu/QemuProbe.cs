using System.Text.Json.Nodes;
using Vireo.Host;

namespace Vireo.Qemu;

/// <summary>What a QEMU binary offers, asked of QEMU itself (-machine none, over QMP).</summary>
public sealed record QemuCapabilities(
    string Emulator, string Version, IReadOnlyList<(string Name, string? Alias, bool IsDefault, int MaxCpus)> Machines,
    IReadOnlyList<(string Name, bool Usable)> CpuModels, bool KvmPresent)
{
    /// <summary>The device types this QEMU has (qom-list-types implements=device), e.g. qxl-vga, tpm-crb, ich9-intel-hda.</summary>
    public IReadOnlySet<string> Devices { get; init; } = new HashSet<string>();
    /// <summary>The QMP commands it answers (query-spice only where SPICE is built in).</summary>
    public IReadOnlySet<string> Commands { get; init; } = new HashSet<string>();
    /// <summary>query-tpm-types: the TPM back-ends (passthrough, emulator).</summary>
    public IReadOnlyList<string> TpmTypes { get; init; } = [];
    /// <summary>Whether it was built with seccomp (-sandbox), which confined guests run under.</summary>
    public bool Sandbox { get; init; }

    public bool HasDevice(string type) => Devices.Contains(type);
    public bool HasSpice => Commands.Contains("query-spice");

    /// <summary>The versioned machine an alias stands for (q35 → pc-q35-7.2), as libvirt writes it on define so
    /// that a QEMU upgrade does not change the guest's hardware; other names are returned as they are.</summary>
    public string? CanonicalMachine(string? machine) =>
        machine is null ? null : Machines.FirstOrDefault(m => m.Alias == machine).Name ?? machine;
}

public static class QemuProbe
{
    public static async Task<QemuCapabilities> ProbeAsync(string emulator, string scratchDir, CancellationToken ct = default)
    {
        Directory.CreateDirectory(scratchDir);
        var sockPath = Path.Combine(scratchDir, $"probe-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        var fd = UnixListener.Create(sockPath);
        int pid;
        try
        {
            pid = Spawner.Spawn(
                [emulator, "-machine", "none,accel=tcg", "-nodefaults", "-display", "none", "-no-user-config",
                 "-chardev", $"socket,id=m,fd={fd},server=on,wait=off", "-mon", "chardev=m,mode=control"],
                "/dev/null", [fd]);
        }
        finally
        {
            UnixListener.Close(fd);
        }
        using var watch = ProcessWatch.Start(pid, ownChild: true);
        try
        {
            await using var qmp = await QmpClient.ConnectAsync(sockPath, "capabilities probe", ct);
            var version = qmp.Greeting?["version"]?["qemu"] is JsonObject v
                ? $"{v["major"]}.{v["minor"]}.{v["micro"]}" : "unknown";
            var machines = (await qmp.ExecuteAsync("query-machines", null, ct))!.AsArray()
                .Select(m => (m!["name"]!.GetValue<string>(), m["alias"]?.GetValue<string>(), m["is-default"]?.GetValue<bool>() ?? false, m["cpu-max"]?.GetValue<int>() ?? 1))
                .OrderBy(m => m.Item1, StringComparer.Ordinal).ToList();
            var cpus = (await qmp.ExecuteAsync("query-cpu-definitions", null, ct))!.AsArray()
                .Select(c => (c!["name"]!.GetValue<string>(), (c["unavailable-features"]?.AsArray().Count ?? 0) == 0))
                .OrderBy(c => c.Item1, StringComparer.Ordinal).ToList();
            var kvm = (await qmp.ExecuteAsync("query-kvm", null, ct))?["present"]?.GetValue<bool>() ?? false;
            var devices = (await qmp.ExecuteAsync("qom-list-types", new JsonObject { ["implements"] = "device", ["abstract"] = false }, ct))!.AsArray()
                .Select(t => t!["name"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
            var commands = (await qmp.ExecuteAsync("query-commands", null, ct))!.AsArray()
                .Select(c => c!["name"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
            var tpmTypes = commands.Contains("query-tpm-types")
                ? (await qmp.ExecuteAsync("query-tpm-types", null, ct))!.AsArray().Select(t => t!.GetValue<string>()).ToList()
                : [];
            // -sandbox is an option group only a seccomp build registers (libvirt asks the same).
            bool sandbox;
            try { sandbox = (await qmp.ExecuteAsync("query-command-line-options", new JsonObject { ["option"] = "sandbox" }, ct)) is JsonArray { Count: > 0 }; }
            catch (QmpErrorException) { sandbox = false; }
            try { await qmp.ExecuteAsync("quit", null, ct); } catch (QmpDisconnectedException) { }
            return new QemuCapabilities(emulator, version, machines, cpus, kvm) { Devices = devices, Commands = commands, TpmTypes = tpmTypes, Sandbox = sandbox };
        }
        finally
        {
            ProcessWatch.Signal(pid, 9);
            if (watch is not null) await watch.Exited;
            File.Delete(sockPath);
        }
    }
}
