using System.Xml;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>One thing wrong with a definition: what, where (line when known) and how to fix it.</summary>
public sealed record Problem(string Message, int Line = 0)
{
    public override string ToString() => Line > 0 ? $"line {Line}: {Message}" : Message;
}

/// <summary>A definition was rejected. Carries every problem found, not just the first.</summary>
public sealed class DefinitionException : Exception
{
    public IReadOnlyList<Problem> Problems { get; }

    public DefinitionException(IReadOnlyList<Problem> problems)
        : base(problems.Count == 1 ? problems[0].ToString() : string.Join("; ", problems))
    {
        Problems = problems;
    }

    public DefinitionException(string message, int line = 0) : this([new Problem(message, line)]) { }
}

/// <summary>Collects problems while a document is read or validated.</summary>
public sealed class ProblemList
{
    private readonly List<Problem> _items = [];
    public bool Any => _items.Count > 0;
    public IReadOnlyList<Problem> Items => _items;

    public void Add(string message, XObject? at = null) => _items.Add(new Problem(message, LineOf(at)));

    public void ThrowIfAny()
    {
        if (_items.Count > 0) throw new DefinitionException(_items.ToList());
    }

    public static int LineOf(XObject? o) => o is IXmlLineInfo li && li.HasLineInfo() ? li.LineNumber : 0;
}
