using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>A libvirt &lt;pool&gt;: for now the 'dir' kind, a directory of image files.</summary>
public sealed class PoolDef
{
    public string Type { get; set; } = "dir";
    public string Name { get; set; } = "";
    public Guid Uuid { get; set; }
    public string TargetPath { get; set; } = "";
    public string? Mode { get; set; }                   // octal, e.g. 0711
    public int? Owner { get; set; }
    public int? Group { get; set; }

    public PoolDef Clone() => StorageXml.ParsePool(StorageXml.WritePool(this));
}

/// <summary>A libvirt &lt;volume&gt;: one image file in a pool.</summary>
public sealed class VolumeDef
{
    public string Name { get; set; } = "";
    public ulong Capacity { get; set; }
    /// <summary>Bytes to allocate up front; null lets the preallocation mode decide.</summary>
    public ulong? Allocation { get; set; }
    public string Format { get; set; } = "raw";         // raw | qcow2 | iso | vmdk | vdi | vpc | vhdx
    public string? Compat { get; set; }                 // qcow2: 0.10 | 1.1
    public bool LazyRefcounts { get; set; }
    public string? BackingPath { get; set; }
    public string? BackingFormat { get; set; }
    public string? Mode { get; set; }
}

public static class StorageXml
{
    public static PoolDef ParsePool(string xml)
    {
        var root = XmlReading.Load(xml, "pool", "use define for domains and net-define for networks");
        var r = new Reader();
        var p = r.Pool(root);
        r.Problems.ThrowIfAny();
        return p;
    }

    public static VolumeDef ParseVolume(string xml)
    {
        var root = XmlReading.Load(xml, "volume", "vol-create takes a <volume> document");
        var r = new Reader();
        var v = r.Volume(root);
        r.Problems.ThrowIfAny();
        return v;
    }

    private sealed class Reader : XmlReading
    {
        public PoolDef Pool(XElement root)
        {
            var p = new PoolDef { Type = OneOf(root, "type", "dir") ?? "" };
            if (A(root, "type") is null) Problems.Add("The <pool> element needs type='dir'.", root);
            foreach (var e in root.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "name": p.Name = e.Value.Trim(); break;
                    case "uuid": if (Uuid(e) is { } g) p.Uuid = g; break;
                    case "capacity" or "allocation" or "available": break; // live figures, recomputed
                    case "source":
                        foreach (var c in e.Elements()) Unsupported(c, "source"); // a dir pool has no source
                        break;
                    case "target":
                        foreach (var c in e.Elements())
                        {
                            switch (c.Name.LocalName)
                            {
                                case "path": p.TargetPath = c.Value.Trim(); break;
                                case "permissions": Permissions(c, m => p.Mode = m, o => p.Owner = o, g => p.Group = g); break;
                                default: Unsupported(c, "target"); break;
                            }
                        }
                        break;
                    default: Unsupported(e, "pool"); break;
                }
            }
            return p;
        }

