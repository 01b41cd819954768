using System.Xml;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>
/// Every XML document a client or a file hands Vireo is read through here: no DTDs (no entity
/// expansion), at most <see cref="MaxChars"/> characters and <see cref="MaxDepth"/> levels of
/// nesting — libxml2's own default depth limit, so what libvirt reads Vireo reads. Without the
/// limits a small document of deeply nested elements took gigabytes to hold and to write back.
/// </summary>
public static class XmlLimits
{
    public const int MaxChars = 4 * 1024 * 1024;
    public const int MaxDepth = 256;

    private static readonly XmlReaderSettings Settings = new()
    {
        DtdProcessing = DtdProcessing.Prohibit,
        XmlResolver = null,
        MaxCharactersInDocument = MaxChars,
        IgnoreComments = false,
    };

    /// <summary>The document's root element with line numbers; too big, too deep or malformed XML becomes a <see cref="DefinitionException"/> with its line.</summary>
    public static XElement Parse(string xml, string what = "The XML")
    {
        if (xml.Length > MaxChars)
            throw new DefinitionException($"{what} is {xml.Length:N0} characters long; the limit is {MaxChars:N0} (4 MiB). Remove what it does not need (large <metadata>).", 0);
        try
        {
            // A first pass counts depth before any tree is built (XDocument has no depth limit of its own).
            using (var r = XmlReader.Create(new StringReader(xml), Settings))
            {
                while (r.Read())
                    if (r.Depth >= MaxDepth)
                        throw new DefinitionException($"{what} nests elements more than {MaxDepth} levels deep (at <{r.LocalName}>); flatten it.", ((IXmlLineInfo)r).LineNumber);
            }
            using var reader = XmlReader.Create(new StringReader(xml), Settings);
            return XDocument.Load(reader, LoadOptions.SetLineInfo).Root!;
        }
        catch (XmlException e)
        {
            throw new DefinitionException($"{what} is not well-formed: {e.Message}", e.LineNumber);
        }
    }
}
