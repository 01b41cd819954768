using System.Globalization;
using System.Xml.Linq;
using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>
/// What a running domain leaves in the run dir so a restarted daemon can adopt it: pid, its start
/// time (so a reused pid is not mistaken for QEMU), domain id, state, and the live definition.
/// </summary>
public sealed record Status(int Pid, long StartTime, int Id, DomainState State, string Reason, bool Persistent, string LiveXml)
{
    public void Save(string path)
    {
        var root = new XElement("domstatus",
            new XAttribute("state", StateText.Of(State)), new XAttribute("reason", Reason),
            new XAttribute("pid", Pid), new XAttribute("starttime", StartTime), new XAttribute("id", Id),
            new XAttribute("persistent", Persistent ? "yes" : "no"),
            XElement.Parse(LiveXml));
        AtomicFile.Write(path, DomainXml.ToText(root));
    }

    public static Status? Load(string path) => TryLoad(path, out var st, out _) ? st : null;

    /// <summary>False with the reason when the file cannot be read or is not a whole status file.</summary>
    public static bool TryLoad(string path, out Status? status, out string? error)
    {
        status = null;
        error = null;
        try
        {
            var root = XElement.Parse(File.ReadAllText(path));
            status = new Status(
                int.Parse(root.Attribute("pid")!.Value, CultureInfo.InvariantCulture),
                long.Parse(root.Attribute("starttime")!.Value, CultureInfo.InvariantCulture),
                int.Parse(root.Attribute("id")!.Value, CultureInfo.InvariantCulture),
                StateText.Parse(root.Attribute("state")!.Value),
                root.Attribute("reason")?.Value ?? "unknown",
                root.Attribute("persistent")?.Value != "no",
                root.Element("domain")!.ToString());
            return true;
        }
        catch (Exception e) when (e is IOException or System.Xml.XmlException or NullReferenceException or FormatException or OverflowException)
        {
            error = e is NullReferenceException ? "an attribute or the <domain> element is missing" : e.Message;
            return false;
        }
    }
}