        public VolumeDef Volume(XElement root)
        {
            var v = new VolumeDef();
            if (A(root, "type") is { } t && t != "file") BadValue(root.Attribute("type")!, "type of <volume>", t, "'file'");
            var formatGiven = false;
            foreach (var e in root.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "name": v.Name = e.Value.Trim(); break;
                    case "key": break; // the path, recomputed
                    case "capacity": v.Capacity = Size(e) ?? 0; break;
                    case "allocation": v.Allocation = Size(e); break;
                    case "physical": break;
                    case "target":
                        foreach (var c in e.Elements())
                        {
                            switch (c.Name.LocalName)
                            {
                                case "path": break; // decided by the pool
                                case "format": v.Format = OneOf(c, "type", Formats) ?? "raw"; formatGiven = true; break;
                                case "permissions": Permissions(c, m => v.Mode = m, _ => { }, _ => { }); break;
                                case "compat": v.Compat = c.Value.Trim(); break;
                                case "features":
                                    foreach (var f in c.Elements())
                                    {
                                        if (f.Name.LocalName == "lazy_refcounts") v.LazyRefcounts = true;
                                        else Unsupported(f, "features");
                                    }
                                    break;
                                default: Unsupported(c, "target"); break;
                            }
                        }
                        break;
                    case "backingStore":
                        foreach (var c in e.Elements())
                        {
                            switch (c.Name.LocalName)
                            {
                                case "path": v.BackingPath = c.Value.Trim(); break;
                                case "format": v.BackingFormat = OneOf(c, "type", Formats); break;
                                case "permissions": break;
                                default: Unsupported(c, "backingStore"); break;
                            }
                        }
                        break;
                    default: Unsupported(e, "volume"); break;
                }
            }
            if (A(root.Element("capacity"), "unit") is null && root.Element("capacity") is null)
                Problems.Add("A <volume> needs <capacity unit='G'>SIZE</capacity>.", root);
            if (!formatGiven && v.BackingPath is not null) v.Format = "qcow2";
            return v;
        }

        private ulong? Size(XElement e)
        {
            var unit = A(e, "unit") ?? "bytes";
            var text = e.Value.Trim();
            if (text.StartsWith('-')) { Problems.Add($"<{e.Name.LocalName}> of {text} {unit} is negative; sizes are 0 or more.", e); return null; }
            if (Units.Scale(unit) is not { } scale) { Problems.Add($"Unknown unit '{unit}' in <{e.Name.LocalName}>; use bytes, KiB, MiB, GiB, TiB (or K, M, G, T).", e); return null; }
            if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) { Problems.Add($"<{e.Name.LocalName}> '{text}' is not a whole number.", e); return null; }
            var bytes = (System.Numerics.BigInteger)n * scale;
            if (bytes > long.MaxValue) { Problems.Add($"<{e.Name.LocalName}> of {text} {unit} is too large.", e); return null; }
            return (ulong)bytes;
        }

        private void Permissions(XElement e, Action<string> mode, Action<int> owner, Action<int> group)
        {
            foreach (var c in e.Elements())
            {
                var v = c.Value.Trim();
                switch (c.Name.LocalName)
                {
                    case "mode":
                        if (Regex.IsMatch(v, "^0?[0-7]{3,4}$")) mode(v.Length == 3 ? "0" + v : v);
                        else Problems.Add($"Permission mode '{v}' is not an octal mode like 0755.", c);
                        break;
                    case "owner" or "group":
                        if (int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var id) && id >= -1)
                        { if (c.Name.LocalName == "owner") owner(id); else group(id); }
                        else Problems.Add($"<{c.Name.LocalName}> '{v}' is not a numeric id.", c);
                        break;
                    case "label": break;
                    default: Unsupported(c, "permissions"); break;
                }
            }
        }
    }

    public static readonly string[] Formats = ["raw", "qcow2", "iso", "vmdk", "vdi", "vpc", "vhdx"];

    public static string WritePool(PoolDef p, (ulong Capacity, ulong Allocation, ulong Available)? live = null)
    {
        var root = new XElement("pool", new XAttribute("type", p.Type),
            new XElement("name", p.Name),
            p.Uuid == Guid.Empty ? null : new XElement("uuid", p.Uuid.ToString()),
            new XElement("capacity", new XAttribute("unit", "bytes"), live?.Capacity ?? 0),
            new XElement("allocation", new XAttribute("unit", "bytes"), live?.Allocation ?? 0),
            new XElement("available", new XAttribute("unit", "bytes"), live?.Available ?? 0),
            new XElement("source"),
            new XElement("target", new XElement("path", p.TargetPath), PermissionsElement(p.Mode, p.Owner, p.Group)));
        return DomainXml.ToText(root);
    }

    /// <summary>A volume as vol-dumpxml prints it: what qemu-img reports, at its path in the pool.</summary>
    public static string WriteVolume(VolumeDef v, string path, ulong allocation, ulong physical)
    {
        var target = new XElement("target", new XElement("path", path), new XElement("format", new XAttribute("type", v.Format)),
            PermissionsElement(v.Mode, null, null));
        if (v.Compat is not null) target.Add(new XElement("compat", v.Compat));
        if (v.LazyRefcounts) target.Add(new XElement("features", new XElement("lazy_refcounts")));
        var root = new XElement("volume", new XAttribute("type", "file"),
            new XElement("name", v.Name),
            new XElement("key", path),
            new XElement("capacity", new XAttribute("unit", "bytes"), v.Capacity),
            new XElement("allocation", new XAttribute("unit", "bytes"), allocation),
            new XElement("physical", new XAttribute("unit", "bytes"), physical),
            target);
        if (v.BackingPath is not null)
            root.Add(new XElement("backingStore", new XElement("path", v.BackingPath),
                v.BackingFormat is null ? null : new XElement("format", new XAttribute("type", v.BackingFormat))));
        return DomainXml.ToText(root);
    }

    private static XElement? PermissionsElement(string? mode, int? owner, int? group) =>
        mode is null && owner is null && group is null ? null
            : new XElement("permissions",
                mode is null ? null : new XElement("mode", mode),
                owner is null ? null : new XElement("owner", owner),
                group is null ? null : new XElement("group", group));
}

