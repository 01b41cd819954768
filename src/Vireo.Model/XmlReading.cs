using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>
/// What every libvirt document reader shares: attribute access, numbers, enumerations and
/// problems collected with their lines instead of thrown one at a time.
/// </summary>
internal abstract class XmlReading
{
    public ProblemList Problems { get; } = new();

    /// <summary>Parses text into a document with line numbers; malformed XML becomes one problem with its line.</summary>
    public static XElement Load(string xml, string expectedRoot, string otherwise)
    {
        var root = Parse(xml);
        if (root.Name.LocalName != expectedRoot)
            throw new DefinitionException($"Expected a <{expectedRoot}> document, found <{root.Name.LocalName}>; {otherwise}.", ProblemList.LineOf(root));
        return root;
    }

    /// <summary>The document's root element, with line numbers; malformed XML becomes one problem with its line.</summary>
    public static XElement Parse(string xml) => XmlLimits.Parse(xml);

    protected void Unsupported(XElement e, string parent) =>
        Problems.Add($"Unsupported element <{e.Name.LocalName}> in <{parent}>; remove it or see the list of supported elements in ARCHITECTURE.md.", e);

    protected void BadValue(XObject at, string what, string? value, string allowed) =>
        Problems.Add($"Unsupported {what} '{value}'; expected {allowed}.", at);

    protected static string? A(XElement? e, string name) => e?.Attribute(name)?.Value;

    protected int? Int(XElement e, string attr)
    {
        var v = A(e, attr);
        if (v is null) return null;
        if (int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)) return i;
        if (v.StartsWith("0x") && int.TryParse(v[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out i)) return i;
        Problems.Add($"Attribute {attr}='{v}' of <{e.Name.LocalName}> is not a number.", e);
        return null;
    }

    protected string? OneOf(XElement e, string attr, params string[] allowed)
    {
        var v = A(e, attr);
        if (v is not null && !allowed.Contains(v))
            BadValue(e.Attribute(attr)!, $"{attr} of <{e.Name.LocalName}>", v, string.Join(", ", allowed.Select(a => $"'{a}'")));
        return v;
    }

    /// <summary>An attribute the element cannot do without: one of the allowed values; missing is a problem that names them.</summary>
    protected string Needed(XElement e, string attr, params string[] allowed)
    {
        if (e.Attribute(attr) is null)
        {
            Problems.Add($"<{e.Name.LocalName}> needs {attr}=: {string.Join(", ", allowed.Select(a => $"'{a}'"))}.", e);
            return "";
        }
        return OneOf(e, attr, allowed) ?? "";
    }

    protected static bool YesNo(string? v) => v is "yes" or "on";

    protected Guid? Uuid(XElement e)
    {
        if (Guid.TryParse(e.Value.Trim(), out var g)) return g;
        Problems.Add($"Malformed uuid '{e.Value.Trim()}'.", e);
        return null;
    }

    protected string? Mac(XElement c)
    {
        var mac = MacAddress.Normalize(A(c, "address") ?? A(c, "mac") ?? "");
        if (mac is null) Problems.Add($"Malformed MAC address '{A(c, "address") ?? A(c, "mac")}'; write it as 52:54:00:xx:xx:xx.", c);
        else if (MacAddress.IsMulticast(mac)) Problems.Add($"MAC address '{mac}' is a multicast address; the first octet must be even.", c);
        return mac;
    }
}
