using System.Formats.Tar;
using System.Security.Cryptography;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

public sealed record ImportOptions(string Source, string? Name, string Pool, string Format, ulong? MemoryMiB, int? Vcpus,
    string? Network, string? DiskBus, string? Kernel, string? Initrd, string? Cmdline);

public sealed record ImportResult(Vm Vm, IReadOnlyList<VolumeState> Volumes, string Summary);

/// <summary>
/// vireo import: a foreign disk image (VMDK, VHD/VHDX, VDI, qcow2, raw) or an OVA (tar with an
/// OVF descriptor) becomes pool volumes (qemu-img convert) and a defined domain.
/// </summary>
public static class Importer
{
    public static async Task<ImportResult> ImportAsync(Hypervisor hv, ImportOptions o, IProgress<double>? progress, CancellationToken ct)
    {
        if (!File.Exists(o.Source)) throw new VireoException(ErrorCode.InvalidArgument, $"Cannot import '{o.Source}': No such file.");
        if (o.Format is not ("qcow2" or "raw")) throw new VireoException(ErrorCode.InvalidArgument, $"Import into '{o.Format}' is not supported; use qcow2 or raw.");
        var pool = hv.Storage.GetActive(o.Pool);
        string? work = null;
        var made = new List<VolumeState>();
        try
        {
            OvfMachine machine;
            List<string> diskFiles;
            if (IsTar(o.Source))
            {
                work = Path.Combine(pool.Dir, $".import-{Guid.NewGuid():N}");
                Directory.CreateDirectory(work);
                try { await TarFile.ExtractToDirectoryAsync(o.Source, work, overwriteFiles: false, ct); }
                catch (Exception e) when (e is InvalidDataException or IOException)
                {
                    throw new VireoException(ErrorCode.InvalidArgument, $"Cannot unpack '{o.Source}' as an OVA (tar): {e.Message}");
                }
                var ovfFile = Directory.EnumerateFiles(work, "*.ovf", SearchOption.AllDirectories).FirstOrDefault()
                    ?? throw new VireoException(ErrorCode.InvalidArgument, $"'{o.Source}' holds no .ovf descriptor; an OVA is a tar with one.");
                try { machine = Ovf.Parse(await File.ReadAllTextAsync(ovfFile, ct)); }
                catch (DefinitionException e) { throw new VireoException(ErrorCode.InvalidArgument, $"{Path.GetFileName(ovfFile)}: {e.Message}"); }
                var dir = Path.GetDirectoryName(ovfFile)!;
                await VerifyManifestAsync(dir, ct);
                diskFiles = machine.Disks.Select(d => Path.GetFullPath(Path.Combine(dir, d.File))).ToList();
                foreach (var f in diskFiles.Where(f => !f.StartsWith(work + "/", StringComparison.Ordinal) || !File.Exists(f)))
                    throw new VireoException(ErrorCode.InvalidArgument, $"The OVF descriptor names disk file '{Path.GetFileName(f)}', which the OVA does not hold.");
            }
            else
            {
                machine = new OvfMachine(Path.GetFileNameWithoutExtension(o.Source), 1, 1024, [new OvfDisk(o.Source, null)], 0);
                diskFiles = [Path.GetFullPath(o.Source)];
            }
            if (diskFiles.Count == 0) throw new VireoException(ErrorCode.InvalidArgument, $"'{o.Source}' describes a machine without disks; there is nothing to import.");

            var name = o.Name ?? Sanitize(machine.Name);
            if (hv.All().Any(v => v.Name == name))
                throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{name}' already exists; give the import another --name.");
            var volNames = diskFiles.Select((_, i) => $"{name}{(i == 0 ? "" : $"-{i}")}.{o.Format}").ToList();
            foreach (var v in volNames.Where(v => pool.Find(v) is not null || File.Exists(Path.Combine(pool.Dir, v))))
                throw new VireoException(ErrorCode.InvalidOperation, $"Volume '{v}' already exists in pool '{pool.Name}'; give the import another --name.");

            for (var i = 0; i < diskFiles.Count; i++)
            {
                ImageInfo info;
                try { info = await QemuImg.InfoAsync(diskFiles[i], ct); }
                catch (CommandException e) { throw new VireoException(ErrorCode.InvalidArgument, $"qemu-img cannot read '{Path.GetFileName(diskFiles[i])}': {e.Message}"); }
                if (info.BackingFile is not null)
                    throw new VireoException(ErrorCode.InvalidArgument, $"'{Path.GetFileName(diskFiles[i])}' has a backing file ({info.BackingFile}); import the whole chain flattened (qemu-img convert) instead.");
                var part = i;
                var scaled = progress is null ? null : new Progress<double>(p => progress.Report((part * 100.0 + p) / diskFiles.Count));
                made.Add(await hv.Storage.ImportAsync(diskFiles[i], info.Format, pool.Name, volNames[i], o.Format, scaled, ct));
            }

            var def = new DomainDef
            {
                Type = hv.Kvm.Usable ? "kvm" : "qemu",
                Name = name,
                MemoryKiB = (o.MemoryMiB ?? machine.MemoryMiB) * 1024,
                Vcpus = o.Vcpus ?? machine.Cpus,
            };
            def.Os.Machine = "pc";
            def.Features.Acpi = def.Features.Apic = true;
            if (o.Kernel is not null) { def.Os.Kernel = o.Kernel; def.Os.Initrd = o.Initrd; def.Os.Cmdline = o.Cmdline; }
            else def.Os.BootDevices.Add("hd");
            var counters = new Dictionary<string, int>();
            for (var i = 0; i < made.Count; i++)
            {
                var bus = o.DiskBus ?? machine.Disks[i].Bus ?? "sata";
                var prefix = bus switch { "virtio" => "vd", "ide" => "hd", _ => "sd" };
                var n = counters.GetValueOrDefault(prefix);
                counters[prefix] = n + 1;
                def.Devices.Disks.Add(new DiskDef
                {
                    Type = "volume", SourcePool = pool.Name, SourceVolume = made[i].Name, Format = o.Format,
                    TargetDev = prefix + (char)('a' + n), TargetBus = bus,
                });
            }
            for (var i = 0; i < Math.Max(machine.Nics, o.Network is null ? 0 : 1); i++)
                def.Devices.Interfaces.Add(o.Network is null or "user"
                    ? new InterfaceDef { Type = "user", Model = "virtio" }
                    : new InterfaceDef { Type = "network", SourceNetwork = o.Network, Model = "virtio" });
            def.Devices.Serials.Add(new CharDef { Type = "pty" });
            def.Devices.Consoles.Add(new CharDef { Type = "pty", TargetType = "serial" });
            var (vm, _) = hv.Define(DomainXml.Write(def));
            var summary = $"Domain '{name}' imported: {def.Vcpus} vCPU{(def.Vcpus == 1 ? "" : "s")}, {def.MemoryKiB / 1024} MiB, " +
                string.Join(", ", def.Devices.Disks.Select((d, i) => $"{d.TargetDev} ({d.TargetBus}) = {made[i].Name} in pool '{pool.Name}'"));
            made.Clear(); // they belong to the domain now
            return new ImportResult(vm, [.. vm.Def.Devices.Disks.Select(d => hv.Storage.GetVolume(d.SourcePool!, d.SourceVolume!))], summary);
        }
        finally
        {
            // A failed import leaves nothing: no half-converted volumes, no unpacked OVA.
            foreach (var v in made) try { await hv.Storage.DeleteAsync(v.Pool, v.Name, force: true, CancellationToken.None); } catch (VireoException) { }
            if (work is not null) try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static bool IsTar(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        if (f.Length < 512) return false;
        var b = new byte[5];
        f.Position = 257;
        f.ReadExactly(b);
        return b.AsSpan().SequenceEqual("ustar"u8);
    }

    /// <summary>An OVA's .mf lists "SHA256(file)= hex" (or SHA1) lines; every listed file must match.</summary>
    private static async Task VerifyManifestAsync(string dir, CancellationToken ct)
    {
        foreach (var mf in Directory.EnumerateFiles(dir, "*.mf"))
        {
            foreach (var line in await File.ReadAllLinesAsync(mf, ct))
            {
                var m = System.Text.RegularExpressions.Regex.Match(line, @"^(SHA1|SHA256|SHA512)\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$");
                if (!m.Success) continue;
                var file = Path.Combine(dir, m.Groups[2].Value);
                if (!File.Exists(file)) continue;
                await using var s = File.OpenRead(file);
                byte[] hash = m.Groups[1].Value switch
                {
                    "SHA1" => await SHA1.HashDataAsync(s, ct),
                    "SHA256" => await SHA256.HashDataAsync(s, ct),
                    _ => await SHA512.HashDataAsync(s, ct),
                };
                if (!Convert.ToHexString(hash).Equals(m.Groups[3].Value, StringComparison.OrdinalIgnoreCase))
                    throw new VireoException(ErrorCode.InvalidArgument, $"{m.Groups[2].Value} does not match its {m.Groups[1].Value} in the OVA's manifest; the package is damaged.");
            }
        }
    }

    /// <summary>An OVF name ("Ubuntu 22.04 (x64)") as a domain name ("Ubuntu_22.04_x64").</summary>
    internal static string Sanitize(string name)
    {
        var s = System.Text.RegularExpressions.Regex.Replace(name, "[^A-Za-z0-9_.+:-]+", "_").Trim('_', '.', '-');
        return s.Length == 0 ? "imported" : s.Length > 64 ? s[..64] : s;
    }
}