/// <summary>What pool-define and vol-create check.</summary>
public static partial class StorageRules
{
    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.+:-]*$")]
    private static partial Regex VolumeNamePattern();

    public static PoolDef ParsePoolForDefine(string xml, IReadOnlyCollection<PoolDef> others, out bool uuidGiven)
    {
        var p = StorageXml.ParsePool(xml);
        uuidGiven = p.Uuid != Guid.Empty;
        if (p.Uuid == Guid.Empty) p.Uuid = Guid.NewGuid();
        var problems = new List<Problem>();
        if (string.IsNullOrEmpty(p.Name)) problems.Add(new("The pool needs a <name>."));
        else if (p.Name.Length > 200 || !DomainRules.NamePattern().IsMatch(p.Name))
            problems.Add(new($"Pool name '{p.Name}' is not allowed; use letters, digits and _ . + : - (at most 200), not starting with a dot or dash."));
        if (p.TargetPath.Length == 0) problems.Add(new("A dir pool needs <target><path>/some/dir</path></target>."));
        else if (!Path.IsPathFullyQualified(p.TargetPath)) problems.Add(new($"Pool path '{p.TargetPath}' must be absolute."));
        else
        {
            p.TargetPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(p.TargetPath));
            foreach (var o in others.Where(o => o.Name != p.Name))
            {
                if (o.TargetPath == p.TargetPath)
                    problems.Add(new($"Pool '{o.Name}' already uses {p.TargetPath}; one directory is one pool."));
                else if (Inside(p.TargetPath, o.TargetPath) || Inside(o.TargetPath, p.TargetPath))
                    problems.Add(new($"Pool path {p.TargetPath} and pool '{o.Name}' ({o.TargetPath}) contain one another; a volume would belong to both."));
            }
        }
        if (problems.Count > 0) throw new DefinitionException(problems);
        return p;
    }

    public static bool Inside(string path, string dir) =>
        path.StartsWith(dir.EndsWith('/') ? dir : dir + "/", StringComparison.Ordinal);

    /// <summary>A volume name is a file name in the pool: no '/', not '.' or '..'.</summary>
    public static string? VolumeNameProblem(string name) =>
        name.Length == 0 ? "A volume needs a name."
        : name.Contains('/') ? $"Volume name '{name}' contains '/'; a volume is a file directly in its pool."
        : name.Length > 255 || !VolumeNamePattern().IsMatch(name) ? $"Volume name '{name}' is not allowed; use letters, digits and _ . + : - (at most 255), not starting with a dot or dash."
        : null;
}
