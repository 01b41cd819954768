using System.Globalization;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>A libvirt &lt;domainsnapshot&gt;: one point a domain can be reverted to.</summary>
public sealed class SnapshotDef
{
    public string Name { get; set; } = "";
    public string? Description { get; set; }
    /// <summary>The domain's state when taken: running | paused | shutoff | disk-snapshot (external, disks only).</summary>
    public string State { get; set; } = "shutoff";
    public string? Parent { get; set; }
    public long CreationTime { get; set; }
    /// <summary>internal (memory saved in the qcow2 disks) | no.</summary>
    public string Memory { get; set; } = "no";
    public List<SnapshotDiskDef> Disks { get; set; } = [];
    /// <summary>The domain definition at the time (what revert goes back to).</summary>
    public DomainDef? Domain { get; set; }

    public bool IsExternal => Disks.Any(d => d.Snapshot == "external");
}

public sealed class SnapshotDiskDef
{
    public string Name { get; set; } = "";              // the disk's target (vda)
    public string Snapshot { get; set; } = "internal";  // internal | external | no
    /// <summary>external: the overlay made by this snapshot, which took the disk's new writes.</summary>
    public string? SourceFile { get; set; }
    public string? DriverType { get; set; }
}

public static class SnapshotXml
{
    public static string Write(SnapshotDef s, bool current = false)
    {
        var root = new XElement("domainsnapshot",
            new XElement("name", s.Name),
            s.Description is null ? null : new XElement("description", s.Description),
            new XElement("state", s.State),
            s.Parent is null ? null : new XElement("parent", new XElement("name", s.Parent)),
            new XElement("creationTime", s.CreationTime.ToString(CultureInfo.InvariantCulture)),
            new XElement("memory", new XAttribute("snapshot", s.Memory)),
            new XElement("disks", s.Disks.Select(d => new XElement("disk", new XAttribute("name", d.Name), new XAttribute("snapshot", d.Snapshot),
                d.Snapshot == "external" ? new XAttribute("type", "file") : null,
                d.DriverType is null ? null : new XElement("driver", new XAttribute("type", d.DriverType)),
                d.SourceFile is null ? null : new XElement("source", new XAttribute("file", d.SourceFile))))),
            current ? new XElement("active", "1") : null);
        if (s.Domain is not null) root.Add(XElement.Parse(DomainXml.Write(s.Domain)));
        return DomainXml.ToText(root);
    }

    /// <summary>Reads a snapshot: a stored one (with its domain), or what snapshot-create takes from the user.</summary>
    public static SnapshotDef Parse(string xml)
    {
        var root = XmlReading.Load(xml, "domainsnapshot", "snapshot-create takes a <domainsnapshot> document");
        var r = new Reader();
        var s = r.Snapshot(root);
        r.Problems.ThrowIfAny();
        return s;
    }

    private sealed class Reader : XmlReading
    {
        public SnapshotDef Snapshot(XElement root)
        {
            var s = new SnapshotDef();
            foreach (var e in root.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "name": s.Name = e.Value.Trim(); break;
                    case "description": s.Description = e.Value; break;
                    case "state": s.State = e.Value.Trim(); break;
                    case "parent": s.Parent = e.Element("name")?.Value.Trim(); break;
                    case "creationTime":
                        if (long.TryParse(e.Value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var t)) s.CreationTime = t;
                        break;
                    case "memory": s.Memory = OneOf(e, "snapshot", "no", "internal") ?? "no"; break;
                    case "disks":
                        foreach (var d in e.Elements("disk"))
                        {
                            s.Disks.Add(new SnapshotDiskDef
                            {
                                Name = A(d, "name") ?? "",
                                Snapshot = OneOf(d, "snapshot", "internal", "external", "no") ?? "internal",
                                SourceFile = A(d.Element("source"), "file"),
                                DriverType = A(d.Element("driver"), "type"),
                            });
                        }
                        break;
                    case "domain": s.Domain = DomainXml.Parse(e.ToString()); break;
                    case "active" or "cookie": break;
                    default: Unsupported(e, "domainsnapshot"); break;
                }
            }
            return s;
        }
    }
}
