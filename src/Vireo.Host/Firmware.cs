using System.Text.Json.Nodes;

namespace Vireo.Host;

/// <summary>
/// QEMU's firmware descriptors (docs/interop/firmware.json): the JSON files that Debian's ovmf
/// package installs in /usr/share/qemu/firmware, overridable by name from /etc/qemu/firmware.
/// libvirt picks UEFI firmware from them; so does Vireo, in the same order (by file name).
/// </summary>
public sealed record FirmwareDescriptor(string File, string Description, string Code, string? VarsTemplate, IReadOnlyList<string> Machines, IReadOnlyList<string> Features)
{
    public bool Has(string feature) => Features.Contains(feature);

    public static readonly string[] SearchDirs = ["/etc/qemu/firmware", "/usr/share/qemu/firmware"];

    /// <summary>The x86_64 UEFI flash descriptors, in priority order.</summary>
    public static IReadOnlyList<FirmwareDescriptor> LoadAll(IEnumerable<string>? dirs = null)
    {
        var byName = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in (dirs ?? SearchDirs).Reverse())   // earlier dirs override later ones
        {
            if (!Directory.Exists(dir)) continue;
            foreach (var f in Directory.EnumerateFiles(dir, "*.json")) byName[Path.GetFileName(f)] = f;
        }
        var list = new List<FirmwareDescriptor>();
        foreach (var path in byName.Values)
        {
            try
            {
                if (Parse(path, System.IO.File.ReadAllText(path)) is { } d) list.Add(d);
            }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidOperationException) { }
        }
        return list;
    }

    public static FirmwareDescriptor? Parse(string file, string json)
    {
        var j = JsonNode.Parse(json);
        if (j?["interface-types"]?.AsArray().Any(x => x?.GetValue<string>() == "uefi") != true) return null;
        var m = j["mapping"];
        if (m?["device"]?.GetValue<string>() != "flash") return null;
        var code = m["executable"]?["filename"]?.GetValue<string>();
        if (code is null) return null;
        var machines = j["targets"]?.AsArray().Where(t => t?["architecture"]?.GetValue<string>() == "x86_64")
            .SelectMany(t => t!["machines"]?.AsArray().Select(x => x!.GetValue<string>()) ?? []).ToList() ?? [];
        if (machines.Count == 0) return null;
        return new FirmwareDescriptor(file, j["description"]?.GetValue<string>() ?? "", code, m["nvram-template"]?["filename"]?.GetValue<string>(),
            machines, j["features"]?.AsArray().Select(x => x!.GetValue<string>()).ToList() ?? []);
    }

    /// <summary>Whether a descriptor's machine glob ("pc-q35-*") covers a machine type; the aliases pc and q35 count as their versioned names.</summary>
    public bool Supports(string machine)
    {
        var m = machine switch { "q35" => "pc-q35-", "pc" => "pc-i440fx-", _ => machine };
        return Machines.Any(g => g.EndsWith('*') ? m.StartsWith(g[..^1], StringComparison.Ordinal) : g == m);
    }
}
