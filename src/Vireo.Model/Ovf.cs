using System.Globalization;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>What an OVF descriptor (the .ovf inside an OVA) says about its machine.</summary>
public sealed record OvfMachine(string Name, int Cpus, ulong MemoryMiB, IReadOnlyList<OvfDisk> Disks, int Nics);

/// <summary>A disk: the file in the package, and the bus its controller suggests (ide, sata, scsi).</summary>
public sealed record OvfDisk(string File, string? Bus);

/// <summary>
/// Reads OVF 1.x/2.x descriptors as VMware, VirtualBox and others export them: the virtual
/// system's name, CPUs, memory, disks (through DiskSection and References) and NICs.
/// </summary>
public static class Ovf
{
    private static readonly XNamespace Rasd = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";

    /// <summary>References by id; an id given twice makes the descriptor ambiguous, and is refused by name.</summary>
    private static Dictionary<string, T> Unique<T>(IEnumerable<(string Id, T Value)>? entries, string what)
    {
        var result = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var (id, value) in entries ?? [])
            if (!result.TryAdd(id, value))
                throw new DefinitionException([new Problem($"The OVF descriptor gives {what} '{id}' twice; each id must be unique.")]);
        return result;
    }

    public static OvfMachine Parse(string xml)
    {
        var root = XmlLimits.Parse(xml, "The OVF descriptor");
        if (root.Name.LocalName != "Envelope")
            throw new DefinitionException([new Problem($"The OVF descriptor's root is <{root.Name.LocalName}>, not <Envelope>.")]);
        XNamespace ovf = root.Name.Namespace;
        string? OvfAttr(XElement e, string name) => (e.Attribute(ovf + name) ?? e.Attribute(name))?.Value;

        var files = Unique(root.Element(ovf + "References")?.Elements(ovf + "File")
            .Where(f => OvfAttr(f, "id") is not null && OvfAttr(f, "href") is not null)
            .Select(f => (OvfAttr(f, "id")!, OvfAttr(f, "href")!)), "<File ovf:id>");
        var disks = Unique(root.Element(ovf + "DiskSection")?.Elements(ovf + "Disk")
            .Where(d => OvfAttr(d, "diskId") is not null)
            .Select(d => (OvfAttr(d, "diskId")!, OvfAttr(d, "fileRef"))), "<Disk ovf:diskId>");
        var system = root.Descendants(ovf + "VirtualSystem").FirstOrDefault()
            ?? throw new DefinitionException([new Problem("The OVF descriptor has no <VirtualSystem>.")]);
        var name = system.Element(ovf + "Name")?.Value.Trim() is { Length: > 0 } n ? n : OvfAttr(system, "id") ?? "imported";

        var items = system.Descendants().Where(e => e.Name.LocalName == "Item").ToList();
        string? Rasd(XElement item, string field) => item.Elements().FirstOrDefault(e => e.Name.LocalName == field)?.Value.Trim();
        int Type(XElement item) => int.TryParse(Rasd(item, "ResourceType"), out var t) ? t : 0;

        var cpus = items.Where(i => Type(i) == 3).Select(i => int.TryParse(Rasd(i, "VirtualQuantity"), out var c) ? c : 1).FirstOrDefault(1);
        ulong memory = 1024;
        if (items.FirstOrDefault(i => Type(i) == 4) is { } mem && ulong.TryParse(Rasd(mem, "VirtualQuantity"), NumberStyles.None, CultureInfo.InvariantCulture, out var q))
            memory = MiB(q, Rasd(mem, "AllocationUnits"));

        var controllers = Unique(items.Where(i => Type(i) is 5 or 6 or 20).Select(i => (Rasd(i, "InstanceID") ?? "", Type(i) switch { 5 => "ide", 6 => "scsi", _ => "sata" })), "controller <rasd:InstanceID>");
        var result = new List<OvfDisk>();
        foreach (var item in items.Where(i => Type(i) == 17))
        {
            var host = Rasd(item, "HostResource") ?? "";
            // "ovf:/disk/vmdisk1" names a Disk; "ovf:/file/file1" names a File directly.
            var id = host.Split('/').LastOrDefault() ?? "";
            string? href = null;
            if (host.Contains("/disk/", StringComparison.Ordinal) && disks.TryGetValue(id, out var fileRef) && fileRef is not null) files.TryGetValue(fileRef, out href);
            else if (host.Contains("/file/", StringComparison.Ordinal)) files.TryGetValue(id, out href);
            if (href is null) throw new DefinitionException([new Problem($"Disk item '{Rasd(item, "ElementName")}' points at '{host}', which the descriptor's References do not hold.")]);
            result.Add(new OvfDisk(href, controllers.GetValueOrDefault(Rasd(item, "Parent") ?? "")));
        }
        return new OvfMachine(name, Math.Max(1, cpus), memory, result, items.Count(i => Type(i) == 10));
    }

    /// <summary>OVF's programmatic units ("byte * 2^20", "MegaBytes", "GigaBytes") to MiB.</summary>
    private static ulong MiB(ulong quantity, string? units)
    {
        var u = (units ?? "byte * 2^20").Replace(" ", "").ToLowerInvariant();
        return u switch
        {
            "byte*2^20" or "megabytes" or "mb" => quantity,
            "byte*2^30" or "gigabytes" or "gb" => quantity * 1024,
            "byte*2^10" or "kilobytes" or "kb" => quantity / 1024,
            "byte" or "bytes" => quantity >> 20,
            _ => quantity,
        };
    }
}
