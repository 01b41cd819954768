using System.Text;

namespace Vireo.Cli;

/// <summary>virsh's table layout: a leading space, columns three spaces apart, a dashed rule.</summary>
public static class Table
{
    public static string Render(string[] headers, IEnumerable<string[]> rows)
    {
        var data = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, data.Count == 0 ? 0 : data.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        string Line(string[] cells) => (" " + string.Join("   ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i])))).TrimEnd();
        var head = Line(headers);
        sb.Append(head).Append('\n');
        sb.Append(new string('-', widths.Sum() + 3 * (widths.Length - 1) + 2)).Append('\n');
        foreach (var r in data) sb.Append(Line(r)).Append('\n');
        sb.Append('\n');
        return sb.ToString();
    }

    /// <summary>"Key:           value" lines as virsh dominfo prints them.</summary>
    public static string Pairs(IEnumerable<(string Key, string Value)> pairs) =>
        string.Concat(pairs.Select(p => $"{p.Key + ":",-16}{p.Value}\n")) + "\n";
}
